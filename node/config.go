package node

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/node/internal/frame"
	"github.com/grovedev/grove/node/internal/handshake"
	"github.com/grovedev/grove/transport"
)

// Config describes a node. Name and one of Cookie or TLS are required;
// every other field has a default.
type Config struct {
	// Name is the node's name, "name@host". PIDs carry it.
	Name string
	// Listen is the address to accept connections on, "host:port"; empty
	// means the node only dials out.
	Listen string
	// Advertise is the address other nodes should dial; default the
	// address Listen bound.
	Advertise string
	// Cookie is the cluster's shared secret, proved with an HMAC challenge
	// and never sent. Required unless TLS is set.
	Cookie []byte
	// TLS turns on TLS 1.3 with mutual certificates.
	TLS *TLSConfig
	// Unencrypted turns off the encryption of cookie-mode links (keys
	// derived in the handshake, AES-256-GCM), leaving them authenticated
	// only, as Erlang's distribution is. Both nodes must agree. It exists
	// to measure what encryption costs; leave it false.
	Unencrypted bool
	// Transport opens connections; default real TCP.
	Transport transport.Transport
	// Codec encodes messages; default a registry with default limits.
	// Register your message types in it on every node.
	Codec *codec.Registry
	// Frame holds the decode limits and batching of node links.
	Frame frame.Config
	// MaxRemoteQueued bounds the bytes of messages from other nodes that
	// wait in this node's mailboxes (encoded size plus 64 bytes each): a
	// link whose delivery passes it is paused, its peer holding back plain
	// sends until the bytes fall to half of it. Default 64 MiB.
	MaxRemoteQueued int
	// MaxReassembly bounds the bytes all links together hold for large
	// messages whose fragments are still arriving (each link is bounded by
	// Frame.MaxReassembly too); a link that would pass it is cut. Memory
	// is taken as fragments arrive, not when a message is announced.
	// Default 512 MiB.
	MaxReassembly int
	// Heartbeat is how often an idle link sends a tick; a link that hears
	// nothing for HeartbeatTimeout is declared dead. Defaults 500 ms and
	// 3 s (six heartbeats), which rides out pauses of a busy or collecting
	// process; lower both for faster detection.
	Heartbeat, HeartbeatTimeout time.Duration
	// ConnectTimeout bounds one connection attempt, dial and handshake.
	// Default 2 s.
	ConnectTimeout time.Duration
	// HandshakeTimeout bounds an accepted connection's handshake, counted
	// from accept: a connection that has not authenticated by then is
	// closed. Default ConnectTimeout.
	HandshakeTimeout time.Duration
	// MaxPendingHandshakes bounds the accepted connections that have not
	// authenticated yet; more are closed at once, without a goroutine.
	// When it is reached, a connection from an address holding fewer
	// handshakes than the busiest address evicts that address's oldest.
	// Default 256.
	MaxPendingHandshakes int
	// MaxPendingPerAddr bounds those connections per remote IPv4 address
	// or IPv6 /64 network (one subscriber commonly holds a whole /64).
	// Default 16.
	MaxPendingPerAddr int
	// ReconnectMin and ReconnectMax bound the backoff between attempts to
	// reach a node that was connected with Connect; each wait is jittered.
	// Defaults 100 ms and 5 s.
	ReconnectMin, ReconnectMax time.Duration
	// Logger receives refusals and link failures. Default the runtime's.
	Logger *slog.Logger
}

// TLSConfig holds a node's certificate and the CAs it trusts for peers. The
// certificate's leaf must name the node with the URI SAN "grove:<node name>"
// and allow both server and client authentication; a peer whose certificate
// does not name the node it claims to be is refused.
type TLSConfig struct {
	Certificate tls.Certificate
	Roots       *x509.CertPool
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	if err := handshake.ValidName(c.Name); err != nil {
		return fmt.Errorf("node: name: %w", err)
	}
	if len(c.Cookie) == 0 && c.TLS == nil {
		return errors.New("node: a cookie or a TLS configuration is required")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Heartbeat", c.Heartbeat}, {"HeartbeatTimeout", c.HeartbeatTimeout}, {"ConnectTimeout", c.ConnectTimeout},
		{"HandshakeTimeout", c.HandshakeTimeout},
		{"ReconnectMin", c.ReconnectMin}, {"ReconnectMax", c.ReconnectMax}} {
		if d.v < 0 {
			return fmt.Errorf("node: %s %v is negative", d.name, d.v)
		}
	}
	if c.MaxPendingHandshakes < 0 || c.MaxPendingPerAddr < 0 || c.MaxReassembly < 0 || c.MaxRemoteQueued < 0 {
		return errors.New("node: negative MaxPendingHandshakes, MaxPendingPerAddr or MaxReassembly")
	}
	if c.Heartbeat > 0 && c.HeartbeatTimeout > 0 && c.HeartbeatTimeout <= c.Heartbeat {
		return fmt.Errorf("node: HeartbeatTimeout %v must exceed Heartbeat %v", c.HeartbeatTimeout, c.Heartbeat)
	}
	return c.Frame.Validate()
}

func (c Config) withDefaults() (Config, error) {
	if c.Transport == nil {
		c.Transport = transport.NewTCP(transport.TCPConfig{})
	}
	if c.Codec == nil {
		r, err := codec.NewRegistry(codec.Config{})
		if err != nil {
			return c, err
		}
		c.Codec = r
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 500 * time.Millisecond
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = 6 * c.Heartbeat
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 2 * time.Second
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = c.ConnectTimeout
	}
	if c.MaxPendingHandshakes == 0 {
		c.MaxPendingHandshakes = 256
	}
	if c.MaxPendingPerAddr == 0 {
		c.MaxPendingPerAddr = 16
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = 100 * time.Millisecond
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = 5 * time.Second
	}
	if c.Frame.ChunkSize == 0 && c.Frame.MaxFrameSize == 0 {
		// A 64 KiB payload plus its header fits one frame: messages up to
		// that size are never fragmented.
		c.Frame.ChunkSize, c.Frame.MaxFrameSize = 64<<10+512, 64<<10+512
	}
	if c.MaxRemoteQueued == 0 {
		c.MaxRemoteQueued = 64 << 20
	}
	if c.MaxReassembly == 0 {
		c.MaxReassembly = 512 << 20
	}
	c.Frame.Budget = frame.NewBudget(c.MaxReassembly)
	c.Frame.TickInterval = c.Heartbeat
	c.Frame.ReadTimeout = c.HeartbeatTimeout
	if c.Frame.WriteTimeout == 0 {
		// A write stuck this long means the peer stopped reading.
		c.Frame.WriteTimeout = 2 * c.HeartbeatTimeout
	}
	return c, nil
}

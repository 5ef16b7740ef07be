package cluster

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"time"

	"github.com/grovedev/grove/transport"
)

// Config tunes a cluster member. Zero fields take the value of
// DefaultLANConfig, so Config{Bind: "10.0.0.5:7946"} is a complete
// configuration; the presets are starting points for other networks.
type Config struct {
	// Bind is the gossip address to listen on, "host:port" on the
	// Transport. Required.
	Bind string
	// Advertise is the gossip address other members use, "ip:port" with a
	// literal IP (memberlist identifies members by IP and port). Default
	// the address Bind bound, which must then be a literal, specified IP.
	Advertise string
	// Transport carries all gossip, packets and streams alike. Default a
	// TCP transport owned (and closed) by the cluster. Pass the node's
	// transport, or a memnet endpoint in tests, so that faults injected
	// there cut gossip too.
	Transport transport.Transport
	// Seeds are gossip addresses ("ip:port" or "host:port") of members to
	// join at start. Unreachable seeds are retried every RejoinInterval
	// until another member is known.
	Seeds []string
	// Meta describes this member; UpdateMeta changes it later.
	Meta Meta
	// SecretKey, when set, also encrypts and authenticates every gossip
	// packet and stream with memberlist's own AES-GCM; it must be 16, 24
	// or 32 bytes (KeyFromSecret derives one from a secret) and the same on
	// every member. Rarely needed: gossip connections are authenticated by
	// the node's own handshake in any case (its certificates or cookie) and
	// protected as node links are (TLS, or the cookie's session
	// encryption). Never derive it from something public, such as a CA
	// certificate: it is no credential.
	SecretKey []byte

	// AuthTimeout bounds the handshake of a gossip connection, in
	// addition to the node's ConnectTimeout. Default 2 s.
	AuthTimeout time.Duration
	// MaxPendingConns bounds the accepted gossip connections that have
	// not authenticated yet, and MaxPendingPerHost those of one host: a
	// host over its share is refused at once; when all are taken the
	// oldest of the host holding the most is closed. Defaults 256 and 16.
	MaxPendingConns, MaxPendingPerHost int

	// ProbeInterval is how often a member probes another at random; a
	// probe not answered within ProbeTimeout (directly, then through
	// IndirectChecks other members) makes the target suspect.
	ProbeInterval, ProbeTimeout time.Duration
	// IndirectChecks is how many members probe on this one's behalf.
	IndirectChecks int
	// SuspicionMult scales how long a suspect has to refute before it is
	// declared dead: SuspicionMult × max(1, log10(members)) ×
	// ProbeInterval, up to SuspicionMaxTimeoutMult times longer when few
	// others confirm the suspicion.
	SuspicionMult, SuspicionMaxTimeoutMult int
	// GossipInterval and GossipNodes: every GossipInterval, news is sent
	// to GossipNodes members, each piece RetransmitMult × log10(members+1)
	// times.
	GossipInterval time.Duration
	GossipNodes    int
	RetransmitMult int
	// PushPullInterval is how often a full state exchange (anti-entropy)
	// runs with a random member.
	PushPullInterval time.Duration
	// GossipToTheDeadTime is how long dead members still receive gossip,
	// which lets them refute after a partition heals.
	GossipToTheDeadTime time.Duration
	// StreamTimeout bounds dialing and using a stream (push/pull, fallback
	// probes) and dialing a packet connection.
	StreamTimeout time.Duration
	// MaxPacketSize bounds one gossip packet.
	MaxPacketSize int

	// RejoinInterval is how often the member tries to join the seeds while
	// it knows no other member, and one dead member at random to heal a
	// partition that outlasted GossipToTheDeadTime.
	RejoinInterval time.Duration
	// DeadVoteTimeout is how long a dead member keeps counting toward
	// quorum (HasQuorum, Voters) once declared dead: after it, it stops
	// counting, but only at a moment this node holds a quorum, so that the
	// smaller side of a partition never becomes a majority by waiting.
	// It votes again when it comes back.
	DeadVoteTimeout time.Duration
	// ReapDeadAfter is how long a dead member that lost its vote stays
	// known (listed, retried by rejoin) before it is forgotten; a dead
	// member that still votes is never forgotten, only by Forget.
	// ReapLeftAfter is how long members that left stay listed.
	ReapDeadAfter, ReapLeftAfter time.Duration
	// ConnectTimeout bounds one attempt to connect the node to a member.
	ConnectTimeout time.Duration
	// DisableAutoConnect leaves node links alone: members are neither
	// connected nor disconnected, and none is ever suspect.
	DisableAutoConnect bool
	// Logger receives membership logs (memberlist's included). Default the
	// node runtime's logger.
	Logger *slog.Logger
}

// DefaultLANConfig returns the defaults, tuned for a data centre network
// (memberlist's DefaultLANConfig): probe every 1 s with a 500 ms timeout,
// suspicion of 4 × max(1, log10 n) probe intervals, gossip every 200 ms.
func DefaultLANConfig() Config {
	return Config{
		ProbeInterval:           time.Second,
		ProbeTimeout:            500 * time.Millisecond,
		IndirectChecks:          3,
		SuspicionMult:           4,
		SuspicionMaxTimeoutMult: 6,
		GossipInterval:          200 * time.Millisecond,
		GossipNodes:             3,
		RetransmitMult:          4,
		PushPullInterval:        30 * time.Second,
		GossipToTheDeadTime:     30 * time.Second,
		StreamTimeout:           10 * time.Second,
		MaxPacketSize:           1400,
		RejoinInterval:          10 * time.Second,
		DeadVoteTimeout:         5 * time.Minute,
		ReapDeadAfter:           24 * time.Hour,
		ReapLeftAfter:           5 * time.Minute,
		ConnectTimeout:          2 * time.Second,
		AuthTimeout:             2 * time.Second,
		MaxPendingConns:         256,
		MaxPendingPerHost:       16,
	}
}

// DefaultWANConfig returns a configuration for members spread over regions
// (memberlist's DefaultWANConfig): slower probes (5 s, 3 s timeout), longer
// suspicion, more patient streams.
func DefaultWANConfig() Config {
	c := DefaultLANConfig()
	c.ProbeInterval = 5 * time.Second
	c.ProbeTimeout = 3 * time.Second
	c.SuspicionMult = 6
	c.GossipInterval = 500 * time.Millisecond
	c.GossipNodes = 4
	c.PushPullInterval = 60 * time.Second
	c.GossipToTheDeadTime = 60 * time.Second
	c.StreamTimeout = 30 * time.Second
	c.RejoinInterval = 30 * time.Second
	c.ConnectTimeout = 5 * time.Second
	return c
}

// DefaultLocalConfig returns a configuration for members on one host or a
// fast local network (memberlist's DefaultLocalConfig): 200 ms probe
// timeout, suspicion of 3 probe intervals, gossip every 100 ms.
func DefaultLocalConfig() Config {
	c := DefaultLANConfig()
	c.ProbeTimeout = 200 * time.Millisecond
	c.IndirectChecks = 1
	c.SuspicionMult = 3
	c.GossipInterval = 100 * time.Millisecond
	c.RetransmitMult = 2
	c.PushPullInterval = 15 * time.Second
	c.GossipToTheDeadTime = 15 * time.Second
	c.StreamTimeout = time.Second
	c.RejoinInterval = time.Second
	return c
}

// KeyFromSecret derives a 32-byte SecretKey from a secret of any length,
// such as the nodes' cookie, with SHA-256 under a fixed label.
func KeyFromSecret(secret []byte) []byte {
	h := sha256.New()
	h.Write([]byte("grove cluster gossip key v1\x00"))
	h.Write(secret)
	return h.Sum(nil)
}

// withDefaults fills zero fields from DefaultLANConfig.
func (c Config) withDefaults() Config {
	d := DefaultLANConfig()
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur(&c.ProbeInterval, d.ProbeInterval)
	setDur(&c.ProbeTimeout, d.ProbeTimeout)
	setInt(&c.IndirectChecks, d.IndirectChecks)
	setInt(&c.SuspicionMult, d.SuspicionMult)
	setInt(&c.SuspicionMaxTimeoutMult, d.SuspicionMaxTimeoutMult)
	setDur(&c.GossipInterval, d.GossipInterval)
	setInt(&c.GossipNodes, d.GossipNodes)
	setInt(&c.RetransmitMult, d.RetransmitMult)
	setDur(&c.PushPullInterval, d.PushPullInterval)
	setDur(&c.GossipToTheDeadTime, d.GossipToTheDeadTime)
	setDur(&c.StreamTimeout, d.StreamTimeout)
	setInt(&c.MaxPacketSize, d.MaxPacketSize)
	setDur(&c.RejoinInterval, d.RejoinInterval)
	setDur(&c.DeadVoteTimeout, d.DeadVoteTimeout)
	setDur(&c.AuthTimeout, d.AuthTimeout)
	setInt(&c.MaxPendingConns, d.MaxPendingConns)
	setInt(&c.MaxPendingPerHost, d.MaxPendingPerHost)
	setDur(&c.ReapDeadAfter, d.ReapDeadAfter)
	setDur(&c.ReapLeftAfter, d.ReapLeftAfter)
	setDur(&c.ConnectTimeout, d.ConnectTimeout)
	return c
}

// Validate reports a configuration that cannot work, checking it as Start
// will use it: zero fields replaced by their defaults.
func (c *Config) Validate() error {
	if err := c.validateRaw(); err != nil {
		return err
	}
	d := c.withDefaults()
	return d.validateRaw()
}

func (c *Config) validateRaw() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	if c.Bind == "" {
		return bad("Bind is required")
	}
	switch len(c.SecretKey) {
	case 0, 16, 24, 32:
	default:
		return bad("SecretKey must be 16, 24 or 32 bytes, not %d", len(c.SecretKey))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ProbeInterval", c.ProbeInterval}, {"ProbeTimeout", c.ProbeTimeout}, {"GossipInterval", c.GossipInterval},
		{"PushPullInterval", c.PushPullInterval}, {"GossipToTheDeadTime", c.GossipToTheDeadTime},
		{"StreamTimeout", c.StreamTimeout}, {"RejoinInterval", c.RejoinInterval},
		{"ReapDeadAfter", c.ReapDeadAfter}, {"ReapLeftAfter", c.ReapLeftAfter}, {"ConnectTimeout", c.ConnectTimeout},
		{"DeadVoteTimeout", c.DeadVoteTimeout}, {"AuthTimeout", c.AuthTimeout},
	} {
		if d.v < 0 {
			return bad("%s is negative", d.name)
		}
	}
	for _, i := range []struct {
		name string
		v    int
	}{
		{"IndirectChecks", c.IndirectChecks}, {"SuspicionMult", c.SuspicionMult},
		{"SuspicionMaxTimeoutMult", c.SuspicionMaxTimeoutMult}, {"GossipNodes", c.GossipNodes},
		{"RetransmitMult", c.RetransmitMult}, {"MaxPacketSize", c.MaxPacketSize},
		{"MaxPendingConns", c.MaxPendingConns}, {"MaxPendingPerHost", c.MaxPendingPerHost},
	} {
		if i.v < 0 {
			return bad("%s is negative", i.name)
		}
	}
	if c.ProbeTimeout > 0 && c.ProbeInterval > 0 && c.ProbeTimeout >= c.ProbeInterval {
		return bad("ProbeTimeout %v must be shorter than ProbeInterval %v", c.ProbeTimeout, c.ProbeInterval)
	}
	if c.MaxPacketSize > 0 && c.MaxPacketSize < 512 {
		return bad("MaxPacketSize %d is below 512", c.MaxPacketSize)
	}
	if c.SuspicionMult == 1 {
		return bad("SuspicionMult must be at least 2")
	}
	if _, err := (wireMeta{Meta: c.Meta, Addr: "255.255.255.255:65535", Creation: 1 << 63, Incarnation: 1 << 63}).encode(); err != nil {
		return bad("%v", err)
	}
	return nil
}

package node

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"

	"github.com/grovedev/grove/node/internal/handshake"
)

// Protocols that run beside node links on their own connections, such as
// the membership protocol's gossip (package cluster), authenticate every
// connection with the node's own credentials: the same handshake as a node
// link, before any byte of the protocol is read. With TLS the peer presents
// a certificate signed by a trusted CA that names the node it claims to be;
// with a cookie both sides prove they know it. The cookie proof is keyed by
// a secret derived from the cookie and the protocol's name, so that a
// connection of one protocol can never be taken for one of another (or for
// a node link).

// AuthConn is a connection of a side protocol whose peer passed the node's
// handshake.
type AuthConn struct {
	// Conn is the connection to use from now on: the TLS connection with
	// TLS on, the encrypted one with a cookie. Its deadlines are cleared.
	net.Conn
	// Peer is the node name the peer proved (its certificate names it
	// with TLS on).
	Peer string
	// Creation is the peer's incarnation.
	Creation uint64
}

// Errors of AuthenticateInbound and AuthenticateOutbound, checked with
// errors.Is; each wraps the detail.
var (
	// ErrAuthRefused: this node refused the peer, which proved no
	// credentials (wrong cookie, untrusted certificate, a name its
	// certificate does not carry, not the node expected) or sent
	// something that is not a handshake.
	ErrAuthRefused = errors.New("node: authentication refused")
	// ErrAuthRejected: the peer refused this node, or hung up during the
	// handshake.
	ErrAuthRejected = errors.New("node: authentication rejected by peer")
	// ErrAuthTimeout: the handshake did not complete in time
	// (Config.ConnectTimeout, or ctx's deadline if sooner).
	ErrAuthTimeout = errors.New("node: authentication timed out")
)

// AuthenticateInbound runs the accepting side of the node's handshake on
// conn, an accepted connection of the side protocol called protocol. It
// reads at most a few hundred bytes (a TLS handshake's records with TLS on)
// and returns within Config.ConnectTimeout or ctx's deadline. On error the
// caller closes conn.
func (n *Node) AuthenticateInbound(ctx context.Context, conn net.Conn, protocol string) (*AuthConn, error) {
	hp, err := handshake.Server(ctx, conn, n.sideConfig(protocol))
	if err != nil {
		return nil, authErr(err)
	}
	return &AuthConn{Conn: hp.Conn, Peer: hp.Name, Creation: hp.Creation}, nil
}

// AuthenticateOutbound runs the dialing side of the node's handshake on
// conn, a connection of the side protocol called protocol. If expect is
// not empty the peer must prove that it is the node of that name. On error
// the caller closes conn.
func (n *Node) AuthenticateOutbound(ctx context.Context, conn net.Conn, protocol, expect string) (*AuthConn, error) {
	hp, err := handshake.Client(ctx, conn, n.sideConfig(protocol), expect)
	if err != nil {
		return nil, authErr(err)
	}
	return &AuthConn{Conn: hp.Conn, Peer: hp.Name, Creation: hp.Creation}, nil
}

// sideConfig is the node's handshake configuration with the cookie
// replaced by one derived for protocol.
func (n *Node) sideConfig(protocol string) *handshake.Config {
	hs := *n.hs
	hs.IsDuplicate = nil
	if len(hs.Secret) > 0 {
		m := hmac.New(sha256.New, hs.Secret)
		m.Write([]byte("grove side protocol v1\x00"))
		m.Write([]byte(protocol))
		hs.Secret = m.Sum(nil)
	}
	return &hs
}

func authErr(err error) error {
	var re *handshake.RefusedError
	switch {
	case errors.As(err, &re):
		return fmt.Errorf("%w: %w", ErrAuthRefused, err)
	case errors.Is(err, handshake.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrAuthTimeout, err)
	case errors.Is(err, handshake.ErrRefused), errors.Is(err, handshake.ErrHungUp):
		return fmt.Errorf("%w: %w", ErrAuthRejected, err)
	case errors.Is(err, context.Canceled):
		return err
	}
	// Anything else is a peer that does not speak the handshake (a TLS
	// record that is not one, a reset in the middle).
	return fmt.Errorf("%w: %w", ErrAuthRefused, err)
}

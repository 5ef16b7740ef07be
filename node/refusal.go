package node

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/grovedev/grove/node/internal/handshake"
)

// refusal is the kind of a connection that did not become a link, as
// counted in Stats.Refusals and the handshakes_refused_total metric.
type refusal uint8

const (
	refusedOther      refusal = iota // anything not below
	refusedTimeout                   // no complete handshake within HandshakeTimeout: an idle connection
	refusedHangUp                    // the dialer closed before the handshake completed
	refusedGarbage                   // bytes that are not Grove's handshake: a port scan or another protocol
	refusedBadCookie                 // a wrong or missing cookie proof
	refusedBadCert                   // a certificate that does not verify
	refusedWrongName                 // a name not in the certificate, or not the node dialled
	refusedVersion                   // another protocol version
	refusedDuplicate                 // a link to that node is already up or opening
	refusedByPeer                    // the peer refused this node's dial
	refusedLimitAddr                 // over MaxPendingPerAddr
	refusedLimitTotal                // over MaxPendingHandshakes
	refusedEvicted                   // dropped to admit a connection from a less busy address
	numRefusals
)

var refusalNames = [numRefusals]string{
	refusedOther:      "other",
	refusedTimeout:    "timeout",
	refusedHangUp:     "hangup",
	refusedGarbage:    "garbage",
	refusedBadCookie:  "bad_cookie",
	refusedBadCert:    "bad_certificate",
	refusedWrongName:  "wrong_name",
	refusedVersion:    "version",
	refusedDuplicate:  "duplicate",
	refusedByPeer:     "refused_by_peer",
	refusedLimitAddr:  "limit_per_address",
	refusedLimitTotal: "limit_total",
	refusedEvicted:    "evicted",
}

func (r refusal) String() string { return refusalNames[r] }

// RefusalKinds lists the kinds Stats.Refusals counts, in a fixed order.
func RefusalKinds() []string { return append([]string(nil), refusalNames[:]...) }

// classify names the kind of a failed handshake.
func classify(err error) refusal {
	switch {
	case errors.Is(err, handshake.ErrBadSecret):
		return refusedBadCookie
	case errors.Is(err, handshake.ErrUntrustedCert):
		return refusedBadCert
	case errors.Is(err, handshake.ErrNameMismatch):
		return refusedWrongName
	case errors.Is(err, handshake.ErrVersionMismatch):
		return refusedVersion
	case errors.Is(err, handshake.ErrDuplicateName), errors.Is(err, handshake.ErrPeerHasLink):
		return refusedDuplicate
	case errors.Is(err, handshake.ErrProtocol):
		return refusedGarbage
	case errors.Is(err, handshake.ErrRefused):
		return refusedByPeer
	case errors.Is(err, handshake.ErrHungUp):
		return refusedHangUp
	case errors.Is(err, handshake.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return refusedTimeout
	}
	return refusedOther
}

// refusalCounts counts refusals by kind.
type refusalCounts [numRefusals]atomic.Uint64

// Refusals returns the handshakes refused so far by kind (see
// RefusalKinds), both those this node refused and its dials the peer
// refused; their sum is Refused.
func (s *Stats) Refusals() map[string]uint64 {
	m := make(map[string]uint64, numRefusals)
	for k := range numRefusals {
		m[refusalNames[k]] = s.refusals[k].Load()
	}
	return m
}

// refusedAs counts and logs, at a rate that cannot flood, a connection
// that did not become a link. node is the peer's name when known.
func (n *Node) refusedAs(kind refusal, node, addr string, err error) {
	n.stats.Refused.Add(1)
	n.stats.refusals[kind].Add(1)
	level := slog.LevelWarn
	switch kind {
	case refusedDuplicate:
		// Simultaneous dials resolve this way; it is not an attack.
		level = slog.LevelDebug
	case refusedHangUp, refusedTimeout, refusedGarbage, refusedLimitAddr, refusedLimitTotal, refusedEvicted:
		// Scans and floods: say that they happen, the metric says how much.
		level = slog.LevelInfo
	}
	attrs := []slog.Attr{slog.String("kind", kind.String()), slog.String("addr", addr)}
	if node != "" {
		attrs = append(attrs, slog.String("peer", node))
	}
	if err != nil {
		attrs = append(attrs, slog.String("reason", err.Error()))
	}
	n.logLimited.Log(level, "refused:"+kind.String(), "node link refused", attrs...)
}

package cluster

import (
	"encoding/binary"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// delegate receives memberlist's callbacks. memberlist calls the
// EventDelegate methods one at a time, in order, with its node lock held.
type delegate struct{ c *Cluster }

var (
	_ memberlist.Delegate      = delegate{}
	_ memberlist.EventDelegate = delegate{}
)

// NodeMeta returns this member's encoded metadata.
func (d delegate) NodeMeta(limit int) []byte {
	b := *d.c.localMeta.Load()
	if len(b) > limit {
		return nil // refused earlier by encode; never happens
	}
	return b
}

// NotifyJoin folds in a member that is alive.
func (d delegate) NotifyJoin(n *memberlist.Node) { d.alive(n) }

// NotifyUpdate folds in a member's new metadata.
func (d delegate) NotifyUpdate(n *memberlist.Node) { d.alive(n) }

func (d delegate) alive(n *memberlist.Node) {
	w, err := decodeMeta(n.Meta)
	if err != nil {
		d.c.log.Warn("member ignored: metadata not Grove's", slog.String("peer", n.Name), slog.Any("err", err))
		return
	}
	gossip := net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	name := n.Name
	d.c.step(func(t *table, now time.Time) []Event { return t.alive(name, gossip, w, now) })
}

// NotifyLeave folds in a member declared dead or left.
func (d delegate) NotifyLeave(n *memberlist.Node) {
	name := n.Name
	d.c.step(func(t *table, now time.Time) []Event { return t.gone(name, now) })
}

// NotifyMsg handles a gossiped user message: a leave intent.
func (d delegate) NotifyMsg(b []byte) {
	name, inc, ok := decodeIntent(b)
	if !ok {
		return
	}
	d.c.step(func(t *table, now time.Time) []Event { return t.leaveIntent(name, inc, now) })
}

// GetBroadcasts returns the leave intents still to gossip.
func (d delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.c.bcast.GetBroadcasts(overhead, limit)
}

// LocalState sends, with every push/pull, this member's own description
// and the known leave intents: a member that missed the gossip still
// learns who left, and a peer that knows an earlier life of this member
// learns the current one at once (memberlist itself keeps the earlier
// life until this member has refuted it, a gossip round later).
func (d delegate) LocalState(join bool) []byte {
	self := encodeSelf(d.c.Name(), d.c.gt.advertise, *d.c.localMeta.Load())
	b := binary.AppendUvarint(nil, uint64(len(self)))
	b = append(b, self...)
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	for name, inc := range d.c.mu.t.intents {
		msg := encodeIntent(name, inc)
		b = binary.AppendUvarint(b, uint64(len(msg)))
		b = append(b, msg...)
	}
	return b
}

// MergeRemoteState folds in the description and leave intents of a
// push/pull.
func (d delegate) MergeRemoteState(b []byte, join bool) {
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return
		}
		msg := b[k : k+int(n)]
		b = b[k+int(n):]
		if name, gossip, w, ok := decodeSelf(msg); ok {
			if name != d.c.Name() {
				d.c.step(func(t *table, now time.Time) []Event { return t.described(name, gossip, w, now) })
			}
			continue
		}
		d.NotifyMsg(msg)
	}
}

// A leave intent is the message 'L', the leaving member's Incarnation as a
// uvarint, and its name.
const intentTag = 'L'

// A member's description of itself is the message 'M', its name and its
// gossip address (uvarint lengths and bytes) and its encoded wireMeta.
const selfTag = 'M'

func encodeSelf(name, gossip string, meta []byte) []byte {
	b := []byte{selfTag}
	b = appendString(b, name)
	b = appendString(b, gossip)
	return append(b, meta...)
}

func decodeSelf(b []byte) (name, gossip string, w wireMeta, ok bool) {
	if len(b) < 2 || b[0] != selfTag {
		return "", "", w, false
	}
	r := reader{b: b[1:]}
	name = r.string()
	gossip = r.string()
	if r.err != nil || name == "" {
		return "", "", w, false
	}
	w, err := decodeMeta(r.b)
	if err != nil {
		return "", "", w, false
	}
	return name, gossip, w, true
}

func encodeIntent(name string, inc uint64) []byte {
	b := []byte{intentTag}
	b = binary.AppendUvarint(b, inc)
	return append(b, name...)
}

func decodeIntent(b []byte) (name string, creation uint64, ok bool) {
	if len(b) < 2 || b[0] != intentTag {
		return "", 0, false
	}
	creation, n := binary.Uvarint(b[1:])
	if n <= 0 || len(b) == 1+n {
		return "", 0, false
	}
	return string(b[1+n:]), creation, true
}

// intentBroadcast is a leave intent in memberlist's broadcast queue.
type intentBroadcast struct {
	msg  []byte
	done chan struct{}
}

func (b *intentBroadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b *intentBroadcast) Message() []byte                       { return b.msg }
func (b *intentBroadcast) Finished() {
	if b.done != nil {
		close(b.done)
	}
}

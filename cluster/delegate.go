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

// LocalState sends the known leave intents with every push/pull, so that a
// member that missed the gossip still learns who left.
func (d delegate) LocalState(join bool) []byte {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	var b []byte
	for name, inc := range d.c.mu.t.intents {
		msg := encodeIntent(name, inc)
		b = binary.AppendUvarint(b, uint64(len(msg)))
		b = append(b, msg...)
	}
	return b
}

// MergeRemoteState folds in the leave intents of a push/pull.
func (d delegate) MergeRemoteState(b []byte, join bool) {
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return
		}
		msg := b[k : k+int(n)]
		b = b[k+int(n):]
		d.NotifyMsg(msg)
	}
}

// A leave intent is the message 'L', the leaving member's Incarnation as a
// uvarint, and its name.
const intentTag = 'L'

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

package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/proc"
)

// Flow control between nodes.
//
// Receiving side: every message from another node that waits in a local
// mailbox is counted, by its encoded size plus msgOverhead, against the
// node's MaxRemoteQueued. When a delivery takes the count over the
// ceiling, the link it came on is paused: the node tells the peer (a flow
// frame) and the peer holds back its plain sends on that link. When the
// count falls to half the ceiling, every paused link is resumed. Replies,
// calls, acknowledged sends and signals are never held back, so a process
// waiting for an answer is not stuck behind a stream.
//
// Sending side: a plain send on a paused link blocks its sender until the
// peer resumes the link or the link goes down, as Erlang suspends a
// process sending on a busy distribution port.
//
// Drops: a message that reaches a node but cannot be queued (the process
// is gone, its bounded mailbox is full, the name is not registered) is
// counted on the receiver and reported back to the sending node, which
// counts it in Stats.DroppedByPeer and logs it at a bounded rate. Reports
// are batched: at most one per link every dropReportInterval.

// msgOverhead is what a queued message costs beyond its encoded bytes
// (envelope, decoded value headers), counted against MaxRemoteQueued.
const msgOverhead = 64

// dropReportInterval is how often a link reports drops to its peer.
const dropReportInterval = 100 * time.Millisecond

// Flow frame payloads.
const (
	flowResume byte = 0
	flowPause  byte = 1
)

// Drop reasons on the wire.
const (
	dropOther byte = iota
	dropFull
	dropNoProc
	dropNoName
)

// inflow counts the bytes of remote messages waiting in local mailboxes
// and pauses the links that bring more than the ceiling allows.
type inflow struct {
	limit   int64
	used    atomic.Int64
	npaused atomic.Int32
	wake    chan struct{} // capacity 1: used fell low with links paused

	mu struct {
		sync.Mutex
		paused map[*peer]struct{}
	}
}

// tracker is the node as the runtime's proc.Tracker.
type tracker Node

// Release gives back the bytes of a message its process took or dropped.
func (t *tracker) Release(size int) {
	f := &t.inflow
	if f.used.Add(-int64(size)) <= f.limit/2 && f.npaused.Load() > 0 {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// deliverTracked delivers a message of the peer to the local process to
// (or name, when to is zero), counted against the ceiling.
func (p *peer) deliverTracked(to proc.PID, name string, msg any, cast bool, wire int) error {
	n := p.n
	size := wire + msgOverhead
	used := n.inflow.used.Add(int64(size))
	var err error
	if name != "" {
		err = n.rt.DeliverRemoteNameTracked(name, msg, cast, size)
	} else {
		err = n.rt.DeliverRemoteTracked(to, msg, cast, size)
	}
	if err != nil {
		n.inflow.used.Add(-int64(size))
		return err
	}
	if used > n.inflow.limit {
		n.pause(p)
	}
	return nil
}

// pause asks the peer to hold back its sends on this link.
//
// The pause and resume frames of a link are sent under the link's
// inflowState lock and alternate with its paused flag, so the peer always
// ends in the state this node last decided: a resume can never overtake
// the pause it answers.
func (n *Node) pause(p *peer) {
	p.in.Lock()
	if p.in.paused {
		p.in.Unlock()
		return
	}
	p.in.paused = true
	_ = p.send(kindFlow, 0, 0, func(b []byte) []byte { return append(b, flowPause) }, nil, false)
	p.in.Unlock()
	n.stats.LinksPaused.Add(1)
	f := &n.inflow
	f.mu.Lock()
	if _, ok := f.mu.paused[p]; !ok {
		f.mu.paused[p] = struct{}{}
		f.npaused.Add(1)
	}
	f.mu.Unlock()
	// The processes may have taken everything between the delivery and
	// the pause, with no Release left to come: look again.
	if f.used.Load() <= f.limit/2 {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// resume lets the peer send on this link again.
func (p *peer) resume() {
	p.in.Lock()
	defer p.in.Unlock()
	if !p.in.paused {
		return
	}
	p.in.paused = false
	_ = p.send(kindFlow, 0, 0, func(b []byte) []byte { return append(b, flowResume) }, nil, false)
}

// inflowState is whether this node has paused the peer's sends.
type inflowState struct {
	sync.Mutex
	paused bool
}

// forgetFlow drops a link that went down from the paused set.
func (n *Node) forgetFlow(p *peer) {
	f := &n.inflow
	f.mu.Lock()
	if _, ok := f.mu.paused[p]; ok {
		delete(f.mu.paused, p)
		f.npaused.Add(-1)
	}
	f.mu.Unlock()
}

// flowLoop resumes the paused links once the queued bytes fell to half
// the ceiling.
func (n *Node) flowLoop() {
	f := &n.inflow
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-f.wake:
		}
		if f.used.Load() > f.limit/2 {
			continue
		}
		f.mu.Lock()
		peers := make([]*peer, 0, len(f.mu.paused))
		for p := range f.mu.paused {
			peers = append(peers, p)
		}
		clear(f.mu.paused)
		f.npaused.Store(0)
		f.mu.Unlock()
		for _, p := range peers {
			p.resume()
		}
	}
}

// outflow is a link's sending side of flow control.
type outflow struct {
	held atomic.Bool
	mu   sync.Mutex
	ch   chan struct{} // closed on resume; nil while not held
}

// handleFlow applies the peer's pause or resume.
func (p *peer) handleFlow(r *reader) error {
	v := r.byte()
	if r.err != nil {
		return r.err
	}
	o := &p.out
	o.mu.Lock()
	defer o.mu.Unlock()
	switch v {
	case flowPause:
		if o.ch == nil {
			o.ch = make(chan struct{})
			o.held.Store(true)
			p.n.stats.PausedByPeer.Add(1)
		}
	case flowResume:
		if o.ch != nil {
			close(o.ch)
			o.ch = nil
			o.held.Store(false)
		}
	default:
		return fmt.Errorf("%w: flow %d", errMalformed, v)
	}
	return nil
}

// waitFlow blocks a plain send while the peer holds the link back.
func (p *peer) waitFlow() error { return p.waitFlowContext(context.Background()) }

// drops batches the peer's messages this node could not queue, for a
// report back to the peer.
type drops struct {
	mu        sync.Mutex
	count     uint64
	reason    byte
	from      proc.PID // the last dropped message's sender, of the peer
	to        string   // and its target, as text
	scheduled bool
	timer     *time.Timer
	closed    bool
}

func dropReason(err error) byte {
	switch {
	case errors.Is(err, proc.ErrMailboxFull):
		return dropFull
	case errors.Is(err, proc.ErrNotAlive), errors.Is(err, proc.ErrNoProc):
		return dropNoProc
	case errors.Is(err, proc.ErrNotRegistered):
		return dropNoName
	}
	return dropOther
}

func dropReasonText(r byte) string {
	switch r {
	case dropFull:
		return "mailbox full"
	case dropNoProc:
		return "no such process"
	case dropNoName:
		return "name not registered"
	}
	return "not delivered"
}

// dropped counts a message of the peer that could not be queued and
// schedules a report to the peer.
func (p *peer) dropped(err error, from proc.PID, to string) {
	n := p.n
	n.stats.DeliveryFailures.Add(1)
	reason := dropReason(err)
	n.logLimited.Warn("drop:"+p.name, "remote message not delivered", slog.String("peer", p.name),
		slog.String("from", from.String()), slog.String("to", to), slog.String("reason", dropReasonText(reason)))
	d := &p.drops
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.count++
	d.reason, d.from, d.to = reason, from, to
	if !d.scheduled {
		d.scheduled = true
		d.timer = time.AfterFunc(dropReportInterval, p.reportDrops)
	}
}

// reportDrops sends the batched drop count to the peer.
func (p *peer) reportDrops() {
	d := &p.drops
	d.mu.Lock()
	count, reason, from, to := d.count, d.reason, d.from, d.to
	d.count, d.scheduled = 0, false
	d.mu.Unlock()
	if count == 0 {
		return
	}
	_ = p.send(kindDropped, 0, 0, func(b []byte) []byte {
		b = binary.AppendUvarint(b, count)
		b = append(b, reason)
		b = appendPID(b, from) // a PID of the peer: it reads it as its own
		return appendString(b, to)
	}, nil, false)
}

// stopDrops cancels a pending report when the link ends.
func (p *peer) stopDrops() {
	d := &p.drops
	d.mu.Lock()
	d.closed = true
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Unlock()
}

// handleDropped counts the peer's report of messages of ours it dropped.
func (p *peer) handleDropped(r *reader) error {
	count := r.uvarint()
	reason := r.byte()
	from := r.pid(p.n.cfg.Name)
	to := r.string(maxNameLen + 64)
	if r.err != nil {
		return r.err
	}
	p.n.stats.DroppedByPeer.Add(count)
	p.n.logLimited.Warn("dropped-by:"+p.name, "messages dropped by peer", slog.String("peer", p.name),
		slog.Uint64("count", count), slog.String("reason", dropReasonText(reason)),
		slog.String("last_from", from.String()), slog.String("last_to", to))
	return nil
}

// SendAck sends msg from the process from (zero for none) to the process
// to of another node and waits until that node has queued it in to's
// mailbox. The error wraps proc.ErrMailboxFull when the mailbox is full,
// proc.ErrNotAlive when the process is gone, proc.ErrNoConnection when the
// node cannot be reached or the link broke before the answer, and is ctx's
// error when ctx ends first (the message may still arrive). It is the send
// to use when the sender must know; it is ordered with from's other
// messages to to, and never held back by flow control.
func (n *Node) SendAck(ctx context.Context, from, to proc.PID, msg any) error {
	if to.Node == n.cfg.Name {
		return n.rt.Send(to, msg)
	}
	p, err := n.connected(to.Node)
	if err != nil {
		return err
	}
	if err := p.checkTarget(to); err != nil {
		return fmt.Errorf("%w: %w", proc.ErrNotAlive, err)
	}
	_, err = n.await(ctx, p, kindSendAck, lane(from, to), func(b []byte, id uint64) []byte {
		return binary.AppendUvarint(appendPID(appendPID(b, from), to), id)
	}, msg)
	return err
}

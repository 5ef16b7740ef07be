package pubsub

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/grovedev/grove/proc"
)

// SubscribeOption tunes one subscription.
type SubscribeOption func(*subConfig)

type subConfig struct {
	meta   any
	filter func(*Message) bool
	bound  int
	policy Policy
	inline bool
}

// WithMeta attaches a value to the subscription, for dispatchers
// (Subscription.Meta), like the metadata of Phoenix.PubSub.subscribe.
func WithMeta(v any) SubscribeOption { return func(c *subConfig) { c.meta = v } }

// WithFilter delivers only the messages for which keep returns true. keep
// runs on the delivering goroutine, possibly concurrently for different
// broadcasts, and must be fast and not block.
func WithFilter(keep func(*Message) bool) SubscribeOption {
	return func(c *subConfig) { c.filter = keep }
}

// WithBuffer bounds the messages that may wait for this subscriber to n
// (at least 1) and chooses what happens beyond (see Policy).
func WithBuffer(n int, p Policy) SubscribeOption {
	return func(c *subConfig) { c.bound, c.policy = n, p }
}

// Inline makes a SubscribeFunc subscription call its function on the
// delivering goroutine itself, with no buffer and no goroutine of its own:
// the cheapest subscriber there is, for functions that only update memory
// or hand the message to something that queues it (a socket writer, say).
// The function must be fast, must not block, and must not broadcast on its
// own topic; calls stay one at a time and in order per sender. The buffer
// and policy of the subscription do not apply.
func Inline() SubscribeOption { return func(c *subConfig) { c.inline = true } }

// SubStats counts what happened to one subscription's messages.
type SubStats struct {
	Delivered uint64 // handed to the subscriber (its mailbox, channel or function)
	Dropped   uint64 // dropped under the backpressure policy
	Missed    uint64 // never received: gaps in sequence numbers
}

type subKind uint8

const (
	kindProc   subKind = iota // a process: messages go to its mailbox
	kindFunc                  // a function run by a goroutine of the subscription
	kindChan                  // a channel fed by a goroutine of the subscription
	kindInline                // a function called by the delivering goroutine
)

// Subscription is one subscriber's registration on a topic. Its methods are
// safe for concurrent use.
type Subscription struct {
	ps     *PubSub
	topic  string
	kind   subKind
	pid    proc.PID
	fn     func(*Message)
	ch     chan *Message
	meta   any
	filter func(*Message) bool
	bound  int
	policy Policy

	ended  atomic.Bool
	done   chan struct{}
	callMu sync.Mutex // serialises the calls of an inline function

	delivered, dropped, missed atomic.Uint64

	// mu guards the fields below and every hand-over of a message to the
	// subscriber, so that messages from one sender stay in order.
	mu struct {
		sync.Mutex
		q       queue
		seq     seqTracker
		err     error
		running bool // a drain goroutine (func, chan) is active
		pumping bool // in the PubSub's pump set (process, DropOldest)
	}

	// index is the position in the topic's slice, -1 when not in it;
	// guarded by the topic's lock.
	index int
}

// Topic returns the topic subscribed to.
func (s *Subscription) Topic() string { return s.topic }

// Meta returns the value given with WithMeta.
func (s *Subscription) Meta() any { return s.meta }

// PID returns the subscribed process, zero for function and channel
// subscriptions.
func (s *Subscription) PID() proc.PID { return s.pid }

// C returns the channel of a SubscribeChan subscription (nil for others).
// It is closed when the subscription ends.
func (s *Subscription) C() <-chan *Message { return s.ch }

// Done is closed when the subscription has ended; Err then says why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns nil while the subscription is active, then ErrCancelled,
// ErrSlowSubscriber or ErrClosed.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.err
}

// Stats returns the subscription's counters.
func (s *Subscription) Stats() SubStats {
	return SubStats{Delivered: s.delivered.Load(), Dropped: s.dropped.Load(), Missed: s.missed.Load()}
}

// Cancel ends the subscription: no message is delivered after Cancel
// returns (a function subscriber may still be running a call that had
// started). Messages still buffered are discarded. Idempotent.
func (s *Subscription) Cancel() {
	if s.end(ErrCancelled, false) {
		s.ps.remove(s)
	}
}

// Deliver hands m to the subscriber under its buffer and policy, applying
// its filter and sequence tracking: what the default dispatcher does for
// each subscription, for custom dispatchers that deliver to some of them.
func (s *Subscription) Deliver(m *Message) {
	if s.ended.Load() {
		return
	}
	if s.filter != nil && !s.filter(m) {
		s.observeOnly(m)
		return
	}
	s.mu.Lock()
	if s.mu.err != nil {
		s.mu.Unlock()
		return
	}
	if m.Seq != 0 {
		missed, dup := s.mu.seq.observe(m.Origin, m.epoch, m.Seq)
		if dup {
			s.mu.Unlock()
			s.ps.stats.Duplicates.Add(1)
			return
		}
		if missed > 0 {
			s.missed.Add(missed)
			s.ps.stats.Missed.Add(missed)
			m = m.withGap(0, missed)
		}
	}
	switch s.kind {
	case kindProc:
		s.deliverProcLocked(m)
	case kindInline:
		s.mu.Unlock()
		s.callMu.Lock()
		if !s.ended.Load() {
			s.call(m)
			s.delivered.Add(1)
			s.ps.stats.Delivered.Add(1)
		}
		s.callMu.Unlock()
	default:
		s.deliverQueuedLocked(m)
	}
}

// observeOnly records the sequence number of a message the subscriber does
// not want (filtered, or its own under BroadcastFrom), so that skipping it
// is not taken for a gap.
func (s *Subscription) observeOnly(m *Message) {
	if m.Seq == 0 {
		return
	}
	s.mu.Lock()
	s.mu.seq.observe(m.Origin, m.epoch, m.Seq)
	s.mu.Unlock()
}

// deliverProcLocked sends m to the process, unless its mailbox holds Buffer
// messages already.
func (s *Subscription) deliverProcLocked(m *Message) {
	q := &s.mu.q
	n, alive := s.ps.rt.MailboxLen(s.pid)
	if !alive {
		s.mu.Unlock()
		return // the subscription goes with the process
	}
	if q.n == 0 && n < s.bound {
		err := s.sendLocked(q.stamp(m))
		s.mu.Unlock()
		s.sent(err, 1)
		return
	}
	switch s.policy {
	case DropOldest:
		// Wait in front of the mailbox; the pump moves messages in as it
		// empties, and the oldest go first when the queue is full.
		if dropped, _ := q.offer(m); dropped {
			s.countDrop(DropOldest, 1)
		}
		start := !s.mu.pumping
		s.mu.pumping = true
		s.mu.Unlock()
		if start {
			s.ps.pump(s)
		}
	case Disconnect:
		s.mu.Unlock()
		s.disconnect(1)
	default:
		q.skipped(m)
		s.mu.Unlock()
		s.countDrop(DropNewest, 1)
	}
}

// sendLocked sends m to the process subscriber. When the process's own
// mailbox bound (below the subscription's) refuses it, the message and the
// counts it carried are reported on the next one.
func (s *Subscription) sendLocked(m *Message) error {
	err := s.ps.rt.Send(s.pid, m)
	if errors.Is(err, proc.ErrMailboxFull) {
		s.mu.q.pendingDropped += m.Dropped + 1
		s.mu.q.pendingMissed += m.Missed
	}
	return err
}

// sent accounts for n sends to a process subscriber's mailbox that ended
// with err.
func (s *Subscription) sent(err error, n int) {
	switch {
	case err == nil:
		s.delivered.Add(uint64(n))
		s.ps.stats.Delivered.Add(uint64(n))
	case errors.Is(err, proc.ErrMailboxFull):
		s.countDrop(s.policy, n)
	}
	// ErrNotAlive: the subscription is removed with the process.
}

// pumpOnce moves waiting messages into the process's mailbox while it has
// room. It reports whether messages still wait.
func (s *Subscription) pumpOnce() bool {
	s.mu.Lock()
	q := &s.mu.q
	var sent, failed int
	for q.n > 0 && s.mu.err == nil {
		n, alive := s.ps.rt.MailboxLen(s.pid)
		if !alive {
			q.clear()
			break
		}
		if n >= s.bound {
			break
		}
		if err := s.sendLocked(q.pop()); errors.Is(err, proc.ErrMailboxFull) {
			failed++
		} else if err == nil {
			sent++
		}
	}
	waiting := q.n > 0 && s.mu.err == nil
	s.mu.pumping = waiting
	s.mu.Unlock()
	if sent > 0 {
		s.sent(nil, sent)
	}
	if failed > 0 {
		s.sent(proc.ErrMailboxFull, failed)
	}
	return waiting
}

// deliverQueuedLocked queues m for the subscription's goroutine, starting
// it if idle.
func (s *Subscription) deliverQueuedLocked(m *Message) {
	dropped, disconnect := s.mu.q.offer(m)
	if disconnect {
		s.mu.Unlock()
		s.disconnect(1)
		return
	}
	start := !s.mu.running && s.mu.q.n > 0
	if start {
		s.mu.running = true
	}
	s.mu.Unlock()
	if dropped {
		s.countDrop(s.policy, 1)
	}
	if start && !s.ps.goTracked(s.drain) {
		s.mu.Lock()
		s.mu.running = false
		s.mu.Unlock()
	}
}

// drain hands queued messages to the function or channel until the queue
// is empty or the subscription ends.
func (s *Subscription) drain() {
	for {
		s.mu.Lock()
		if s.mu.err != nil || s.mu.q.n == 0 {
			s.mu.running = false
			closeCh := s.mu.err != nil && s.kind == kindChan
			s.mu.Unlock()
			if closeCh {
				close(s.ch)
			}
			return
		}
		m := s.mu.q.pop()
		s.mu.Unlock()
		if s.kind == kindChan {
			select {
			case s.ch <- m:
			case <-s.done:
				// Ended while handing m over: a disconnection loses it too.
				if err := s.Err(); err == ErrSlowSubscriber || err == ErrClosed {
					s.dropped.Add(1)
					s.ps.stats.DroppedNewest.Add(1)
				}
				continue // the next turn closes the channel
			}
		} else {
			s.call(m)
		}
		s.delivered.Add(1)
		s.ps.stats.Delivered.Add(1)
	}
}

// call runs the subscriber's function; a panic is logged and the
// subscription goes on.
func (s *Subscription) call(m *Message) {
	defer func() {
		if r := recover(); r != nil {
			s.ps.stats.CallbackPanics.Add(1)
			s.ps.log.Error("pubsub: subscriber function panicked", slog.String("topic", s.topic),
				slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
		}
	}()
	s.fn(m)
}

func (s *Subscription) countDrop(p Policy, n int) {
	s.dropped.Add(uint64(n))
	switch p {
	case DropOldest:
		s.ps.stats.DroppedOldest.Add(uint64(n))
	default:
		s.ps.stats.DroppedNewest.Add(uint64(n))
	}
	s.ps.warnDrops()
}

// disconnect ends a subscription whose buffer overflowed under the
// Disconnect policy; lost counts the message that did not fit.
func (s *Subscription) disconnect(lost int) {
	s.dropped.Add(uint64(lost))
	s.ps.stats.DroppedNewest.Add(uint64(lost))
	if s.end(ErrSlowSubscriber, true) {
		s.ps.stats.Disconnects.Add(1)
		s.ps.warnDrops()
		s.ps.removeLater(s)
	}
}

// end ends the subscription once with reason: buffered messages are
// discarded (and counted as dropped when notify is set), a process
// subscriber is told with Disconnected when notify is set, a channel is
// closed. It reports whether this call ended it.
func (s *Subscription) end(reason error, notify bool) bool {
	s.mu.Lock()
	if s.mu.err != nil {
		s.mu.Unlock()
		return false
	}
	s.mu.err = reason
	s.ended.Store(true)
	close(s.done)
	buffered := s.mu.q.clear()
	closeCh := s.kind == kindChan && !s.mu.running
	s.mu.Unlock()
	if notify && buffered > 0 {
		s.dropped.Add(uint64(buffered))
		s.ps.stats.DroppedNewest.Add(uint64(buffered))
	}
	if closeCh {
		close(s.ch)
	}
	if notify && s.kind == kindProc {
		d := Disconnected{Topic: s.topic, Reason: reason, Dropped: uint64(buffered)}
		if reason == ErrSlowSubscriber {
			d.Dropped++
		}
		if err := s.ps.rt.Send(s.pid, d); err != nil && !errors.Is(err, proc.ErrNotAlive) {
			s.ps.log.Warn("pubsub: could not tell a subscriber it was disconnected",
				slog.String("topic", s.topic), slog.Any("pid", s.pid), slog.Any("err", err))
		}
	}
	return true
}

func (s *Subscription) String() string {
	switch s.kind {
	case kindProc:
		return fmt.Sprintf("subscription(%s, %v)", s.topic, s.pid)
	case kindChan:
		return fmt.Sprintf("subscription(%s, chan)", s.topic)
	case kindInline:
		return fmt.Sprintf("subscription(%s, inline func)", s.topic)
	}
	return fmt.Sprintf("subscription(%s, func)", s.topic)
}

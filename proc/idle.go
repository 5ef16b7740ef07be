package proc

import "time"

// Timeout is delivered to HandleInfo when no message came within the time
// a callback asked for with Process.IdleTimeout, like the timeout message of
// a gen_server that returned {noreply, State, Timeout}.
type Timeout struct {
	After time.Duration // the time asked for
}

// idleMsg is the timer message behind an idle timeout: it counts only if no
// message came since the timer was armed for generation gen.
type idleMsg struct {
	gen   uint64
	after time.Duration
}

// Compactor is implemented by behaviours that shrink their state when
// their process hibernates (Process.Hibernate): drop caches, rebuild maps
// that grew, release buffers. Compact runs on the process's goroutine,
// right after the callback that asked to hibernate.
type Compactor interface {
	Compact(p *Process)
}

// IdleTimeout asks, from a callback, for a Timeout message if no message
// comes within d after the callback returns, as a gen_server returning
// {noreply, State, Timeout}. Any message that comes first cancels it, and
// so does a callback that returns without asking again: each callback
// decides for the time after it. System requests (Inspect, statistics...)
// do not count as messages. d ≤ 0 asks for nothing.
func (p *Process) IdleTimeout(d time.Duration) {
	if d > 0 {
		p.rs().idleAfter = d
	}
}

// Hibernate asks, from a callback, that the process compact once the
// callback returns, as erlang:hibernate: the behaviour's Compact runs (if
// it is a Compactor), the process drops its message buffers and, once out of
// messages, gives its goroutine up at once instead of waiting a while for
// more. The next message wakes it as usual.
func (p *Process) Hibernate() { p.rs().hibernate = true }

// armIdle starts the idle timer a callback asked for.
func (p *Process) armIdle(s *runState) {
	d := s.idleAfter
	s.idleAfter = 0
	if s.idleArmed {
		p.CancelTimer(s.idleRef)
	}
	s.idleGen++
	s.idleArmed = true
	s.idleRef = p.SendAfter(d, idleMsg{gen: s.idleGen, after: d})
}

// disarmIdle cancels the idle timer: a message came.
func (p *Process) disarmIdle(s *runState) {
	s.idleArmed = false
	s.idleGen++ // an idle message already queued is stale
	p.CancelTimer(s.idleRef)
}

// compact hibernates p: the behaviour compacts and the buffers go.
func (p *Process) compact(s *runState) {
	s.hibernate = false
	s.hibernated = true
	if c, ok := p.beh.(Compactor); ok {
		c.Compact(p)
	}
	p.peer.Store(nil)
	s.conts = nil
}

package proc

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/grovedev/grove/clock"
)

// SendAfter delivers msg to p's own HandleInfo after d, like
// erlang:send_after. The timer is cancelled when p exits. A timer message
// that a full bounded mailbox refuses is not lost silently: it is counted
// (Info.DroppedTimerMessages, Runtime.Stats) and logged.
func (p *Process) SendAfter(d time.Duration, msg any) Ref {
	return p.startTimer(p.pid, d, msg, false)
}

// SendAfterTo delivers msg to pid after d. The timer belongs to p and is
// cancelled when p exits.
func (p *Process) SendAfterTo(pid PID, d time.Duration, msg any) Ref {
	return p.startTimer(pid, d, msg, false)
}

// SendInterval delivers msg to p every d until cancelled or until p exits.
// A period that elapses while the previous message still waits is not
// skipped: each tick is one message.
func (p *Process) SendInterval(d time.Duration, msg any) (Ref, error) {
	if d <= 0 {
		return Ref{}, fmt.Errorf("proc: SendInterval: period %v is not positive", d)
	}
	return p.startTimer(p.pid, d, msg, true), nil
}

// CancelTimer stops a timer started by p. It reports whether the timer was
// still pending; a message already delivered stays in the mailbox.
func (p *Process) CancelTimer(ref Ref) bool {
	p.metaMu.Lock()
	var t clock.Timer
	if p.meta != nil {
		t = p.meta.timers[ref.ID]
		delete(p.meta.timers, ref.ID)
	}
	p.metaMu.Unlock()
	if t == nil {
		return false
	}
	t.Stop()
	return true
}

// NumTimers returns the number of p's pending timers.
func (p *Process) NumTimers() int {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	if p.meta == nil {
		return 0
	}
	return len(p.meta.timers)
}

func (p *Process) startTimer(to PID, d time.Duration, msg any, repeat bool) Ref {
	ref := p.rt.MakeRef()
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	m := p.metaLocked()
	if m.dead {
		return ref
	}
	if m.timers == nil {
		m.timers = make(map[uint64]clock.Timer, 1)
	}
	p.armLocked(ref, to, d, msg, repeat)
	return ref
}

// armLocked schedules one firing of timer ref. p.metaMu must be held.
func (p *Process) armLocked(ref Ref, to PID, d time.Duration, msg any, repeat bool) {
	p.meta.timers[ref.ID] = p.rt.clock.AfterFunc(d, func() {
		p.metaMu.Lock()
		m := p.meta
		if m.dead || m.timers[ref.ID] == nil {
			p.metaMu.Unlock()
			return
		}
		if repeat {
			p.armLocked(ref, to, d, msg, true)
		} else {
			delete(m.timers, ref.ID)
		}
		p.metaMu.Unlock()
		err := p.rt.Send(to, msg)
		switch {
		case err == nil:
		case errors.Is(err, ErrMailboxFull):
			p.timerDropped(to)
		case to != p.pid:
			p.rt.log.Debug("timer message not delivered", "to", to.String(), "err", err)
		}
	})
}

// timerDropped counts a timer message of p that a full mailbox refused, on
// p (Info.DroppedTimerMessages) and on the runtime (Stats), and logs it at
// a rate that cannot flood: a timer has no sender to hand the error to.
func (p *Process) timerDropped(to PID) {
	p.metaMu.Lock()
	p.metaLocked().timerDrops++
	p.metaMu.Unlock()
	p.rt.stats.timerDrops.Add(1)
	p.rt.ratelog.Warn("timer drop", "timer message dropped: mailbox full",
		slog.String("timer_owner", p.pid.String()), slog.String("to", to.String()))
}

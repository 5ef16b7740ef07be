package statem

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/clock"
	"github.com/grovedev/grove/proc"
)

// timers runs the time-outs of one machine on the runtime's clock and
// delivers their expiries as messages to the machine itself, which hands
// them to the core (an expiry the core no longer expects is ignored there,
// by its generation).
//
// An expiry is never lost to a full bounded mailbox: one refused is kept
// here and handed to the machine after it has handled as many messages as
// were waiting when it was refused (plus the one it was handling), so it
// comes no earlier than it would have from the mailbox.
//
// arm and disarm are called by the machine's process; fire by the clock's
// goroutines; stop when the process exits. Lock order: mu, then nothing.
type timers struct {
	rt   *proc.Runtime
	clk  clock.Clock
	self proc.PID
	// nlate mirrors len(mu.late), so the machine checks for late expiries
	// after every message without taking the lock.
	nlate atomic.Int32
	mu    struct {
		sync.Mutex
		armed map[timerKey]armedTimer
		late  []lateExpiry
		dead  bool
	}
}

type armedTimer struct {
	gen uint64
	t   clock.Timer
}

// lateExpiry is an expiry a full mailbox refused: it is due once after
// more messages have been handled.
type lateExpiry struct {
	msg   timerMsg
	after int
}

// timerMsg is the message of an expired time-out to the machine itself.
type timerMsg struct {
	key timerKey
	gen uint64
}

func newTimers(rt *proc.Runtime, self proc.PID) *timers {
	t := &timers{rt: rt, clk: rt.Clock(), self: self}
	t.mu.armed = make(map[timerKey]armedTimer)
	return t
}

// arm starts the timer of key, generation gen, to expire after d; d <= 0
// expires at once.
func (t *timers) arm(key timerKey, gen uint64, d time.Duration) {
	if d <= 0 {
		t.deliver(timerMsg{key: key, gen: gen})
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.dead {
		return
	}
	if old, ok := t.mu.armed[key]; ok {
		old.t.Stop()
	}
	t.mu.armed[key] = armedTimer{gen: gen, t: t.clk.AfterFunc(d, func() { t.fire(key, gen) })}
}

// disarm stops the timer of key if it is generation gen.
func (t *timers) disarm(key timerKey, gen uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a, ok := t.mu.armed[key]; ok && a.gen == gen {
		a.t.Stop()
		delete(t.mu.armed, key)
	}
}

// fire delivers the expiry of key, generation gen, unless it was disarmed
// or rearmed meanwhile.
func (t *timers) fire(key timerKey, gen uint64) {
	t.mu.Lock()
	a, ok := t.mu.armed[key]
	if t.mu.dead || !ok || a.gen != gen {
		t.mu.Unlock()
		return
	}
	delete(t.mu.armed, key)
	t.mu.Unlock()
	t.deliver(timerMsg{key: key, gen: gen})
}

// deliver sends an expiry to the machine, or keeps it for later when the
// mailbox is full.
func (t *timers) deliver(msg timerMsg) {
	err := t.rt.Send(t.self, msg)
	if !errors.Is(err, proc.ErrMailboxFull) {
		return // sent, or the machine is gone
	}
	waiting, _ := t.rt.MailboxLen(t.self)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.dead {
		return
	}
	t.mu.late = append(t.mu.late, lateExpiry{msg: msg, after: waiting + 1})
	t.nlate.Store(int32(len(t.mu.late)))
}

// handled counts one message handled by the machine and returns the late
// expiries now due, oldest first. It is called by the machine's process.
func (t *timers) handled() []timerMsg {
	if t.nlate.Load() == 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var due []timerMsg
	keep := t.mu.late[:0]
	for _, l := range t.mu.late {
		if l.after--; l.after <= 0 {
			due = append(due, l.msg)
			continue
		}
		keep = append(keep, l)
	}
	clear(t.mu.late[len(keep):])
	t.mu.late = keep
	t.nlate.Store(int32(len(keep)))
	return due
}

// stop stops every timer for good, when the machine exits.
func (t *timers) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mu.dead = true
	for k, a := range t.mu.armed {
		a.t.Stop()
		delete(t.mu.armed, k)
	}
	t.mu.late = nil
	t.nlate.Store(0)
}

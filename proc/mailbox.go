package proc

import (
	"sync"
	"sync/atomic"
)

// envelope kinds.
const (
	kindInfo       uint8 = iota // a plain message, handled by HandleInfo
	kindCast                    // a cast, handled by HandleCast
	kindCall                    // a call; msg is *callRequest
	kindSys                     // a system message
	kindParentExit              // an exit signal from the parent to a process trapping exits; msg is Exit
)

// envelope is one entry of a mailbox. It is kept small (a byte and an
// interface) so that queues of millions of messages stay cheap to move.
type envelope struct {
	kind uint8
	size uint32 // bytes tracked for the runtime's Tracker; 0 when untracked
	msg  any
}

// Process status, stored in mailbox.status.
//
//	idle ──push──▶ running ──empty──▶ parked ──push──▶ running
//	  ▲                                  │
//	  └────────── retire (idle a while) ─┘      any ──exit──▶ dead
const (
	statusIdle    uint32 = iota // no goroutine, nothing queued
	statusRunning               // a goroutine owns the process and handles messages
	statusParked                // a goroutine owns the process and waits for messages
	statusDead                  // exited; refuses every message
)

// push modes.
const (
	pushUser   = iota // a user message, subject to the bound
	pushForced        // a signal turned message (EXIT, DOWN): never refused for the bound
	pushSystem        // a system message: handled ahead of user messages
)

// mailbox is a process's queue of user messages plus a priority lane for
// system messages. Any goroutine may enqueue; only the goroutine that owns
// the process dequeues.
//
// The status lives here because every transition that depends on the queues
// being empty happens under the same lock as the enqueues: a sender that
// finds the process idle starts its goroutine, one that finds it parked
// wakes it, and the goroutine only parks or retires after seeing both queues
// empty under the lock. No wake-up is ever lost.
type mailbox struct {
	mu     sync.Mutex
	user   []envelope // user messages in arrival order
	sys    []envelope // system messages, handled before user messages
	status atomic.Uint32
	hasSys atomic.Bool  // len(sys) > 0, readable without the lock
	queued atomic.Int64 // user messages enqueued and not yet handled
	bound  int64        // maximum queued user messages; 0 means unbounded
	// active is the runtime's count of its goroutines. The goroutine that
	// a push to an idle process (or a spawn that ends with messages
	// waiting) starts is counted here, under the lock, so that the count
	// happens before any exit of the process, and before a Close that
	// killed it waits: counted after the lock, it could start behind that
	// wait.
	active *sync.WaitGroup
}

// push queues e. It returns the status the process had, which tells the
// caller whether to start (idle: the goroutine is counted in active
// already) or wake (parked) its goroutine; the process is then running.
func (m *mailbox) push(e envelope, mode int) (prev uint32, err error) {
	m.mu.Lock()
	prev = m.status.Load()
	switch {
	case prev == statusDead:
		m.mu.Unlock()
		return prev, ErrNotAlive
	case mode == pushSystem:
		m.sys = append(m.sys, e)
		m.hasSys.Store(true)
	case mode == pushUser && m.bound > 0 && m.queued.Load() >= m.bound:
		m.mu.Unlock()
		return prev, ErrMailboxFull
	default:
		m.user = append(m.user, e)
		m.queued.Add(1)
	}
	if prev != statusRunning {
		if prev == statusIdle {
			m.active.Add(1) // for the goroutine the caller starts
		}
		m.status.Store(statusRunning)
	}
	m.mu.Unlock()
	return prev, nil
}

// take moves the queued user messages into buf (which must be empty) and
// returns it, together with the pending system messages in sys. When both
// queues are empty it sets the status to next (parked or idle) and returns
// ok=false. It also returns ok=false, leaving the status, once the process
// is dead.
func (m *mailbox) take(buf, sysBuf []envelope, next uint32) (user, sys []envelope, ok bool) {
	m.mu.Lock()
	if m.status.Load() == statusDead {
		m.mu.Unlock()
		return buf, sysBuf, false
	}
	if len(m.user) == 0 && len(m.sys) == 0 {
		m.status.Store(next)
		m.mu.Unlock()
		return buf, sysBuf, false
	}
	user, m.user = m.user, buf
	sys, m.sys = m.sys, sysBuf
	m.hasSys.Store(false)
	m.mu.Unlock()
	return user, sys, true
}

// settle ends the ownership of the goroutine that spawned the process: the
// process goes idle when nothing is queued and stays running (the caller
// must start its goroutine, counted already) otherwise. It returns the
// resulting status.
func (m *mailbox) settle() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.status.Load()
	if st == statusRunning {
		if len(m.user) == 0 && len(m.sys) == 0 {
			st = statusIdle
			m.status.Store(st)
		} else {
			m.active.Add(1)
		}
	}
	return st
}

// takeSys moves only the pending system messages into buf.
func (m *mailbox) takeSys(buf []envelope) []envelope {
	m.mu.Lock()
	sys := m.sys
	m.sys = buf
	m.hasSys.Store(false)
	m.mu.Unlock()
	return sys
}

// retire moves a parked process to idle, so its goroutine can end. It
// reports false when a sender made it running (or it died) meanwhile.
func (m *mailbox) retire() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.status.Load() != statusParked {
		return false
	}
	m.status.Store(statusIdle)
	return true
}

// close marks the mailbox dead and returns what was still queued, so the
// caller can fail pending calls, and the status it had.
func (m *mailbox) close() (user, sys []envelope, prev uint32) {
	m.mu.Lock()
	prev = m.status.Load()
	if prev == statusDead {
		m.mu.Unlock()
		return nil, nil, prev
	}
	m.status.Store(statusDead)
	user, sys = m.user, m.sys
	m.user, m.sys = nil, nil
	m.hasSys.Store(false)
	m.queued.Store(0)
	m.mu.Unlock()
	return user, sys, prev
}

// len returns the number of user messages waiting to be handled.
func (m *mailbox) len() int { return int(m.queued.Load()) }

package proc

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/clock"
)

// Process is a running process as seen from its own callbacks: the self
// handle passed to every Behavior method. Its methods that act on other
// processes (Send, Call, Link, Monitor, Spawn...) are safe from any
// goroutine; Stop and Continue only make sense inside a callback.
type Process struct {
	rt       *Runtime
	pid      PID
	beh      Behavior
	parentID uint64 // the ID of the spawning process, on this runtime; 0 for none
	mbox     mailbox
	trap     atomic.Bool
	swept    atomic.Bool   // on the sweeper's list of parked processes
	parkedAt atomic.Uint64 // the sweeper's epoch when the process last parked

	// Fields below are owned by the goroutine running the process.
	buf, sysBuf []envelope
	batch       []envelope   // user messages taken from the mailbox, not yet handled
	inCall      *callRequest // the call being handled, answered if the callback panics
	ext         *runState    // nil until a callback stops, continues, times out, hibernates or suspends

	wake chan struct{}           // wakes the parked goroutine; created by its first run
	peer atomic.Pointer[Process] // the process p last sent to, to skip the table next time
	note atomic.Pointer[exitNote]
	dbg  atomic.Pointer[debugState] // statistics and trace, while turned on

	metaMu sync.Mutex
	meta   *procMeta // nil until the process links, monitors, names or times anything
}

// runState is the part of a process that only its running goroutine
// touches and that most processes never need. Allocated on first use.
type runState struct {
	stopping   bool
	stopReason error
	conts      []any
	idleAfter  time.Duration // asked with IdleTimeout in the current callback
	idleArmed  bool          // an idle timer runs: idleRef, for generation idleGen
	idleRef    Ref
	idleGen    uint64
	hibernate  bool       // asked with Hibernate in the current callback
	hibernated bool       // compacted: go idle at once when out of messages
	suspended  bool       // handles system messages only (Runtime.Suspend)
	held       []envelope // user messages taken while suspended, in order
}

// rs returns p's runState, allocating it. Only p's running goroutine may
// call it.
func (p *Process) rs() *runState {
	if p.ext == nil {
		p.ext = &runState{}
	}
	return p.ext
}

// exitNote tells waiters that a process has exited: done is closed once its
// exit has been handled (links, monitors and watchers told), and reason is
// set before.
type exitNote struct {
	done   chan struct{}
	reason error
}

// exitNote returns the note of p's exit, creating it on first use: callers
// wait on it next to their answer, as an OTP call monitors its callee.
func (p *Process) exitNote() *exitNote {
	if n := p.note.Load(); n != nil {
		return n
	}
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	if n := p.note.Load(); n != nil {
		return n
	}
	n := &exitNote{done: make(chan struct{})}
	if m := p.meta; m != nil && m.told {
		n.reason = m.reason
		close(n.done)
	}
	p.note.Store(n)
	return n
}

// procMeta is the rarely used part of a process, allocated on first use so
// that an idle process stays small. Guarded by Process.metaMu.
type procMeta struct {
	dead     bool // exited: refuses new links, monitors, timers and names
	told     bool // the exit has been handled: links, monitors and watchers told
	reason   error
	name     string
	links    map[PID]struct{}
	monitors map[Ref]PID            // monitors held by this process: ref → target
	watchers map[Ref]watcher        // monitors on this process: ref → who to tell
	timers   map[uint64]clock.Timer // live timers by Ref.ID
	// timerDrops counts timer messages of this process refused by a full
	// mailbox.
	timerDrops uint64
	ctx        context.Context
	cancel     context.CancelFunc
	label      string       // SetLabel
	logAttrs   []slog.Attr  // SetLogAttrs
	logger     *slog.Logger // the runtime's logger With the above; nil until asked for
}

// watcher is a monitor on a process: either another process (pid) or a
// function (fn) installed with Runtime.Watch.
type watcher struct {
	pid   PID
	fn    func(PID, error)
	first bool // fn runs before the links and monitors are told (OnExit)
	call  bool // fn answers a call from another node: not counted in Info.Watchers
}

// metaLocked returns p.meta, allocating it. p.metaMu must be held.
func (p *Process) metaLocked() *procMeta {
	if p.meta == nil {
		p.meta = &procMeta{}
	}
	return p.meta
}

// Self returns the process's PID.
func (p *Process) Self() PID { return p.pid }

// Parent returns the PID of the process that spawned this one, or the zero
// PID for a process spawned from outside any process.
func (p *Process) Parent() PID {
	if p.parentID == 0 {
		return PID{}
	}
	return PID{Node: p.rt.name, Creation: p.rt.creation, ID: p.parentID}
}

// Runtime returns the runtime the process lives in.
func (p *Process) Runtime() *Runtime { return p.rt }

// Behavior returns the process's callback module.
func (p *Process) Behavior() Behavior { return p.beh }

// Context returns a context that is cancelled when the process exits, for
// blocking work inside callbacks: a callback cannot be pre-empted, so
// long-running callbacks should watch this context to stop promptly when the
// process is killed. It also names the process: the Runtime's Call, CallTo,
// Stop and Inspect given this context (or one derived from it) know their
// caller, and a call to the process itself fails with ErrCallToSelf
// instead of waiting for the context to end.
func (p *Process) Context() context.Context {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	m := p.metaLocked()
	if m.ctx == nil {
		m.ctx, m.cancel = context.WithCancel(context.WithValue(p.rt.ctx, selfKey{}, p.pid))
		if m.dead {
			m.cancel()
		}
	}
	return m.ctx
}

// TrapExit sets whether exit signals from linked processes arrive as Exit
// messages (true) or kill the process when abnormal (false, the default).
func (p *Process) TrapExit(on bool) { p.trap.Store(on) }

// TrappingExits reports whether the process traps exits.
func (p *Process) TrappingExits() bool { return p.trap.Load() }

// Stop makes the process stop with reason once the current callback returns.
// Terminate is called first. Use ErrNormal for a clean stop.
func (p *Process) Stop(reason error) {
	if reason == nil {
		reason = ErrNormal
	}
	s := p.rs()
	s.stopping = true
	s.stopReason = reason
}

// Continue asks for HandleContinue(cont) to run right after the current
// callback, before any other message. The behaviour must implement Continuer.
func (p *Process) Continue(cont any) {
	s := p.rs()
	s.conts = append(s.conts, cont)
}

// Alive reports whether the process has not exited.
func (p *Process) Alive() bool { return p.mbox.status.Load() != statusDead }

// schedule starts the goroutine that runs p. The caller has moved p from
// idle to running, and counted the goroutine in rt.active under the
// mailbox's lock (mailbox.push, mailbox.settle).
func (p *Process) schedule() {
	go p.run()
}

// activate gets a goroutine handling p's messages after a push found p with
// status prev: it starts one for an idle process and wakes a parked one.
func (p *Process) activate(prev uint32) {
	switch prev {
	case statusIdle:
		p.schedule()
	case statusParked:
		select {
		case p.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// run handles messages until the process exits or stays without messages
// for a while. It is the only goroutine that runs callbacks of p.
func (p *Process) run() {
	defer p.rt.active.Done()
	defer p.recoverCrash()
	if p.wake == nil {
		p.wake = make(chan struct{}, 1)
	}
	for {
		next := statusParked
		if s := p.ext; s != nil && s.hibernated {
			// Hibernating: out of messages, go idle at once, buffers
			// dropped.
			next = statusIdle
			p.buf, p.sysBuf = nil, nil
		}
		user, sys, ok := p.mbox.take(p.buf[:0], p.sysBuf[:0], next)
		if !ok {
			if next != statusIdle && p.park() {
				continue
			}
			if p.isDead() {
				p.failBatch()
			}
			return
		}
		p.batch, p.sysBuf = user, sys
		if !p.handleSys(sys) {
			p.failBatch()
			return
		}
		if s := p.ext; s != nil {
			s.hibernated = false
			if s.suspended || len(s.held) > 0 {
				if !p.runHeld(user) {
					return
				}
				p.buf = user[:0]
				continue
			}
		}
		if !p.runBatch() {
			return
		}
		p.buf = user
	}
}

// runBatch handles the user messages of p.batch in order, and the system
// messages that come meanwhile. It reports false when the process has
// exited. A system message that suspends the process holds the rest of the
// batch.
func (p *Process) runBatch() bool {
	for len(p.batch) > 0 {
		if p.mbox.hasSys.Load() {
			p.sysBuf = p.mbox.takeSys(p.sysBuf[:0])
			if !p.handleSys(p.sysBuf) {
				p.failBatch()
				return false
			}
			if s := p.ext; s != nil && s.suspended {
				s.held = append(s.held, p.batch...)
				clear(p.batch)
				p.batch = nil
				return true
			}
		}
		e := p.batch[0]
		p.rt.untrack(&e)
		p.batch[0] = envelope{}
		p.batch = p.batch[1:]
		// The message being handled no longer counts against the
		// mailbox bound, as in Erlang's message queue length.
		p.mbox.queued.Add(-1)
		if !p.dispatch(e) {
			p.failBatch()
			return false
		}
	}
	return true
}

// runHeld handles a batch of a suspended process, or of one resumed with
// messages held: a suspended process holds its user messages (only an exit
// signal from its parent acts, as in OTP's sys loop); a resumed one handles
// the held messages first. It reports false when the process has exited.
func (p *Process) runHeld(user []envelope) bool {
	s := p.ext
	if s.suspended {
		for i, e := range user {
			if e.kind == kindParentExit {
				p.batch = append(append(s.held, user[:i]...), user[i+1:]...)
				s.held = nil
				p.terminate(e.msg.(Exit).Reason)
				p.failBatch()
				return false
			}
		}
		s.held = append(s.held, user...)
		clear(user)
		p.batch = nil
		return true
	}
	p.batch = append(s.held, user...)
	s.held = nil
	clear(user)
	return p.runBatch()
}

// park waits for a message with the goroutine kept, so that a busy exchange
// of messages does not pay for starting goroutines. A process parked for a
// whole retirement period goes idle and gives its goroutine up. park
// reports whether there is work again; false means the goroutine must end.
//
// Every token on p.wake means "look at the status again": senders send one
// after taking the process out of parked, the sweeper sends one to nudge a
// parked process to consider retiring. A spare token only costs a spurious
// look.
func (p *Process) park() bool {
	if p.mbox.status.Load() == statusDead {
		return false
	}
	since := p.rt.sweep.epoch.Load()
	p.parkedAt.Store(since)
	p.rt.sweep.track(p)
	// Yield once before blocking: a process we just sent to often runs
	// now and answers, and finding the answer without having blocked saves
	// a goroutine wake-up on each side of an exchange.
	runtime.Gosched()
	if p.mbox.status.Load() != statusParked {
		select {
		case <-p.wake:
		default:
		}
		return p.mbox.status.Load() != statusDead
	}
	for {
		<-p.wake
		switch p.mbox.status.Load() {
		case statusParked:
			if p.rt.sweep.epoch.Load() < since+2 {
				continue
			}
			// The buffers are ours until retire lets the process go.
			p.release()
			if p.mbox.retire() {
				return false
			}
		case statusDead:
			return false
		default:
			return true
		}
	}
}

// release drops the buffers of a process going idle when they have grown
// large, so that many idle processes stay small.
func (p *Process) release() {
	if cap(p.buf) > 256 {
		p.buf = nil
	}
	if cap(p.sysBuf) > 16 {
		p.sysBuf = nil
	}
}

// recoverCrash turns a panic in a callback into the process's exit.
func (p *Process) recoverCrash() {
	if v := recover(); v != nil {
		reason := &CrashError{Value: v, Stack: debug.Stack()}
		p.Logger().Error("process crashed", slog.Any("panic", v))
		p.terminate(reason)
		if c := p.inCall; c != nil {
			p.inCall = nil
			p.failCall(c)
		}
		failCalls(p, p.sysBuf) // the rest of a batch of system requests
		p.failBatch()
	}
}

// dispatch runs the callback for one message and the continuations it asks
// for. It reports false when the process has exited.
func (p *Process) dispatch(e envelope) bool {
	if p.mbox.status.Load() == statusDead {
		if e.kind == kindCall {
			p.failCall(e.msg.(*callRequest))
		}
		return false
	}
	if s := p.ext; s != nil { // only such a process has idle timeouts
		if im, ok := e.msg.(idleMsg); ok && e.kind == kindInfo {
			if !s.idleArmed || im.gen != s.idleGen {
				return true // an idle timeout that a message cancelled
			}
			s.idleArmed = false
			e.msg = Timeout{After: im.after}
		} else if s.idleArmed {
			p.disarmIdle(s) // a message came: no idle timeout
		}
	}
	if d := p.dbg.Load(); d != nil {
		d.received(p, e)
	}
	switch e.kind {
	case kindInfo:
		p.beh.HandleInfo(p, e.msg)
	case kindCast:
		p.beh.HandleCast(p, e.msg)
	case kindCall:
		p.handleCall(e.msg.(*callRequest))
	case kindParentExit:
		// OTP behaviours terminate rather than see it as a message.
		p.terminate(e.msg.(Exit).Reason)
		return false
	}
	return p.afterCallback()
}

// afterCallback runs pending continuations and a requested stop, then the
// hibernation and the idle timeout the callbacks asked for.
func (p *Process) afterCallback() bool {
	s := p.ext
	if s == nil {
		return p.mbox.status.Load() != statusDead
	}
	for len(s.conts) > 0 && !s.stopping {
		c := s.conts[0]
		s.conts = s.conts[1:]
		if k, ok := p.beh.(Continuer); ok {
			k.HandleContinue(p, c)
		} else {
			p.Logger().Warn("Continue without HandleContinue")
		}
	}
	if s.stopping {
		p.terminate(s.stopReason)
		return false
	}
	if p.mbox.status.Load() == statusDead {
		return false
	}
	if s.hibernate {
		p.compact(s)
	}
	if s.idleAfter > 0 {
		p.armIdle(s)
	}
	return true
}

func (p *Process) handleCall(c *callRequest) {
	p.inCall = c
	reply, err := p.beh.HandleCall(p, c.from, c.req)
	p.inCall = nil
	if _, deferred := reply.(noReply); deferred && err == nil {
		return // answered later with From.Reply, or failed by the exit
	}
	c.from.Reply(reply, err)
}

// handleSys handles system messages. It reports false when the process has
// exited.
func (p *Process) handleSys(sys []envelope) bool {
	for i := range sys {
		m := sys[i].msg
		sys[i] = envelope{}
		switch m := m.(type) {
		case *callRequest:
			v, err := p.handleSysCall(m.req)
			m.from.Reply(v, err)
		case sysStop:
			p.terminate(m.reason)
			failCalls(p, sys[i+1:])
			return false
		case sysContinue:
			if !p.afterCallback() {
				failCalls(p, sys[i+1:])
				return false
			}
		}
	}
	return p.mbox.status.Load() != statusDead
}

// terminate calls Terminate (when the behaviour has it) and exits.
func (p *Process) terminate(reason error) {
	if t, ok := p.beh.(Terminator); ok && p.mbox.status.Load() != statusDead {
		func() {
			defer func() {
				if v := recover(); v != nil {
					reason = &CrashError{Value: v, Stack: debug.Stack()}
				}
			}()
			t.Terminate(p, reason)
		}()
	}
	p.exit(reason)
}

// failBatch answers the calls left in the batch of a process that exited,
// and among the messages it held.
func (p *Process) failBatch() {
	failCalls(p, p.batch)
	p.batch = nil
	if s := p.ext; s != nil {
		failCalls(p, s.held)
		s.held = nil
	}
}

// failCalls answers the calls among envelopes with p's exit.
func failCalls(p *Process, envelopes []envelope) {
	for i := range envelopes {
		p.rt.untrack(&envelopes[i])
		if c, ok := envelopes[i].msg.(*callRequest); ok { // a call or a system request
			p.failCall(c)
		}
		envelopes[i] = envelope{}
	}
}

func (p *Process) failCall(c *callRequest) {
	c.from.Reply(nil, &ExitError{PID: p.pid, Reason: p.exitReason()})
}

// exitReason returns the reason the process exited with, ErrNoProc if it is
// unknown.
func (p *Process) exitReason() error {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	if p.meta != nil && p.meta.reason != nil {
		return p.meta.reason
	}
	return ErrNoProc
}

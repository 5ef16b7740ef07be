package statem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/grovedev/grove/proc"
)

// Behavior is the callback module of a state machine in the handle-event
// style (OTP's handle_event_function): one callback for every state, with
// states of any comparable type S. For the state-functions style, embed a
// StateFunctions table, which provides HandleEvent.
//
// The callbacks run on the machine's process, one at a time and never
// concurrently, so the behaviour keeps its data in its own fields without
// locks.
type Behavior[S comparable] interface {
	// Init returns the initial state and the actions of the initial
	// transition (time-outs, inserted events). It runs on the goroutine
	// that spawns the process, followed by the initial transition; an
	// error aborts the start and is returned by Spawn, while a stop or a
	// crash of the initial transition ends the started machine (see the
	// package documentation).
	Init(m *Machine[S]) (S, []Action, error)
	// HandleEvent handles ev in state and returns the transition to make.
	// With WithStateEnter, it also receives the EnterEvent of every state
	// entered.
	HandleEvent(m *Machine[S], state S, ev Event) Result[S]
}

// Terminator is implemented by behaviours that clean up when the machine
// stops: after a Stop result, a panic in a callback, or a shutdown from its
// supervisor (it traps exits), as proc.Terminator. It is not called when
// the process is killed.
type Terminator[S comparable] interface {
	Terminate(m *Machine[S], state S, reason error)
}

// Option configures a machine.
type Option func(*options)

type options struct {
	enter bool
}

// WithStateEnter turns on state enter calls (OTP's state_enter callback
// mode): HandleEvent receives an EnterEvent when the machine starts, after
// every state change and after Repeat, before any other event of the
// state. An enter call may set time-outs, reply, Repeat or Stop, but not
// change the state, postpone or insert events.
func WithStateEnter() Option { return func(o *options) { o.enter = true } }

// Machine is a running state machine as seen from its callbacks. Its
// methods Next, Keep, Repeat and Stop build the Result a callback returns;
// Process gives the underlying process, to send, call, link, monitor or
// spawn.
type Machine[S comparable] struct {
	beh      Behavior[S]
	opts     options
	p        *proc.Process
	c        *core[S]
	tm       *timers
	stopping bool
}

// initialExit is the continuation that stops a machine whose initial
// transition stopped or crashed.
type initialExit struct{ reason error }

// Process returns the machine's process.
func (m *Machine[S]) Process() *proc.Process { return m.p }

// Self returns the machine's PID.
func (m *Machine[S]) Self() proc.PID { return m.p.Self() }

// State returns the current state. In an enter call, it is the state
// entered.
func (m *Machine[S]) State() S { return m.c.state }

// New returns the behaviour of a process running the state machine beh, to
// pass to Runtime.Spawn or Process.Spawn, or to return from a
// supervisor.ChildSpec's Start.
func New[S comparable](beh Behavior[S], opts ...Option) proc.Behavior {
	m := &Machine[S]{beh: beh}
	for _, o := range opts {
		o(&m.opts)
	}
	return &server[S]{m: m}
}

// server is the proc.Behavior of a machine. It is a type apart so that
// the proc callbacks do not show on Machine.
type server[S comparable] struct{ m *Machine[S] }

var (
	_ proc.Behavior   = (*server[int])(nil)
	_ proc.Terminator = (*server[int])(nil)
	_ proc.Inspector  = (*server[int])(nil)
	_ proc.Continuer  = (*server[int])(nil)
	_ driver          = (*Machine[int])(nil)
)

// Init runs the behaviour's Init and the initial transition: the actions
// Init returned, the first enter call and the events they lead to, so that
// the time-outs they set start from the spawn. As in OTP, the machine has
// started once Init returns: a stop or a crash of the initial transition
// is an exit of the started process (right after Spawn returns, before any
// message), not a failed start.
func (s *server[S]) Init(p *proc.Process) error {
	m := s.m
	if m.beh == nil {
		return errors.New("statem: nil behavior")
	}
	m.p = p
	m.c = newCore[S](m, m.opts.enter)
	m.tm = newTimers(p.Runtime(), p.Self())
	p.Runtime().OnExit(p.Self(), func(proc.PID, error) { m.tm.stop() })
	st, actions, err := m.beh.Init(m)
	if err != nil {
		return err
	}
	if reason := m.start(st, actions); reason != nil {
		p.Continue(initialExit{reason})
	}
	return nil
}

// start runs the initial transition and returns the reason the machine
// stopped in it, a *proc.CrashError if a callback panicked.
func (m *Machine[S]) start(st S, actions []Action) (reason error) {
	defer func() {
		if v := recover(); v != nil {
			reason = &proc.CrashError{Value: v, Stack: debug.Stack()}
		}
	}()
	m.c.start(st, actions, m.handle)
	if m.c.stopped {
		return m.c.reason
	}
	return nil
}

// HandleContinue stops a machine whose initial transition ended it. A
// machine has no other continuations: it inserts events (NextEvent).
func (s *server[S]) HandleContinue(p *proc.Process, cont any) {
	ie, ok := cont.(initialExit)
	if !ok {
		p.Logger().Warn("statem: Continue on a state machine (insert an event with NextEvent instead)",
			slog.String("pid", p.Self().String()), slog.Any("cont", cont))
		return
	}
	if !s.m.stopping {
		s.m.stopping = true
		var crash *proc.CrashError
		if errors.As(ie.reason, &crash) {
			// Reported as the runtime reports any callback's panic.
			p.Logger().Error("process crashed", slog.String("pid", p.Self().String()), slog.Any("panic", crash.Value),
				slog.String("in", "statem initial transition"))
		}
		p.Stop(ie.reason)
	}
}

// HandleCall handles a call event. Its answer is sent by a Reply action,
// now or in a later transition.
func (s *server[S]) HandleCall(_ *proc.Process, from proc.From, req any) (any, error) {
	m := s.m
	m.c.deliver(Event{Type: CallEvent, From: from, Content: req}, m.handle)
	m.afterEvent()
	return proc.NoReply, nil
}

// HandleCast handles a cast event.
func (s *server[S]) HandleCast(_ *proc.Process, msg any) {
	m := s.m
	m.c.deliver(Event{Type: CastEvent, Content: msg}, m.handle)
	m.afterEvent()
}

// HandleInfo handles an info event or the expiry of a time-out.
func (s *server[S]) HandleInfo(_ *proc.Process, msg any) {
	m := s.m
	if t, ok := msg.(timerMsg); ok {
		m.c.fire(t.key, t.gen, m.handle)
	} else {
		m.c.deliver(Event{Type: InfoEvent, Content: msg}, m.handle)
	}
	m.afterEvent()
}

// Terminate calls the behaviour's Terminate.
func (s *server[S]) Terminate(_ *proc.Process, reason error) {
	m := s.m
	if t, ok := m.beh.(Terminator[S]); ok && m.c != nil {
		t.Terminate(m, m.c.state, reason)
	}
}

// Inspect returns the machine's Status.
func (s *server[S]) Inspect() any {
	m := s.m
	st := Status[S]{}
	if m.c == nil {
		return st
	}
	st.State = m.c.state
	st.Postponed = len(m.c.postponed)
	st.Timeouts = m.c.timeouts()
	if in, ok := m.beh.(proc.Inspector); ok {
		st.Data = in.Inspect()
	}
	return st
}

func (m *Machine[S]) handle(state S, ev Event) Result[S] { return m.beh.HandleEvent(m, state, ev) }

// afterEvent runs after every message the machine handled: it hands the
// core the expiries a full mailbox refused that are now due, and stops
// the process once the core has stopped.
func (m *Machine[S]) afterEvent() {
	for _, t := range m.tm.handled() {
		m.c.fire(t.key, t.gen, m.handle)
	}
	if m.c.stopped && !m.stopping {
		m.stopping = true
		m.p.Stop(m.c.reason)
	}
}

func (m *Machine[S]) arm(key timerKey, gen uint64, d time.Duration) { m.tm.arm(key, gen, d) }

func (m *Machine[S]) disarm(key timerKey, gen uint64) { m.tm.disarm(key, gen) }

// armAt arms a timer for an absolute time; one already due expires at
// once, after the messages already received.
func (m *Machine[S]) armAt(key timerKey, gen uint64, at time.Time) {
	m.tm.arm(key, gen, at.Sub(m.p.Runtime().Clock().Now()))
}

// reply sends the answer at once, in the order of the actions: a caller
// answered by a transition does not wait for the rest of the machine's
// work, which may itself depend on that caller.
func (m *Machine[S]) reply(to replier, v any, err error) { to.Reply(v, err) }

// Status is what Runtime.Inspect returns for a machine (see Inspect).
type Status[S comparable] struct {
	State     S
	Postponed int           // events postponed in the current state
	Timeouts  []TimeoutInfo // running time-outs
	Data      any           // the behaviour's own Inspect, if it is a proc.Inspector
}

// Inspect returns the status of the local machine pid, whose states are of
// type S. The question jumps ahead of queued messages.
func Inspect[S comparable](ctx context.Context, rt *proc.Runtime, pid proc.PID) (Status[S], error) {
	v, err := rt.Inspect(ctx, pid)
	if err != nil {
		return Status[S]{}, err
	}
	st, ok := v.(Status[S])
	if !ok {
		var zero S
		return Status[S]{}, fmt.Errorf("statem: %v is not a state machine with states of type %T (it answered %T)", pid, zero, v)
	}
	return st, nil
}

// StateOf returns the current state of the local machine pid.
func StateOf[S comparable](ctx context.Context, rt *proc.Runtime, pid proc.PID) (S, error) {
	st, err := Inspect[S](ctx, rt, pid)
	return st.State, err
}

// StateFunc is the callback of one state in the state-functions style
// (OTP's state_functions): it handles every event of its state, including
// its EnterEvent with WithStateEnter.
type StateFunc[S comparable] func(m *Machine[S], ev Event) Result[S]

// StateFunctions maps each state to its callback. Embed it in a behaviour
// to write the machine in the state-functions style; its HandleEvent calls
// the function of the current state. A state without a function stops the
// machine with an error wrapping ErrUnknownState.
type StateFunctions[S comparable] map[S]StateFunc[S]

// HandleEvent calls the function of state.
func (f StateFunctions[S]) HandleEvent(m *Machine[S], state S, ev Event) Result[S] {
	fn := f[state]
	if fn == nil {
		return m.Stop(fmt.Errorf("%w: %v", ErrUnknownState, state))
	}
	return fn(m, ev)
}

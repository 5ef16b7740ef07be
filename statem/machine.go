package statem

import (
	"context"
	"errors"
	"fmt"
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
	// that spawns the process; an error aborts the start and is returned
	// by Spawn.
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
	beh  Behavior[S]
	opts options
	p    *proc.Process
	c    *core[S]
	refs map[timerKey]armed
	// cur is the call being handled: a reply to it during the callback is
	// returned by HandleCall rather than sent apart.
	cur struct {
		from            proc.From
		active, replied bool
		v               any
		err             error
	}
	stopping bool
}

type armed struct {
	gen uint64
	ref proc.Ref
}

// timerMsg is the message of an expired time-out to the machine itself.
type timerMsg struct {
	key timerKey
	gen uint64
}

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
	_ driver          = (*Machine[int])(nil)
)

// Init runs the behaviour's Init and the initial transition.
func (s *server[S]) Init(p *proc.Process) error {
	m := s.m
	if m.beh == nil {
		return errors.New("statem: nil behavior")
	}
	m.p = p
	m.c = newCore[S](m, m.opts.enter)
	m.refs = make(map[timerKey]armed)
	st, actions, err := m.beh.Init(m)
	if err != nil {
		return err
	}
	m.c.start(st, actions, m.handle)
	if m.c.stopped {
		return m.c.reason
	}
	return nil
}

// HandleCall handles a call event. The answer is a Reply action, now or
// later.
func (s *server[S]) HandleCall(_ *proc.Process, from proc.From, req any) (any, error) {
	m := s.m
	m.cur.from, m.cur.active = from, true
	m.c.deliver(Event{Type: CallEvent, From: from, Content: req}, m.handle)
	replied, v, err := m.cur.replied, m.cur.v, m.cur.err
	m.cur.from, m.cur.active, m.cur.replied, m.cur.v, m.cur.err = proc.From{}, false, false, nil, nil
	m.afterEvent()
	if replied {
		return v, err
	}
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
		if a, ok := m.refs[t.key]; ok && a.gen == t.gen {
			delete(m.refs, t.key)
		}
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

// afterEvent stops the process once the core has stopped.
func (m *Machine[S]) afterEvent() {
	if m.c.stopped && !m.stopping {
		m.stopping = true
		m.p.Stop(m.c.reason)
	}
}

func (m *Machine[S]) arm(key timerKey, gen uint64, d time.Duration) {
	m.refs[key] = armed{gen: gen, ref: m.p.SendAfter(d, timerMsg{key: key, gen: gen})}
}

func (m *Machine[S]) disarm(key timerKey, gen uint64) {
	if a, ok := m.refs[key]; ok && a.gen == gen {
		m.p.CancelTimer(a.ref)
		delete(m.refs, key)
	}
}

func (m *Machine[S]) reply(to replier, v any, err error) {
	if f, ok := to.(proc.From); ok && m.cur.active && f == m.cur.from {
		if !m.cur.replied {
			m.cur.replied, m.cur.v, m.cur.err = true, v, err
		}
		return
	}
	to.Reply(v, err)
}

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

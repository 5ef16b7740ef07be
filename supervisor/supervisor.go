package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor/internal/lifecycle"
)

// sup is the behaviour of a supervisor process. Its callbacks run one at a
// time on the supervisor's process; the decisions are taken by core, and
// this type carries them out.
type sup struct {
	proc.Base
	spec Spec
	p    *proc.Process
	c    *core
}

var (
	_ proc.Behavior   = (*sup)(nil)
	_ proc.Terminator = (*sup)(nil)
	_ proc.Inspector  = (*sup)(nil)
)

// restartMsg asks the supervisor to carry out the pending restart tok.
type restartMsg struct{ tok uint64 }

// New returns the behaviour of a supervisor for spec, to spawn (for
// instance from a parent supervisor's ChildSpec.Start) or to pass to
// Runtime.Spawn. The spec is validated when the process starts: its Init
// fails with the validation error, or with a *StartError when a child fails
// to start (the children already started are stopped first, in reverse
// order).
func New(spec Spec) proc.Behavior {
	spec.Children = append([]ChildSpec(nil), spec.Children...)
	return &sup{spec: spec}
}

// Start spawns a supervisor for spec on rt, with no parent, and returns once
// all its children have started. Use StartApp for the root of a node's
// tree, and New for supervisors under other supervisors.
func Start(rt *proc.Runtime, spec Spec, opts ...proc.SpawnOption) (proc.PID, error) {
	return rt.Spawn(New(spec), opts...)
}

// Init starts the children in order.
func (s *sup) Init(p *proc.Process) error {
	if err := s.spec.Validate(); err != nil {
		return err
	}
	s.p = p
	p.TrapExit(true)
	s.c = newCore(s.spec)
	for _, k := range s.c.kids {
		pid, err := spawnChild(p, k.spec)
		if err != nil {
			s.stop(s.c.stopAll())
			return &StartError{ID: k.spec.ID, Err: err}
		}
		s.c.started(k, pid, s.now())
	}
	return nil
}

// spawnChild spawns the child of cs under p, linked.
func spawnChild(p *proc.Process, cs ChildSpec) (proc.PID, error) {
	return cs.Spawn(p)
}

// HandleInfo handles the exits of children and pending restarts.
func (s *sup) HandleInfo(p *proc.Process, msg any) {
	switch m := msg.(type) {
	case proc.Exit:
		eff, ok := s.c.exited(m.From, m.Reason, s.now())
		if !ok {
			if m.From == p.Parent() {
				// Only reached for a supervisor without parent, told to
				// exit from outside any process.
				p.Stop(m.Reason)
			}
			return
		}
		if !proc.IsNormalExit(m.Reason) && !proc.IsShutdown(m.Reason) {
			p.Logger().Error("supervisor: child terminated", slog.String("supervisor", p.Self().String()),
				slog.String("child", m.From.String()), slog.Any("reason", m.Reason))
		}
		s.apply(eff)
	case restartMsg:
		s.restart(m.tok)
	default:
		s.Base.HandleInfo(p, msg)
	}
}

// apply carries out the effects of a decision of the core.
func (s *sup) apply(eff effects) {
	s.stop(eff.stop)
	switch {
	case eff.escalate:
		s.giveUp()
	case eff.shutdown:
		s.autoShutdown()
	case eff.tok == 0:
	case eff.delay > 0:
		s.p.SendAfter(eff.delay, restartMsg{tok: eff.tok})
	default:
		s.restart(eff.tok)
	}
}

// restart starts the children waiting for the restart tok, in order.
func (s *sup) restart(tok uint64) {
	batch := s.c.due(tok)
	for _, k := range batch {
		pid, err := spawnChild(s.p, k.spec)
		if errors.Is(err, proc.ErrRuntimeClosed) {
			// The runtime is closing and stops every process anyway.
			s.p.Stop(proc.ErrShutdown)
			return
		}
		if err != nil {
			s.p.Logger().Error("supervisor: restart failed", slog.String("supervisor", s.p.Self().String()),
				slog.String("child", k.spec.ID), slog.Any("err", err))
			eff := s.c.startFailed(batch, k, s.now())
			if eff.tok != 0 && eff.delay == 0 {
				// Try again after the messages already queued, as OTP does.
				s.stop(eff.stop)
				_ = s.p.Send(s.p.Self(), restartMsg{tok: eff.tok})
				return
			}
			s.apply(eff)
			return
		}
		s.c.started(k, pid, s.now())
	}
}

// giveUp makes the supervisor exit after too many restarts; Terminate stops
// the children.
func (s *sup) giveUp() {
	s.p.Logger().Error("supervisor: reached maximum restart intensity, shutting down",
		slog.String("supervisor", s.p.Self().String()))
	s.p.Stop(proc.ShutdownError{Reason: ErrMaxRestarts})
}

// Terminate stops every child, in reverse start order.
func (s *sup) Terminate(_ *proc.Process, _ error) {
	if s.c != nil {
		s.stop(s.c.stopAll())
	}
}

// stop stops the processes of orders one after the other.
func (s *sup) stop(orders []stopOrder) {
	if len(orders) == 0 {
		return
	}
	targets := make([]lifecycle.Target, len(orders))
	for i, o := range orders {
		targets[i] = lifecycle.Target{PID: o.pid, Timeout: o.shutdown}
	}
	lifecycle.Sequential(s.p, targets)
}

func (s *sup) now() time.Time { return s.p.Runtime().Clock().Now() }

// HandleCall answers the requests of the functions of api.go.
func (s *sup) HandleCall(p *proc.Process, _ proc.From, req any) (any, error) {
	switch r := req.(type) {
	case whichChildrenReq:
		return s.which(), nil
	case countChildrenReq:
		return s.count(), nil
	case terminateChildReq:
		o, err := s.c.terminate(r.id)
		if o != nil {
			s.stop([]stopOrder{*o})
		}
		return nil, err
	case restartChildReq:
		k, err := s.c.restartable(r.id)
		if err != nil {
			return proc.PID{}, err
		}
		pid, err := spawnChild(p, k.spec)
		if err != nil {
			return proc.PID{}, &StartError{ID: k.spec.ID, Err: err}
		}
		s.c.started(k, pid, s.now())
		return pid, nil
	case deleteChildReq:
		return nil, s.c.delete(r.id)
	case startChildReq:
		return s.startChild(r.spec)
	}
	return nil, proc.ErrUnhandled
}

func (s *sup) startChild(cs ChildSpec) (proc.PID, error) {
	if err := cs.Validate(); err != nil {
		return proc.PID{}, err
	}
	if err := s.spec.AutoShutdown.allows(cs); err != nil {
		return proc.PID{}, err
	}
	if i := s.c.find(cs.ID); i >= 0 {
		if k := s.c.kids[i]; k.state == stateRunning {
			return proc.PID{}, fmt.Errorf("%w: %q is %v", ErrAlreadyStarted, cs.ID, k.pid)
		}
		return proc.PID{}, fmt.Errorf("%w: %q", ErrAlreadyPresent, cs.ID)
	}
	cs = cs.withDefaults()
	pid, err := spawnChild(s.p, cs)
	if err != nil {
		return proc.PID{}, &StartError{ID: cs.ID, Err: err}
	}
	k := &child{spec: cs}
	s.c.kids = append(s.c.kids, k)
	s.c.started(k, pid, s.now())
	return pid, nil
}

func (s *sup) which() []ChildInfo {
	out := make([]ChildInfo, len(s.c.kids))
	for i, k := range s.c.kids {
		out[i] = ChildInfo{ID: k.spec.ID, PID: k.pid, Type: k.spec.Type, Restart: k.spec.Restart, Status: k.state.status(), Significant: k.spec.Significant}
	}
	return out
}

func (s *sup) count() Counts {
	var n Counts
	for _, k := range s.c.kids {
		n.Specs++
		if k.state == stateRunning {
			n.Active++
		}
		if k.spec.Type == Supervisor {
			n.Supervisors++
		} else {
			n.Workers++
		}
	}
	return n
}

// Inspect returns the children, as WhichChildren does.
func (s *sup) Inspect() any {
	if s.c == nil {
		return []ChildInfo(nil)
	}
	return s.which()
}

func (st childState) status() ChildStatus {
	switch st {
	case stateRunning:
		return StatusRunning
	case stateRestarting:
		return StatusRestarting
	}
	return StatusStopped
}

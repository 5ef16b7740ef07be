// Package dynamic is a supervisor of children started on demand, like
// Elixir's DynamicSupervisor (OTP's simple_one_for_one): it starts with no
// children, StartChild adds one, and each child is restarted on its own
// (one for one) according to its restart type.
//
// Children are identified by PID; a restarted child gets a new PID. The
// supervisor traps exits, counts restarts against its intensity (more than
// Intensity within Period makes it stop every child and exit with
// proc.ShutdownError{Reason: supervisor.ErrMaxRestarts}), and ignores exits
// of processes that are not its children. When it stops, it stops all its
// children concurrently: every child receives its shutdown exit signal at
// once and is killed when its own Shutdown timeout passes, as Elixir's
// DynamicSupervisor does; children have no order among themselves.
//
// # Usage
//
//	sup, err := dynamic.Start(rt, dynamic.Spec{MaxChildren: 10_000})
//	pid, err := dynamic.StartChild(ctx, rt, sup, supervisor.ChildSpec{
//		Restart: supervisor.Transient,
//		Start:   func() proc.Behavior { return &Session{user: u} },
//	})
//	err = dynamic.TerminateChild(ctx, rt, sup, pid)
//
// A dynamic supervisor is usually the child of a static one, with
// Type supervisor.Supervisor and Start: func() proc.Behavior { return
// dynamic.New(spec) }.
package dynamic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor"
	"github.com/grovedev/grove/supervisor/internal/intensity"
	"github.com/grovedev/grove/supervisor/internal/lifecycle"
)

// ErrMaxChildren is returned by StartChild when the supervisor already has
// Spec.MaxChildren children.
var ErrMaxChildren = errors.New("supervisor/dynamic: maximum number of children reached")

// Spec tunes a dynamic supervisor. The zero value is usable.
type Spec struct {
	// Intensity is the number of restarts allowed within Period; zero means
	// supervisor.DefaultIntensity and supervisor.NoRestarts allows none.
	Intensity int
	// Period is the window of Intensity; zero means supervisor.DefaultPeriod.
	Period time.Duration
	// MaxChildren bounds the number of children, running or waiting for a
	// restart. Zero means no bound.
	MaxChildren int
	// Backoff optionally delays restarts, as for a static supervisor.
	Backoff supervisor.Backoff
}

// Validate reports a spec that cannot work.
func (s Spec) Validate() error {
	var errs []error
	if s.Intensity < supervisor.NoRestarts {
		errs = append(errs, fmt.Errorf("%w: intensity %d is negative (use NoRestarts)", supervisor.ErrInvalidSpec, s.Intensity))
	}
	if s.Period < 0 {
		errs = append(errs, fmt.Errorf("%w: negative period %v", supervisor.ErrInvalidSpec, s.Period))
	}
	if s.MaxChildren < 0 {
		errs = append(errs, fmt.Errorf("%w: negative MaxChildren %d", supervisor.ErrInvalidSpec, s.MaxChildren))
	}
	if err := s.Backoff.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// child is one child of a dynamic supervisor.
type child struct {
	spec       supervisor.ChildSpec
	seq        uint64 // start order, kept across restarts
	pid        proc.PID
	restarting bool
	attempts   int
	since      time.Time
}

type dyn struct {
	proc.Base
	spec    Spec
	p       *proc.Process
	win     intensity.Window
	running map[proc.PID]*child
	pending map[uint64]*child // waiting for a restart, by seq
	seq     uint64
}

var (
	_ proc.Behavior   = (*dyn)(nil)
	_ proc.Terminator = (*dyn)(nil)
	_ proc.Inspector  = (*dyn)(nil)
)

// retryMsg asks for the pending restart of the child seq.
type retryMsg struct{ seq uint64 }

// New returns the behaviour of a dynamic supervisor; its Init fails if spec
// is invalid.
func New(spec Spec) proc.Behavior { return &dyn{spec: spec} }

// Start spawns a dynamic supervisor on rt, with no parent.
func Start(rt *proc.Runtime, spec Spec, opts ...proc.SpawnOption) (proc.PID, error) {
	return rt.Spawn(New(spec), opts...)
}

func (d *dyn) Init(p *proc.Process) error {
	if err := d.spec.Validate(); err != nil {
		return err
	}
	d.p = p
	p.TrapExit(true)
	switch d.spec.Intensity {
	case 0:
		d.win.Max = supervisor.DefaultIntensity
	case supervisor.NoRestarts:
		d.win.Max = 0
	default:
		d.win.Max = d.spec.Intensity
	}
	d.win.Period = d.spec.Period
	if d.win.Period == 0 {
		d.win.Period = supervisor.DefaultPeriod
	}
	d.running = make(map[proc.PID]*child)
	d.pending = make(map[uint64]*child)
	return nil
}

func (d *dyn) now() time.Time { return d.p.Runtime().Clock().Now() }

func (d *dyn) HandleInfo(p *proc.Process, msg any) {
	switch m := msg.(type) {
	case proc.Exit:
		k, ok := d.running[m.From]
		if !ok {
			if m.From == p.Parent() {
				p.Stop(m.Reason)
			}
			return
		}
		delete(d.running, m.From)
		k.pid = proc.PID{}
		if !proc.IsNormalExit(m.Reason) && !proc.IsShutdown(m.Reason) {
			p.Logger().Error("supervisor: child terminated", slog.String("supervisor", p.Self().String()),
				slog.String("child", m.From.String()), slog.Any("reason", m.Reason))
		}
		if !k.spec.Restart.ShouldRestart(m.Reason) {
			return
		}
		now := d.now()
		if d.spec.Backoff.Enabled() && now.Sub(k.since) >= d.spec.Backoff.ResetPeriod() {
			k.attempts = 0
		}
		if !d.win.Add(now) {
			d.giveUp()
			return
		}
		d.schedule(k)
	case retryMsg:
		if k, ok := d.pending[m.seq]; ok {
			d.restart(k)
		}
	default:
		d.Base.HandleInfo(p, msg)
	}
}

// schedule restarts k now or after its backoff.
func (d *dyn) schedule(k *child) {
	k.restarting = true
	d.pending[k.seq] = k
	if delay := d.spec.Backoff.Delay(k.attempts); d.spec.Backoff.Enabled() {
		k.attempts++
		d.p.SendAfter(delay, retryMsg{seq: k.seq})
		return
	}
	d.restart(k)
}

// restart starts the pending child k; a failure counts as a restart and is
// retried after the messages already queued (or after the backoff).
func (d *dyn) restart(k *child) {
	delete(d.pending, k.seq)
	pid, err := k.spec.Spawn(d.p)
	if errors.Is(err, proc.ErrRuntimeClosed) {
		// The runtime is closing and stops every process anyway.
		d.p.Stop(proc.ErrShutdown)
		return
	}
	if err == nil {
		k.pid, k.restarting, k.since = pid, false, d.now()
		d.running[pid] = k
		return
	}
	d.p.Logger().Error("supervisor: restart failed", slog.String("supervisor", d.p.Self().String()), slog.Any("err", err))
	if !d.win.Add(d.now()) {
		d.giveUp()
		return
	}
	if d.spec.Backoff.Enabled() {
		d.schedule(k)
		return
	}
	d.pending[k.seq] = k
	_ = d.p.Send(d.p.Self(), retryMsg{seq: k.seq})
}

func (d *dyn) giveUp() {
	d.p.Logger().Error("supervisor: reached maximum restart intensity, shutting down",
		slog.String("supervisor", d.p.Self().String()))
	d.p.Stop(proc.ShutdownError{Reason: supervisor.ErrMaxRestarts})
}

// Terminate stops all children concurrently.
func (d *dyn) Terminate(*proc.Process, error) {
	if d.running == nil {
		return
	}
	targets := make([]lifecycle.Target, 0, len(d.running))
	for _, k := range d.ordered() {
		if !k.pid.IsZero() {
			targets = append(targets, lifecycle.Target{PID: k.pid, Timeout: k.spec.ShutdownTimeout()})
		}
	}
	clear(d.running)
	clear(d.pending)
	lifecycle.Concurrent(d.p, targets)
}

// ordered returns the children, running or pending, in start order.
func (d *dyn) ordered() []*child {
	out := make([]*child, 0, len(d.running)+len(d.pending))
	for _, k := range d.running {
		out = append(out, k)
	}
	for _, k := range d.pending {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b *child) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return out
}

type (
	startChildReq     struct{ spec supervisor.ChildSpec }
	terminateChildReq struct{ pid proc.PID }
	whichChildrenReq  struct{}
	countChildrenReq  struct{}
)

func (d *dyn) HandleCall(p *proc.Process, _ proc.From, req any) (any, error) {
	switch r := req.(type) {
	case startChildReq:
		return d.startChild(r.spec)
	case terminateChildReq:
		k, ok := d.running[r.pid]
		if !ok {
			return nil, fmt.Errorf("%w: %v", supervisor.ErrNotFound, r.pid)
		}
		delete(d.running, r.pid)
		lifecycle.Sequential(p, []lifecycle.Target{{PID: r.pid, Timeout: k.spec.ShutdownTimeout()}})
		return nil, nil
	case whichChildrenReq:
		return d.which(), nil
	case countChildrenReq:
		var n supervisor.Counts
		for _, k := range d.ordered() {
			n.Specs++
			if !k.restarting {
				n.Active++
			}
			if k.spec.Type == supervisor.Supervisor {
				n.Supervisors++
			} else {
				n.Workers++
			}
		}
		return n, nil
	}
	return nil, proc.ErrUnhandled
}

func (d *dyn) startChild(cs supervisor.ChildSpec) (proc.PID, error) {
	if err := cs.Validate(); err != nil {
		return proc.PID{}, err
	}
	if cs.Significant {
		return proc.PID{}, fmt.Errorf("%w: a dynamic supervisor has no significant children", supervisor.ErrInvalidSpec)
	}
	if m := d.spec.MaxChildren; m > 0 && len(d.running)+len(d.pending) >= m {
		return proc.PID{}, ErrMaxChildren
	}
	pid, err := cs.Spawn(d.p)
	if err != nil {
		return proc.PID{}, &supervisor.StartError{ID: cs.ID, Err: err}
	}
	d.seq++
	d.running[pid] = &child{spec: cs, seq: d.seq, pid: pid, since: d.now()}
	return pid, nil
}

func (d *dyn) which() []supervisor.ChildInfo {
	kids := d.ordered()
	out := make([]supervisor.ChildInfo, len(kids))
	for i, k := range kids {
		st := supervisor.StatusRunning
		if k.restarting {
			st = supervisor.StatusRestarting
		}
		out[i] = supervisor.ChildInfo{ID: k.spec.ID, PID: k.pid, Type: k.spec.Type, Restart: k.spec.Restart, Status: st}
	}
	return out
}

// Inspect returns the children, as WhichChildren does.
func (d *dyn) Inspect() any {
	if d.running == nil {
		return []supervisor.ChildInfo(nil)
	}
	return d.which()
}

// The functions below wait, as OTP's, for as long as ctx allows, without
// the runtime's default call timeout (proc.WithoutTimeout).

// StartChild starts a child under the dynamic supervisor sup and returns its
// PID. It fails with ErrMaxChildren when the supervisor is full, with an
// error wrapping supervisor.ErrInvalidSpec for a bad spec, and with a
// *supervisor.StartError when the child's Init fails. The spec's ID is kept
// for WhichChildren but need not be unique.
func StartChild(ctx context.Context, s proc.Sender, sup proc.Dest, spec supervisor.ChildSpec) (proc.PID, error) {
	return proc.Call[proc.PID](proc.WithoutTimeout(ctx), s, sup, startChildReq{spec: spec})
}

// TerminateChild stops the child pid (shutdown signal, then kill after its
// Shutdown timeout) and forgets it. It fails with supervisor.ErrNotFound if
// pid is not a running child of sup.
func TerminateChild(ctx context.Context, s proc.Sender, sup proc.Dest, pid proc.PID) error {
	_, err := s.CallTo(proc.WithoutTimeout(ctx), sup, terminateChildReq{pid: pid})
	return err
}

// WhichChildren returns the children of sup in the order they were first
// started; a child waiting for its restart has status
// supervisor.StatusRestarting and no PID.
func WhichChildren(ctx context.Context, s proc.Sender, sup proc.Dest) ([]supervisor.ChildInfo, error) {
	return proc.Call[[]supervisor.ChildInfo](proc.WithoutTimeout(ctx), s, sup, whichChildrenReq{})
}

// CountChildren counts the children of sup; Specs counts those waiting for
// a restart too.
func CountChildren(ctx context.Context, s proc.Sender, sup proc.Dest) (supervisor.Counts, error) {
	return proc.Call[supervisor.Counts](proc.WithoutTimeout(ctx), s, sup, countChildrenReq{})
}

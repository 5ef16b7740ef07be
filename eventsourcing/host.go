package eventsourcing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/proc"
)

// Host runs aggregate instances: one per (kind, id) at a time, started on
// demand, stopped after the kind's lifespan. Commands to one instance are
// executed one at a time, in arrival order. LocalHost runs them as
// processes of one runtime; a cluster host (keyed entities) can run each on
// one node of a cluster behind the same interface.
//
// Execute may be called from any goroutine concurrently.
type Host interface {
	// Execute runs cmd on the instance; with wantState the Result carries
	// a copy of the aggregate's state after it.
	Execute(ctx context.Context, k Kind, id string, cmd any, meta Metadata, wantState bool) (Result, error)
}

// LocalHost runs each aggregate instance as a proc process, registered
// under the name "aggregate:<kind>:<id>" on its runtime.
type LocalHost struct {
	rt    *proc.Runtime
	store eventstore.Store
	types *Types
}

var _ Host = (*LocalHost)(nil)

// NewLocalHost returns a host on rt.
func NewLocalHost(rt *proc.Runtime, store eventstore.Store, types *Types) *LocalHost {
	return &LocalHost{rt: rt, store: store, types: types}
}

type executeReq struct {
	cmd       any
	meta      Metadata
	wantState bool
}

// Execute implements Host: it calls the instance's process, spawning it if
// none runs. A process that stopped (its lifespan ended) just before the
// call is spawned again and the call retried; a crash is returned.
func (h *LocalHost) Execute(ctx context.Context, k Kind, id string, cmd any, meta Metadata, wantState bool) (Result, error) {
	name := proc.Name("aggregate:" + k.Name + ":" + id)
	for {
		res, err := proc.Call[Result](ctx, h.rt, name, executeReq{cmd: cmd, meta: meta, wantState: wantState})
		var exit *proc.ExitError
		switch {
		case errors.Is(err, proc.ErrNotRegistered), errors.Is(err, proc.ErrNotAlive),
			errors.As(err, &exit) && proc.IsNormalExit(exit.Reason):
			// Not running, or stopped before taking the command: start it.
			_, serr := h.rt.Spawn(&aggregateProc{host: h, kind: k, id: id}, proc.WithName(string(name)))
			if serr != nil && !errors.Is(serr, proc.ErrNameTaken) {
				return Result{}, fmt.Errorf("eventsourcing: starting %s: %w", k.Stream(id), serr)
			}
			if ctx.Err() != nil {
				return Result{}, ctx.Err()
			}
			continue
		}
		return res, err
	}
}

// aggregateProc is the process of one aggregate instance.
type aggregateProc struct {
	proc.Base
	host  *LocalHost
	kind  Kind
	id    string
	in    *instance
	timer proc.Ref
	idle  int // the generation of the current idle timer
}

type idleTimeout struct{ gen int }

func (a *aggregateProc) Init(p *proc.Process) error {
	in, err := load(p.Context(), a.host.store, a.host.types, a.kind, a.id, eventstore.End)
	if err != nil {
		return err
	}
	a.in = in
	a.arm(p)
	return nil
}

func (a *aggregateProc) arm(p *proc.Process) {
	a.idle++
	p.CancelTimer(a.timer)
	a.timer = p.SendAfter(a.kind.Lifespan, idleTimeout{gen: a.idle})
}

func (a *aggregateProc) HandleCall(p *proc.Process, _ proc.From, req any) (any, error) {
	r, ok := req.(executeReq)
	if !ok {
		return nil, proc.ErrUnhandled
	}
	a.arm(p)
	ctx, cancel := context.WithTimeout(p.Context(), 30*time.Second)
	defer cancel()
	res, refused, err := a.in.execute(ctx, a.host.store, a.host.types, r.cmd, r.meta)
	if err != nil && !refused {
		// The store failed: the state may be behind the stream. Start
		// afresh on the next command.
		p.Stop(proc.ErrNormal)
	}
	res.Aggregate = nil
	if err == nil && r.wantState {
		if res.Aggregate, err = copyState(a.kind, a.id, a.in.agg); err != nil {
			return Result{}, err
		}
	}
	return res, err
}

func (a *aggregateProc) HandleInfo(p *proc.Process, msg any) {
	if t, ok := msg.(idleTimeout); ok && t.gen == a.idle {
		p.Stop(proc.ErrNormal)
	}
}

// Inspect shows the instance's version.
func (a *aggregateProc) Inspect() any {
	return map[string]any{"stream": a.kind.Stream(a.id), "version": a.in.version}
}

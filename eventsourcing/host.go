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
// processes of one runtime; ClusterHost runs each on one node of a cluster
// (keyed processes) behind the same interface.
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
			a := &aggregateProc{store: h.store, types: h.types, kind: k, id: id, lifespan: k.Lifespan}
			_, serr := h.rt.Spawn(a, proc.WithName(string(name)))
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

// aggregateProc is the process of one aggregate instance, on a LocalHost
// or as the keyed process of a ClusterHost. It loads the aggregate on its
// first command (not in Init, which runs on the spawner's goroutine).
type aggregateProc struct {
	proc.Base
	store eventstore.Store
	types *Types
	kind  Kind
	id    string
	// lifespan, when positive, stops the process after that long without
	// a command (LocalHost; a ClusterHost's entities are passivated by
	// their shard).
	lifespan time.Duration
	// decode decodes the commands of a ClusterHost (the node's codec).
	decode func([]byte) (any, error)
	in     *instance
	timer  proc.Ref
	idle   int // the generation of the current idle timer
}

type idleTimeout struct{ gen int }

func (a *aggregateProc) Init(p *proc.Process) error {
	a.arm(p)
	return nil
}

func (a *aggregateProc) arm(p *proc.Process) {
	if a.lifespan <= 0 {
		return
	}
	a.idle++
	p.CancelTimer(a.timer)
	a.timer = p.SendAfter(a.lifespan, idleTimeout{gen: a.idle})
}

func (a *aggregateProc) HandleCall(p *proc.Process, _ proc.From, req any) (any, error) {
	switch r := req.(type) {
	case executeReq:
		return a.execute(p, r.cmd, r.meta, r.wantState)
	case executeCall:
		cmd, err := a.decode(r.Cmd)
		if err != nil {
			return nil, fmt.Errorf("eventsourcing: command for %s: %w", a.kind.Stream(a.id), err)
		}
		res, err := a.execute(p, cmd, r.Meta, r.WantState)
		if err != nil {
			return nil, wireError(err)
		}
		return encodeReply(a.types, res)
	}
	return nil, proc.ErrUnhandled
}

func (a *aggregateProc) execute(p *proc.Process, cmd any, meta Metadata, wantState bool) (_ Result, err error) {
	a.arm(p)
	defer func() {
		if x := recover(); x != nil {
			// The aggregate panicked, perhaps half-way through applying
			// events: answer the caller, and start afresh next time.
			err = fmt.Errorf("eventsourcing: %s: %w", a.kind.Stream(a.id), &proc.CrashError{Value: x})
			p.Stop(proc.ErrNormal)
		}
	}()
	ctx, cancel := context.WithTimeout(p.Context(), 30*time.Second)
	defer cancel()
	if a.in == nil {
		in, err := load(ctx, a.store, a.types, a.kind, a.id, eventstore.End)
		if err != nil {
			return Result{}, fmt.Errorf("eventsourcing: loading %s: %w", a.kind.Stream(a.id), err)
		}
		a.in = in
	}
	res, refused, err := a.in.execute(ctx, a.store, a.types, cmd, meta)
	if err != nil && !refused {
		// The store failed: the state may be behind the stream. Start
		// afresh on the next command.
		p.Stop(proc.ErrNormal)
	}
	res.Aggregate = nil
	if err == nil && wantState {
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
	v := uint64(0)
	if a.in != nil {
		v = a.in.version
	}
	return map[string]any{"stream": a.kind.Stream(a.id), "version": v}
}

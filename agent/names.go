package agent

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/distsup"
	"github.com/grovedev/grove/entity"
	"github.com/grovedev/grove/names"
	"github.com/grovedev/grove/proc"
)

// clusterNames are the name-based cluster services every node runs under
// their default names: the cluster registry, the distributed supervisor
// with a built-in worker kind, a singleton and a keyed-process kind, so
// that the admin API (and with it grove demo and the end-to-end tests)
// can use them across node processes.
type clusterNames struct {
	reg    *names.Registry
	sup    *distsup.Supervisor
	single *distsup.Singleton
	ents   *entity.Region
}

// Names of what clusterNames runs.
const (
	// WorkerKind is the kind of child the node's supervisor can run for
	// the admin API: a process that counts the calls it answers and hands
	// its count over when it moves.
	WorkerKind = "grove.worker"
	// SingletonName is the node's cluster-wide singleton.
	SingletonName = "grove.singleton"
	// EntityKind is the keyed-process kind of the admin API: one counter
	// per key.
	EntityKind = "grove.counter"
)

// drainBudget bounds how long a stopping node hands its children off.
const drainBudget = 10 * time.Second

func (a *Agent) startNames() error {
	if err := codec.Register[WorkerReply](a.node.Codec(), "grove.agent.worker_reply"); err != nil && !errors.Is(err, codec.ErrDuplicate) {
		return err
	}
	reg, err := names.New(a.cluster, names.Config{Logger: a.log})
	if err != nil {
		return err
	}
	cn := &clusterNames{reg: reg}
	a.names = cn
	if cn.sup, err = distsup.Start(a.cluster, distsup.Config{Logger: a.log}); err != nil {
		return err
	}
	if err := cn.sup.Register(WorkerKind, func(string, any) (proc.Behavior, error) { return &countingWorker{}, nil }); err != nil {
		return err
	}
	if cn.single, err = distsup.NewSingleton(a.cluster, SingletonName, func() proc.Behavior { return &countingWorker{} },
		distsup.SingletonConfig{Supervisor: distsup.Config{Logger: a.log}}); err != nil {
		return err
	}
	cn.ents, err = entity.Start(a.cluster, entity.Config{Kind: EntityKind, Logger: a.log,
		New: func(string) (proc.Behavior, error) { return &countingWorker{}, nil }})
	return err
}

// closeNames hands the supervisor's children (the singleton's too) off to
// other nodes, within drainBudget, then stops the services.
func (a *Agent) closeNames(ctx context.Context) {
	cn := a.names
	if cn == nil {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, drainBudget)
	defer cancel()
	for _, drain := range []func(context.Context) error{cn.drainSup, cn.drainSingleton} {
		if err := drain(dctx); err != nil {
			a.log.Warn("children not handed off; the others restart them when this node is gone", slog.Any("err", err))
		}
	}
	if cn.ents != nil {
		cn.ents.Close()
	}
	if cn.single != nil {
		cn.single.Close()
	}
	if cn.sup != nil {
		cn.sup.Close()
	}
	cn.reg.Close()
}

func (cn *clusterNames) drainSup(ctx context.Context) error {
	if cn.sup == nil {
		return nil
	}
	return cn.sup.Drain(ctx)
}

func (cn *clusterNames) drainSingleton(ctx context.Context) error {
	if cn.single == nil {
		return nil
	}
	return cn.single.Drain(ctx)
}

// Names returns the node's cluster registry.
func (a *Agent) Names() *names.Registry { return a.names.reg }

// Supervisor returns the node's distributed supervisor ("default").
func (a *Agent) Supervisor() *distsup.Supervisor { return a.names.sup }

// Singleton returns the node's part of the singleton SingletonName.
func (a *Agent) Singleton() *distsup.Singleton { return a.names.single }

// Entities returns the node's region of EntityKind.
func (a *Agent) Entities() *entity.Region { return a.names.ents }

// countingWorker answers every call with the number of calls it answered,
// and hands that number to its next incarnation when it moves.
type countingWorker struct {
	proc.Base
	n int
}

// WorkerReply is what a countingWorker answers.
type WorkerReply struct {
	Node  string `json:"node"`
	PID   string `json:"pid"`
	Calls int    `json:"calls"`
}

func (w *countingWorker) HandleCall(p *proc.Process, _ proc.From, _ any) (any, error) {
	w.n++
	return WorkerReply{Node: p.Runtime().Node(), PID: p.Self().String(), Calls: w.n}, nil
}

func (w *countingWorker) BeginHandoff(*proc.Process) (any, error) { return w.n, nil }

func (w *countingWorker) EndHandoff(_ *proc.Process, state any) error {
	if n, ok := state.(int); ok {
		w.n = n
	}
	return nil
}

package distsup

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor"
)

// Singleton is a process that runs once in the cluster: started on the
// node the placement picks, restarted elsewhere when that node dies,
// handed off (with its state, for a Handoffer) when it leaves. Every node
// that may run it creates the Singleton with the same name; Via reaches
// it from any of them.
type Singleton struct {
	sup  *Supervisor
	name string
}

// SingletonConfig tunes a Singleton. Zero fields mean the defaults.
type SingletonConfig struct {
	// Supervisor configures the supervisor the singleton runs under (its
	// Name is set to "singleton."+name).
	Supervisor Config
	// Check is how often each node makes sure the singleton runs (after
	// the whole cluster restarted, say). Default 2 s.
	Check time.Duration
}

// NewSingleton runs the cluster-wide singleton name, built by start, on
// this node's share of the cluster:
//
//	single, err := distsup.NewSingleton(clu, "scheduler", func() proc.Behavior { return &scheduler{} }, distsup.SingletonConfig{})
func NewSingleton(c *cluster.Cluster, name string, start func() proc.Behavior, cfg SingletonConfig) (*Singleton, error) {
	scfg := cfg.Supervisor
	scfg.Name = "singleton." + name
	sup, err := Start(c, scfg)
	if err != nil {
		return nil, err
	}
	if err := sup.Register("singleton", func(string, any) (proc.Behavior, error) { return start(), nil }); err != nil {
		sup.Close()
		return nil, err
	}
	s := &Singleton{sup: sup, name: name}
	every := cfg.Check
	if every <= 0 {
		every = 2 * time.Second
	}
	sup.goFunc(func() { s.ensure(every) })
	return s, nil
}

// ensure starts the singleton whenever this node, complete, sees it
// nowhere.
func (s *Singleton) ensure(every time.Duration) {
	sup := s.sup
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-sup.ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(every)
		if _, ok := sup.entry(s.name); ok || !sup.m.Complete() || sup.draining.Load() {
			continue
		}
		ctx, cancel := context.WithTimeout(sup.ctx, every)
		_, err := sup.StartChild(ctx, ChildSpec{ID: s.name, Kind: "singleton", Restart: supervisor.Permanent})
		cancel()
		if err != nil && !errors.Is(err, ErrAlreadyStarted) && !errors.Is(err, context.Canceled) {
			sup.log.Debug("singleton not started yet", slog.String("singleton", s.name), slog.Any("err", err))
		}
	}
}

// Via returns a destination that reaches the singleton wherever it runs.
func (s *Singleton) Via() proc.Via { return s.sup.Via(s.name) }

// WhereIs returns the singleton's PID, as this node sees it.
func (s *Singleton) WhereIs() (proc.PID, bool) { return s.sup.WhereIs(s.name) }

// Supervisor returns the supervisor the singleton runs under.
func (s *Singleton) Supervisor() *Supervisor { return s.sup }

// Drain hands the singleton off if it runs here; see Supervisor.Drain.
func (s *Singleton) Drain(ctx context.Context) error { return s.sup.Drain(ctx) }

// Close stops this node's part; see Supervisor.Close.
func (s *Singleton) Close() error { return s.sup.Close() }

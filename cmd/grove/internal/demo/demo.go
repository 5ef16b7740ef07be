// Package demo is the walk-through that `grove demo` runs: it shows Grove's
// capabilities on a fresh machine with progress output a person can follow.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor"
)

// Options tunes the demo.
type Options struct {
	// Grove is the path of the grove binary, used to start node processes
	// for the cluster part; empty skips that part.
	Grove string
}

// Run runs the demo, writing its progress to w.
func Run(ctx context.Context, w io.Writer, opts Options) error {
	d := &demo{w: w, start: time.Now()}
	if err := d.supervision(ctx); err != nil {
		return err
	}
	if opts.Grove != "" {
		if err := d.cluster(ctx, opts.Grove); err != nil {
			return err
		}
	}
	if err := d.eventSourcing(ctx); err != nil { // events.go
		return err
	}
	if err := d.replicas(ctx); err != nil {
		return err
	}
	if opts.Grove != "" {
		if err := d.presence(ctx, opts.Grove); err != nil { // presence.go
			return err
		}
		return d.names(ctx, opts.Grove) // names.go
	}
	return nil
}

type demo struct {
	w     io.Writer
	start time.Time
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.w, "[%7.3fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

func (d *demo) title(s string) { fmt.Fprintf(d.w, "\n== %s\n", s) }

// counter is the service the demo keeps calling while it breaks things.
type counter struct {
	proc.Base
	n int
}

type poison struct{}

func (c *counter) HandleCall(_ *proc.Process, _ proc.From, req any) (any, error) {
	c.n++
	return c.n, nil
}

func (c *counter) HandleCast(_ *proc.Process, msg any) {
	if _, ok := msg.(poison); ok {
		panic("poisoned message")
	}
}

// worker is a stage of the pipeline; it records when it stops.
type worker struct {
	proc.Base
	name    string
	stopped *atomic.Pointer[stopLog]
}

// stopLog records the order in which workers stop, while the demo listens.
type stopLog struct {
	mu    sync.Mutex
	names []string
}

func (wk *worker) Init(p *proc.Process) error {
	p.TrapExit(true) // so that Terminate runs on shutdown
	return nil
}

func (wk *worker) HandleCast(_ *proc.Process, msg any) {
	if _, ok := msg.(poison); ok {
		panic(wk.name + " choked")
	}
}

func (wk *worker) Terminate(*proc.Process, error) {
	if l := wk.stopped.Load(); l != nil {
		l.mu.Lock()
		l.names = append(l.names, wk.name)
		l.mu.Unlock()
	}
}

func (d *demo) supervision(ctx context.Context) error {
	d.title("A supervision tree surviving injected crashes")
	rt, err := proc.New(proc.Config{Node: "demo@localhost", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer rt.Close(context.Background())

	var stopped atomic.Pointer[stopLog]
	stage := func(name string) supervisor.ChildSpec {
		return supervisor.ChildSpec{
			ID:           name,
			Start:        func() proc.Behavior { return &worker{name: name, stopped: &stopped} },
			SpawnOptions: []proc.SpawnOption{proc.WithName(name)},
		}
	}
	spec := supervisor.Spec{
		Strategy:  supervisor.OneForOne,
		Intensity: 10, Period: 5 * time.Second,
		Children: []supervisor.ChildSpec{
			{ID: "counter", Start: func() proc.Behavior { return &counter{} }, SpawnOptions: []proc.SpawnOption{proc.WithName("counter")}},
			{ID: "pipeline", Type: supervisor.Supervisor, Start: func() proc.Behavior {
				return supervisor.New(supervisor.Spec{
					Strategy:  supervisor.RestForOne,
					Intensity: 2, Period: 5 * time.Second,
					Children: []supervisor.ChildSpec{stage("ingest"), stage("transform"), stage("publish")},
				})
			}, SpawnOptions: []proc.SpawnOption{proc.WithName("pipeline")}},
		},
	}
	app, err := supervisor.StartApp(rt, spec)
	if err != nil {
		return err
	}
	d.say("started the application: a one_for_one root over a counter service and a rest_for_one pipeline")
	if err := d.printTree(ctx, rt, app.PID()); err != nil {
		return err
	}

	// A client keeps calling the counter through everything that follows.
	var calls, failures atomic.Int64
	clientCtx, stopClient := context.WithCancel(ctx)
	var clientDone sync.WaitGroup
	clientDone.Add(1)
	go func() {
		defer clientDone.Done()
		for clientCtx.Err() == nil {
			cctx, cancel := context.WithTimeout(clientCtx, 100*time.Millisecond)
			_, err := rt.CallTo(cctx, proc.Name("counter"), "incr")
			cancel()
			calls.Add(1)
			if err != nil && clientCtx.Err() == nil {
				failures.Add(1)
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	defer func() {
		stopClient()
		clientDone.Wait()
	}()

	d.title("1. A panic in the counter service")
	before, _ := rt.WhereIs("counter")
	t0 := time.Now()
	rt.Cast(before, poison{})
	after, err := d.waitRestart(ctx, rt, "counter", before)
	if err != nil {
		return err
	}
	d.say("counter %v panicked (\"poisoned message\"); its supervisor restarted it as %v in %v", before, after, time.Since(t0).Round(time.Microsecond))
	d.say("the crash stayed inside that process: the client's calls go on (%d served so far)", calls.Load())

	d.title("2. rest_for_one: a crash in the middle of the pipeline")
	pids := d.pids(rt, "ingest", "transform", "publish")
	rt.Cast(pids[1], poison{})
	if _, err := d.waitRestart(ctx, rt, "publish", pids[2]); err != nil {
		return err
	}
	now := d.pids(rt, "ingest", "transform", "publish")
	for i, name := range []string{"ingest", "transform", "publish"} {
		mark := "kept"
		if now[i] != pids[i] {
			mark = "restarted"
		}
		d.say("%-9s %v → %v  %s", name, pids[i], now[i], mark)
	}
	d.say("stages started after the failed one were restarted with it; the one before was left alone")

	d.title("3. Too many crashes: the failure climbs the tree")
	pipeline, _ := rt.WhereIs("pipeline")
	d.say("the pipeline allows 2 restarts in 5s (step 2 used one); crashing ingest until it gives up...")
	var newPipeline proc.PID
	for crashes := 1; newPipeline.IsZero(); crashes++ {
		cur, _ := rt.WhereIs("ingest")
		rt.Cast(cur, poison{})
		err := d.poll(ctx, func() bool {
			if p, ok := rt.WhereIs("pipeline"); ok && p != pipeline {
				newPipeline = p
				return true
			}
			i, ok := rt.WhereIs("ingest")
			return ok && i != cur
		})
		if err != nil {
			return err
		}
		if newPipeline.IsZero() {
			d.say("crash %d: ingest restarted by the pipeline", crashes)
		} else {
			d.say("crash %d: one restart too many", crashes)
		}
	}
	d.say("the pipeline supervisor %v gave up (%v); the root restarted it as %v with fresh children", pipeline, supervisor.ErrMaxRestarts, newPipeline)
	if err := d.printTree(ctx, rt, app.PID()); err != nil {
		return err
	}

	stopClient()
	clientDone.Wait()
	d.title("4. Orderly shutdown")
	log := &stopLog{}
	stopped.Store(log)
	if err := app.Close(ctx); err != nil {
		return err
	}
	log.mu.Lock()
	d.say("the application stopped its trees in reverse start order: %s", strings.Join(log.names, ", "))
	log.mu.Unlock()
	d.say("the client made %d calls during the demo; %d failed (a call that reaches the counter as it crashes gets an ExitError)", calls.Load(), failures.Load())
	d.say("%d processes left alive", rt.NumProcesses())
	return nil
}

func (d *demo) pids(rt *proc.Runtime, names ...string) []proc.PID {
	out := make([]proc.PID, len(names))
	for i, n := range names {
		out[i], _ = rt.WhereIs(n)
	}
	return out
}

// waitRestart polls until name is registered by a process other than old.
func (d *demo) waitRestart(ctx context.Context, rt *proc.Runtime, name string, old proc.PID) (proc.PID, error) {
	var pid proc.PID
	err := d.poll(ctx, func() bool {
		p, ok := rt.WhereIs(name)
		pid = p
		return ok && p != old
	})
	if err != nil {
		return proc.PID{}, fmt.Errorf("demo: %s was not restarted: %w", name, err)
	}
	return pid, nil
}

// poll checks cond until it holds, for at most 5 s.
func (d *demo) poll(ctx context.Context, cond func() bool) error {
	return d.pollFor(ctx, 5*time.Second, cond)
}

// pollFor checks cond until it holds, for at most timeout.
func (d *demo) pollFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("demo: timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Microsecond):
		}
	}
	return nil
}

func (d *demo) printTree(ctx context.Context, rt *proc.Runtime, root proc.PID) error {
	tree, err := supervisor.Tree(ctx, rt, root)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.w, "  root %v\n", root)
	var walk func(nodes []supervisor.TreeNode, indent string)
	walk = func(nodes []supervisor.TreeNode, indent string) {
		for _, n := range nodes {
			fmt.Fprintf(d.w, "%s└ %-10s %v\n", indent, n.ID, n.PID)
			walk(n.Children, indent+"  ")
		}
	}
	walk(tree, "  ")
	return nil
}

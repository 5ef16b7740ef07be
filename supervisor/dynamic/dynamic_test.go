package dynamic

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errBoom = errors.New("boom")

func newRuntime(t *testing.T) *proc.Runtime {
	t.Helper()
	rt, err := proc.New(proc.Config{Node: "test@localhost", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return rt
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// stopping records the Terminate of every worker; gate, when set, holds
// each Terminate until it is closed, so a test can see whether the
// supervisor signals its children one by one or all at once.
type stopping struct {
	mu    sync.Mutex
	names []string
	gate  chan struct{}
}

type worker struct {
	proc.Base
	name    string
	st      *stopping
	initErr error
}

func (w *worker) Init(p *proc.Process) error {
	p.TrapExit(true)
	return w.initErr
}

func (w *worker) HandleInfo(p *proc.Process, msg any) {
	if err, ok := msg.(error); ok {
		p.Stop(err)
	}
}

func (w *worker) Terminate(*proc.Process, error) {
	if w.st == nil {
		return
	}
	w.st.mu.Lock()
	w.st.names = append(w.st.names, w.name)
	w.st.mu.Unlock()
	if w.st.gate != nil {
		<-w.st.gate
	}
}

func spec(name string, st *stopping, r supervisor.Restart) supervisor.ChildSpec {
	return supervisor.ChildSpec{ID: name, Restart: r, Start: func() proc.Behavior { return &worker{name: name, st: st} }}
}

func TestStartTerminateCount(t *testing.T) {
	rt := newRuntime(t)
	ctx := ctxT(t)
	sup, err := Start(rt, Spec{MaxChildren: 2})
	if err != nil {
		t.Fatal(err)
	}
	a, err := StartChild(ctx, rt, sup, spec("a", nil, supervisor.Permanent))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StartChild(ctx, rt, sup, spec("b", nil, supervisor.Permanent)); err != nil {
		t.Fatal(err)
	}
	if _, err := StartChild(ctx, rt, sup, spec("c", nil, supervisor.Permanent)); !errors.Is(err, ErrMaxChildren) {
		t.Fatalf("third child: %v", err)
	}
	n, err := CountChildren(ctx, rt, sup)
	if err != nil || n != (supervisor.Counts{Specs: 2, Active: 2, Workers: 2}) {
		t.Fatalf("count %+v %v", n, err)
	}
	if err := TerminateChild(ctx, rt, sup, a); err != nil {
		t.Fatal(err)
	}
	if rt.Alive(a) {
		t.Fatal("terminated child alive")
	}
	if err := TerminateChild(ctx, rt, sup, a); !errors.Is(err, supervisor.ErrNotFound) {
		t.Fatalf("terminate twice: %v", err)
	}
	if _, err := StartChild(ctx, rt, sup, spec("c", nil, supervisor.Permanent)); err != nil {
		t.Fatalf("child after a freed slot: %v", err)
	}
	kids, err := WhichChildren(ctx, rt, sup)
	if err != nil || len(kids) != 2 || kids[0].ID != "b" || kids[1].ID != "c" {
		t.Fatalf("which %+v %v", kids, err)
	}
	if err := TerminateChild(ctx, rt, sup, kids[1].PID); err != nil {
		t.Fatal(err)
	}
	if _, err := StartChild(ctx, rt, sup, supervisor.ChildSpec{ID: "bad", Start: func() proc.Behavior {
		return &worker{initErr: errBoom}
	}}); !errors.Is(err, errBoom) {
		t.Fatalf("failing child: %v", err)
	}
	if _, err := StartChild(ctx, rt, sup, supervisor.ChildSpec{}); !errors.Is(err, supervisor.ErrInvalidSpec) {
		t.Fatalf("invalid child: %v", err)
	}
}

func TestRestartTypes(t *testing.T) {
	rt := newRuntime(t)
	ctx := ctxT(t)
	sup, err := Start(rt, Spec{Intensity: 10})
	if err != nil {
		t.Fatal(err)
	}
	perm, _ := StartChild(ctx, rt, sup, spec("perm", nil, supervisor.Permanent))
	trans, _ := StartChild(ctx, rt, sup, spec("trans", nil, supervisor.Transient))
	transCrash, _ := StartChild(ctx, rt, sup, spec("transCrash", nil, supervisor.Transient))
	temp, _ := StartChild(ctx, rt, sup, spec("temp", nil, supervisor.Temporary))
	_ = rt.Send(perm, proc.ErrNormal)
	_ = rt.Send(trans, proc.ErrNormal)
	_ = rt.Send(transCrash, errBoom)
	_ = rt.Send(temp, errBoom)
	testutil.Eventually(t, 5*time.Second, func() error {
		kids, err := WhichChildren(ctx, rt, sup)
		if err != nil {
			return err
		}
		var ids []string
		for _, k := range kids {
			if k.Status != supervisor.StatusRunning || k.PID == perm || k.PID == transCrash {
				return testutil.Errorf("child %+v not restarted yet", k)
			}
			ids = append(ids, k.ID)
		}
		if len(ids) != 2 || ids[0] != "perm" || ids[1] != "transCrash" {
			return testutil.Errorf("children %v", ids)
		}
		return nil
	})
}

func TestIntensity(t *testing.T) {
	rt := newRuntime(t)
	ctx := ctxT(t)
	sup, err := Start(rt, Spec{Intensity: 1, Period: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	rt.Watch(sup, func(_ proc.PID, r error) { done <- r })
	other, _ := StartChild(ctx, rt, sup, spec("other", nil, supervisor.Permanent))
	pid, _ := StartChild(ctx, rt, sup, spec("a", nil, supervisor.Permanent))
	_ = rt.Send(pid, errBoom)
	testutil.Eventually(t, 5*time.Second, func() error {
		kids, err := WhichChildren(ctx, rt, sup)
		if err != nil || len(kids) != 2 || kids[1].PID == pid {
			return testutil.Errorf("not restarted: %+v %v", kids, err)
		}
		pid = kids[1].PID
		return nil
	})
	_ = rt.Send(pid, errBoom)
	select {
	case r := <-done:
		if !errors.Is(r, supervisor.ErrMaxRestarts) {
			t.Fatalf("reason %v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("supervisor did not give up")
	}
	if rt.Alive(other) {
		t.Fatal("sibling left running")
	}
}

func TestShutdownIsConcurrent(t *testing.T) {
	rt := newRuntime(t)
	ctx := ctxT(t)
	st := &stopping{gate: make(chan struct{})}
	sup, err := Start(rt, Spec{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if _, err := StartChild(ctx, rt, sup, spec(n, st, supervisor.Permanent)); err != nil {
			t.Fatal(err)
		}
	}
	stopped := make(chan error, 1)
	go func() { stopped <- rt.Stop(ctx, sup, proc.ErrShutdown) }()
	// All three are in Terminate at once: the supervisor did not wait for
	// one before signalling the next.
	testutil.Eventually(t, 5*time.Second, func() error {
		st.mu.Lock()
		defer st.mu.Unlock()
		if len(st.names) != 3 {
			return testutil.Errorf("%d children stopping", len(st.names))
		}
		return nil
	})
	close(st.gate)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if n := rt.NumProcesses(); n != 0 {
		t.Fatalf("%d processes left", n)
	}
}

func TestShutdownKillsAfterTimeout(t *testing.T) {
	rt := newRuntime(t)
	ctx := ctxT(t)
	st := &stopping{gate: make(chan struct{})}
	defer close(st.gate)
	sup, err := Start(rt, Spec{})
	if err != nil {
		t.Fatal(err)
	}
	cs := spec("stuck", st, supervisor.Permanent)
	cs.Shutdown = 20 * time.Millisecond
	pid, _ := StartChild(ctx, rt, sup, cs)
	reason := make(chan error, 1)
	rt.Watch(pid, func(_ proc.PID, r error) { reason <- r })
	if err := rt.Stop(ctx, sup, proc.ErrShutdown); err != nil {
		t.Fatal(err)
	}
	if r := <-reason; !errors.Is(r, proc.ErrKilled) {
		t.Fatalf("reason %v", r)
	}
}

func TestInvalidSpec(t *testing.T) {
	rt := newRuntime(t)
	if _, err := Start(rt, Spec{MaxChildren: -1, Period: -time.Second}); !errors.Is(err, supervisor.ErrInvalidSpec) {
		t.Fatalf("err %v", err)
	}
}

func TestBackoff(t *testing.T) {
	clk := clocktest.New(time.Unix(1_000_000, 0))
	rt, err := proc.New(proc.Config{Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	ctx := ctxT(t)
	sup, err := Start(rt, Spec{Backoff: supervisor.Backoff{Initial: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := StartChild(ctx, rt, sup, spec("a", nil, supervisor.Permanent))
	_ = rt.Send(pid, errBoom)
	status := func() (supervisor.ChildInfo, error) {
		kids, err := WhichChildren(ctx, rt, sup)
		if err != nil || len(kids) != 1 {
			return supervisor.ChildInfo{}, testutil.Errorf("children %v %v", kids, err)
		}
		return kids[0], nil
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		k, err := status()
		if err != nil || k.Status != supervisor.StatusRestarting || !k.PID.IsZero() {
			return testutil.Errorf("child %+v %v, want restarting", k, err)
		}
		return nil
	})
	n, _ := CountChildren(ctx, rt, sup)
	if n.Specs != 1 || n.Active != 0 {
		t.Fatalf("counts %+v while restarting", n)
	}
	clk.Advance(time.Second)
	testutil.Eventually(t, 5*time.Second, func() error {
		k, err := status()
		if err != nil || k.Status != supervisor.StatusRunning || k.PID == pid || k.PID.IsZero() {
			return testutil.Errorf("child %+v %v, want restarted", k, err)
		}
		return nil
	})
}

func TestFailedRestartRetriesThenGivesUp(t *testing.T) {
	rt := newRuntime(t)
	ctx := ctxT(t)
	sup, err := Start(rt, Spec{Intensity: 3, Period: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	rt.Watch(sup, func(_ proc.PID, r error) { done <- r })
	starts := 0
	pid, err := StartChild(ctx, rt, sup, supervisor.ChildSpec{Start: func() proc.Behavior {
		starts++ // only the supervisor's goroutine calls Start
		if starts > 1 {
			return &worker{initErr: errBoom}
		}
		return &worker{}
	}})
	if err != nil {
		t.Fatal(err)
	}
	_ = rt.Send(pid, errBoom)
	select {
	case r := <-done:
		if !errors.Is(r, supervisor.ErrMaxRestarts) {
			t.Fatalf("reason %v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("supervisor did not give up")
	}
}

func TestUnderStaticSupervisor(t *testing.T) {
	rt := newRuntime(t)
	ctx := ctxT(t)
	st := &stopping{}
	app, err := supervisor.StartApp(rt, supervisor.Spec{Children: []supervisor.ChildSpec{{
		ID: "sessions", Type: supervisor.Supervisor, Start: func() proc.Behavior { return New(Spec{}) },
	}}})
	if err != nil {
		t.Fatal(err)
	}
	kids, _ := supervisor.WhichChildren(ctx, rt, app.PID())
	for _, n := range []string{"s1", "s2"} {
		if _, err := StartChild(ctx, rt, kids[0].PID, spec(n, st, supervisor.Temporary)); err != nil {
			t.Fatal(err)
		}
	}
	v, err := rt.Inspect(ctx, kids[0].PID)
	if in, ok := v.([]supervisor.ChildInfo); err != nil || !ok || len(in) != 2 {
		t.Fatalf("inspect %v %v", v, err)
	}
	if err := app.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(st.names) != 2 {
		t.Fatalf("stopped %v", st.names)
	}
	if n := rt.NumProcesses(); n != 0 {
		t.Fatalf("%d processes left", n)
	}
}

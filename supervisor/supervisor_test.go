package supervisor

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

func TestStartOrderAndReverseStopOrder(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	app, err := StartApp(rt, Spec{Children: []ChildSpec{wspec("a", rec), wspec("b", rec), wspec("c", rec)}})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "start", rec.take(), []string{"start:a", "start:b", "start:c"})
	if err := app.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	eq(t, "stop", rec.take(), []string{"stop:c", "stop:b", "stop:a"})
	if !errors.Is(app.Err(), proc.ErrShutdown) {
		t.Fatalf("root exit reason %v", app.Err())
	}
	if n := rt.NumProcesses(); n != 0 {
		t.Fatalf("%d processes left", n)
	}
}

func TestStrategies(t *testing.T) {
	for _, tc := range []struct {
		strategy Strategy
		want     []string // events after b panics
	}{
		{OneForOne, []string{"stop:b", "start:b"}},
		{OneForAll, []string{"stop:b", "stop:d", "stop:c", "stop:a", "start:a", "start:b", "start:c", "start:d"}},
		{RestForOne, []string{"stop:b", "stop:d", "stop:c", "start:b", "start:c", "start:d"}},
	} {
		t.Run(tc.strategy.String(), func(t *testing.T) {
			rt := newRuntime(t, nil)
			rec := &recorder{}
			sup, err := Start(rt, Spec{Strategy: tc.strategy, Children: []ChildSpec{
				wspec("a", rec), wspec("b", rec), wspec("c", rec), wspec("d", rec)}})
			if err != nil {
				t.Fatal(err)
			}
			rec.take()
			before := pids(t, rt, sup)
			_ = rt.Send(before["b"], cmdPanic{})
			eq(t, "events", waitEvents(t, rec, len(tc.want)), tc.want)
			after := pids(t, rt, sup)
			for id, old := range before {
				restarted := after[id] != old
				want := false
				for _, ev := range tc.want {
					want = want || ev == "start:"+id
				}
				if restarted != want || after[id].IsZero() {
					t.Errorf("child %s: pid %v -> %v, want restarted=%v", id, old, after[id], want)
				}
			}
		})
	}
}

func TestRestartTypes(t *testing.T) {
	reasons := map[string]error{
		"normal":         proc.ErrNormal,
		"shutdown":       proc.ErrShutdown,
		"shutdownDetail": proc.ShutdownError{Reason: errBoom},
		"crash":          errBoom,
		"killed":         proc.ErrKill,
	}
	for _, r := range []Restart{Permanent, Transient, Temporary} {
		for name, reason := range reasons {
			t.Run(r.String()+"/"+name, func(t *testing.T) {
				rt := newRuntime(t, nil)
				sup, err := Start(rt, Spec{Children: []ChildSpec{wspec("a", nil, restart(r))}})
				if err != nil {
					t.Fatal(err)
				}
				old := pids(t, rt, sup)["a"]
				wait := watchExit(t, rt, old)
				if reason == proc.ErrKill {
					_ = rt.Exit(old, proc.ErrKill)
				} else {
					_ = rt.Send(old, cmdStop{reason})
				}
				wait()
				wantRestart := r == Permanent || (r == Transient && (name == "crash" || name == "killed"))
				var want string
				switch {
				case wantRestart:
					want = "a:running"
				case r == Temporary:
					want = ""
				default:
					want = "a:stopped"
				}
				testutil.Eventually(t, 5*time.Second, func() error {
					if got := statuses(t, rt, sup); got != want {
						return testutil.Errorf("children %q, want %q", got, want)
					}
					return nil
				})
				if wantRestart && pids(t, rt, sup)["a"] == old {
					t.Fatal("not restarted")
				}
			})
		}
	}
}

func TestShutdownTimeoutKillsStuckChild(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	stuck := func(cs *ChildSpec, w *worker) { w.stuck = true; cs.Shutdown = 50 * time.Millisecond }
	sup, err := Start(rt, Spec{Children: []ChildSpec{wspec("a", rec, stuck)}})
	if err != nil {
		t.Fatal(err)
	}
	pid := pids(t, rt, sup)["a"]
	wait := watchExit(t, rt, pid)
	start := time.Now()
	if err := TerminateChild(ctxT(t), rt, sup, "a"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("stuck child stopped after %v, before its timeout", d)
	}
	if r := wait(); !errors.Is(r, proc.ErrKilled) {
		t.Fatalf("reason %v, want killed", r)
	}
	eq(t, "events", rec.take(), []string{"start:a", "stop:a"})
}

func TestShutdownWaitsForCleanStop(t *testing.T) {
	rt := newRuntime(t, nil)
	sup, err := Start(rt, Spec{Children: []ChildSpec{wspec("a", nil)}})
	if err != nil {
		t.Fatal(err)
	}
	wait := watchExit(t, rt, pids(t, rt, sup)["a"])
	if err := TerminateChild(ctxT(t), rt, sup, "a"); err != nil {
		t.Fatal(err)
	}
	if r := wait(); !errors.Is(r, proc.ErrShutdown) {
		t.Fatalf("reason %v, want shutdown", r)
	}
}

func TestBrutalKill(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	sup, err := Start(rt, Spec{Children: []ChildSpec{wspec("a", rec, func(cs *ChildSpec, _ *worker) { cs.Shutdown = BrutalKill })}})
	if err != nil {
		t.Fatal(err)
	}
	wait := watchExit(t, rt, pids(t, rt, sup)["a"])
	if err := TerminateChild(ctxT(t), rt, sup, "a"); err != nil {
		t.Fatal(err)
	}
	if r := wait(); !errors.Is(r, proc.ErrKilled) {
		t.Fatalf("reason %v, want killed", r)
	}
	eq(t, "events", rec.take(), []string{"start:a"}) // Terminate did not run
}

func TestIntensityExceededEscalates(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	sup, err := Start(rt, Spec{Intensity: 2, Period: time.Hour, Children: []ChildSpec{wspec("a", rec), wspec("b", rec)}})
	if err != nil {
		t.Fatal(err)
	}
	supDone := watchExit(t, rt, sup)
	for i := range 3 {
		pid := pids(t, rt, sup)["a"]
		wait := watchExit(t, rt, pid)
		_ = rt.Send(pid, cmdPanic{})
		wait()
		if i < 2 {
			testutil.Eventually(t, 5*time.Second, func() error {
				if p := pids(t, rt, sup)["a"]; p == pid || p.IsZero() {
					return testutil.Errorf("a not restarted")
				}
				return nil
			})
		}
	}
	reason := supDone()
	if !errors.Is(reason, ErrMaxRestarts) || !errors.Is(reason, proc.ErrShutdown) {
		t.Fatalf("supervisor exit reason %v, want ShutdownError{ErrMaxRestarts}", reason)
	}
	evs := rec.take()
	if evs[len(evs)-1] != "stop:b" {
		t.Fatalf("b not stopped last: %v", evs)
	}
	if n := rt.NumProcesses(); n != 0 {
		t.Fatalf("%d processes left", n)
	}
}

func TestNoRestarts(t *testing.T) {
	rt := newRuntime(t, nil)
	sup, err := Start(rt, Spec{Intensity: NoRestarts, Children: []ChildSpec{wspec("a", nil)}})
	if err != nil {
		t.Fatal(err)
	}
	done := watchExit(t, rt, sup)
	_ = rt.Send(pids(t, rt, sup)["a"], cmdPanic{})
	if r := done(); !errors.Is(r, ErrMaxRestarts) {
		t.Fatalf("reason %v", r)
	}
}

func TestNestedEscalation(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	inner := Spec{Intensity: 1, Period: time.Hour, Children: []ChildSpec{wspec("w", rec)}}
	top, err := Start(rt, Spec{Strategy: OneForAll, Intensity: 5, Period: time.Hour, Children: []ChildSpec{
		wspec("first", rec),
		{ID: "inner", Type: Supervisor, Start: func() proc.Behavior { return New(inner) }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "start", rec.take(), []string{"start:first", "start:w"})
	innerPID := pids(t, rt, top)["inner"]
	innerDone := watchExit(t, rt, innerPID)
	// Two crashes of w within the period: the inner supervisor gives up.
	w := pids(t, rt, innerPID)["w"]
	wait := watchExit(t, rt, w)
	_ = rt.Send(w, cmdPanic{})
	wait()
	eq(t, "first restart", waitEvents(t, rec, 2), []string{"stop:w", "start:w"})
	_ = rt.Send(pids(t, rt, innerPID)["w"], cmdPanic{})
	if r := innerDone(); !errors.Is(r, ErrMaxRestarts) {
		t.Fatalf("inner exit reason %v", r)
	}
	// The top supervisor (one_for_all) restarts the whole tree.
	eq(t, "escalation", waitEvents(t, rec, 4), []string{"stop:w", "stop:first", "start:first", "start:w"})
	if got := statuses(t, rt, top); got != "first:running inner:running" {
		t.Fatalf("top children %q", got)
	}
}

func TestStartFailureRollsBack(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	_, err := Start(rt, Spec{Children: []ChildSpec{
		wspec("a", rec), wspec("b", rec),
		wspec("c", rec, func(_ *ChildSpec, w *worker) { w.initErr = errBoom }),
		wspec("d", rec),
	}})
	var se *StartError
	if !errors.As(err, &se) || se.ID != "c" || !errors.Is(err, errBoom) {
		t.Fatalf("err %v, want StartError for c", err)
	}
	eq(t, "events", rec.take(), []string{"start:a", "start:b", "stop:b", "stop:a"})
	if n := rt.NumProcesses(); n != 0 {
		t.Fatalf("%d processes left", n)
	}
}

func TestInvalidSpecFailsStart(t *testing.T) {
	rt := newRuntime(t, nil)
	_, err := Start(rt, Spec{Children: []ChildSpec{wspec("a", nil), wspec("a", nil)}})
	if !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("err %v", err)
	}
}

func TestParentExitStopsSupervisor(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	supCh := make(chan proc.PID, 1)
	parent, err := rt.Spawn(proc.HandlerFunc(func(p *proc.Process, msg any) {
		switch msg := msg.(type) {
		case string:
			pid, err := p.Spawn(New(Spec{Children: []ChildSpec{wspec("a", rec), wspec("b", rec)}}), proc.WithLink())
			if err != nil {
				panic(err)
			}
			supCh <- pid
		case proc.PID:
			_ = p.Exit(msg, proc.ErrShutdown)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	_ = rt.Send(parent, "start")
	sup := <-supCh
	done := watchExit(t, rt, sup)
	_ = rt.Send(parent, sup)
	if r := done(); !errors.Is(r, proc.ErrShutdown) {
		t.Fatalf("reason %v", r)
	}
	eq(t, "events", rec.take(), []string{"start:a", "start:b", "stop:b", "stop:a"})
}

func TestExitFromStrangerIgnored(t *testing.T) {
	rt := newRuntime(t, nil)
	sup, err := Start(rt, Spec{Children: []ChildSpec{wspec("a", nil)}})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := rt.Spawn(proc.HandlerFunc(func(*proc.Process, any) {}))
	if err != nil {
		t.Fatal(err)
	}
	_ = rt.Send(sup, proc.Exit{From: stranger, Reason: errBoom})
	_ = rt.Send(sup, proc.Exit{From: proc.PID{Node: "other@host", ID: 7}, Reason: errBoom})
	if got := statuses(t, rt, sup); got != "a:running" {
		t.Fatalf("children %q", got)
	}
	if !rt.Alive(sup) {
		t.Fatal("supervisor died")
	}
}

func TestAPI(t *testing.T) {
	rt := newRuntime(t, nil)
	ctx := ctxT(t)
	rec := &recorder{}
	sup, err := Start(rt, Spec{Children: []ChildSpec{wspec("a", rec), wspec("tmp", rec, restart(Temporary))}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RestartChild(ctx, rt, sup, "a"); !errors.Is(err, ErrRunning) {
		t.Fatalf("restart running: %v", err)
	}
	if err := DeleteChild(ctx, rt, sup, "a"); !errors.Is(err, ErrRunning) {
		t.Fatalf("delete running: %v", err)
	}
	if err := TerminateChild(ctx, rt, sup, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("terminate unknown: %v", err)
	}
	if _, err := StartChild(ctx, rt, sup, wspec("a", rec)); !errors.Is(err, ErrAlreadyStarted) {
		t.Fatalf("start duplicate: %v", err)
	}
	if err := TerminateChild(ctx, rt, sup, "a"); err != nil {
		t.Fatal(err)
	}
	if err := TerminateChild(ctx, rt, sup, "tmp"); err != nil {
		t.Fatal(err)
	}
	if got := statuses(t, rt, sup); got != "a:stopped" {
		t.Fatalf("children %q", got)
	}
	if _, err := StartChild(ctx, rt, sup, wspec("a", rec)); !errors.Is(err, ErrAlreadyPresent) {
		t.Fatalf("start present: %v", err)
	}
	pid, err := RestartChild(ctx, rt, sup, "a")
	if err != nil || !rt.Alive(pid) {
		t.Fatalf("restart: %v %v", pid, err)
	}
	if err := TerminateChild(ctx, rt, sup, "a"); err != nil {
		t.Fatal(err)
	}
	if err := DeleteChild(ctx, rt, sup, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := StartChild(ctx, rt, sup, ChildSpec{ID: "x"}); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("start invalid: %v", err)
	}
	if _, err := StartChild(ctx, rt, sup, wspec("bad", rec, func(_ *ChildSpec, w *worker) { w.initErr = errBoom })); !errors.Is(err, errBoom) {
		t.Fatalf("start failing: %v", err)
	}
	if _, err := StartChild(ctx, rt, sup, ChildSpec{ID: "nil", Start: func() proc.Behavior { return nil }}); !errors.Is(err, ErrNilBehavior) {
		t.Fatalf("start nil: %v", err)
	}
	if _, err := StartChild(ctx, rt, sup, wspec("b", rec)); err != nil {
		t.Fatal(err)
	}
	if _, err := StartChild(ctx, rt, sup, ChildSpec{ID: "s", Type: Supervisor, Start: func() proc.Behavior { return New(Spec{}) }}); err != nil {
		t.Fatal(err)
	}
	n, err := CountChildren(ctx, rt, sup)
	if err != nil || n != (Counts{Specs: 2, Active: 2, Supervisors: 1, Workers: 1}) {
		t.Fatalf("counts %+v %v", n, err)
	}
	kids, err := WhichChildren(ctx, rt, sup)
	if err != nil || len(kids) != 2 || kids[1].Type != Supervisor || kids[0].ID != "b" {
		t.Fatalf("which %+v %v", kids, err)
	}
	v, err := rt.Inspect(ctx, sup)
	if in, ok := v.([]ChildInfo); err != nil || !ok || len(in) != 2 {
		t.Fatalf("inspect %v %v", v, err)
	}
}

func TestAppCloseIdempotent(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	app, err := StartApp(rt, Spec{Children: []ChildSpec{wspec("a", rec), wspec("b", rec)}})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- app.Close(context.Background()) }()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	<-app.Done()
	if err := app.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	eq(t, "events", rec.take(), []string{"start:a", "start:b", "stop:b", "stop:a"})
}

func TestAppDoneOnGiveUp(t *testing.T) {
	rt := newRuntime(t, nil)
	app, err := StartApp(rt, Spec{Intensity: NoRestarts, Children: []ChildSpec{wspec("a", nil)}})
	if err != nil {
		t.Fatal(err)
	}
	if app.Err() != nil {
		t.Fatal("Err before exit")
	}
	_ = rt.Send(pids(t, rt, app.PID())["a"], cmdPanic{})
	if err := app.Wait(ctxT(t)); !errors.Is(err, ErrMaxRestarts) {
		t.Fatalf("wait %v", err)
	}
	if err := app.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestAppCloseKillsOnTimeout(t *testing.T) {
	rt := newRuntime(t, nil)
	app, err := StartApp(rt, Spec{Children: []ChildSpec{wspec("a", nil, func(cs *ChildSpec, w *worker) { w.stuck = true; cs.Shutdown = Infinity })}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := app.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close %v", err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := rt.NumProcesses(); n != 0 {
			return testutil.Errorf("%d processes left", n)
		}
		return nil
	})
}

func TestSupervisorKilledWhileStoppingChild(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	sup, err := Start(rt, Spec{Children: []ChildSpec{
		wspec("a", rec), wspec("stuck", rec, func(cs *ChildSpec, w *worker) { w.stuck = true; cs.Shutdown = Infinity })}})
	if err != nil {
		t.Fatal(err)
	}
	kids := pids(t, rt, sup)
	stuckDone := watchExit(t, rt, kids["stuck"])
	aDone := watchExit(t, rt, kids["a"])
	go func() { _ = TerminateChild(context.Background(), rt, sup, "stuck") }()
	testutil.Eventually(t, 5*time.Second, func() error {
		if rec.len() < 3 { // start:a start:stuck stop:stuck
			return testutil.Errorf("stuck child not stopping yet")
		}
		return nil
	})
	_ = rt.Exit(sup, proc.ErrKill)
	if r := stuckDone(); !errors.Is(r, proc.ErrKilled) {
		t.Fatalf("stuck child reason %v", r)
	}
	if r := aDone(); !errors.Is(r, proc.ErrKilled) {
		t.Fatalf("sibling reason %v", r)
	}
}

func TestRuntimeCloseWithTrees(t *testing.T) {
	rt, err := proc.New(proc.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	inner := Spec{Strategy: OneForAll, Children: []ChildSpec{wspec("x", nil), wspec("y", nil)}}
	_, err = StartApp(rt, Spec{Children: []ChildSpec{
		wspec("a", nil),
		{ID: "inner", Type: Supervisor, Start: func() proc.Behavior { return New(inner) }},
		wspec("b", nil, restart(Transient)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := rt.NumProcesses(); n != 0 {
		t.Fatalf("%d processes left", n)
	}
}

func TestTree(t *testing.T) {
	rt := newRuntime(t, nil)
	inner := Spec{Children: []ChildSpec{wspec("x", nil), wspec("y", nil)}}
	app, err := StartApp(rt, Spec{Children: []ChildSpec{
		wspec("a", nil),
		{ID: "inner", Type: Supervisor, Start: func() proc.Behavior { return New(inner) }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tree, err := Tree(ctxT(t), rt, app.PID())
	if err != nil {
		t.Fatal(err)
	}
	if len(tree) != 2 || tree[0].ID != "a" || tree[0].Children != nil || len(tree[1].Children) != 2 || tree[1].Children[1].ID != "y" {
		t.Fatalf("tree %+v", tree)
	}
	if _, err := Tree(ctxT(t), rt, tree[0].PID); err == nil {
		t.Fatal("Tree of a worker succeeded")
	}
}

func TestExitFromOutsideStopsParentlessSupervisor(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	sup, err := Start(rt, Spec{Children: []ChildSpec{wspec("a", rec), wspec("b", rec)}})
	if err != nil {
		t.Fatal(err)
	}
	done := watchExit(t, rt, sup)
	_ = rt.Exit(sup, proc.ErrShutdown)
	if r := done(); !errors.Is(r, proc.ErrShutdown) {
		t.Fatalf("reason %v", r)
	}
	eq(t, "events", rec.take(), []string{"start:a", "start:b", "stop:b", "stop:a"})
}

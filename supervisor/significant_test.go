package supervisor

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
	"pgregory.net/rapid"
)

func significant(r Restart) func(*ChildSpec, *worker) {
	return func(cs *ChildSpec, _ *worker) { cs.Restart, cs.Significant = r, true }
}

func TestAutoShutdown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		auto     AutoShutdown
		restart  Restart
		reason   error
		shutdown bool
	}{
		{"any: transient ends normally", AnySignificant, Transient, proc.ErrNormal, true},
		{"any: transient shuts down", AnySignificant, Transient, proc.ShutdownError{Reason: errBoom}, true},
		{"any: transient crashes and is restarted", AnySignificant, Transient, errBoom, false},
		{"any: temporary crashes", AnySignificant, Temporary, errBoom, true},
		{"any: temporary ends normally", AnySignificant, Temporary, proc.ErrNormal, true},
		{"all: one of two ends", AllSignificant, Transient, proc.ErrNormal, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newRuntime(t, nil)
			rec := &recorder{}
			pid, err := Start(rt, Spec{AutoShutdown: tc.auto, Children: []ChildSpec{
				wspec("a", rec),
				wspec("sig1", rec, significant(tc.restart)),
				wspec("sig2", rec, significant(tc.restart)),
				wspec("c", rec),
			}})
			if err != nil {
				t.Fatal(err)
			}
			exited := watchExit(t, rt, pid)
			waitEvents(t, rec, 4)
			old := pids(t, rt, pid)["sig1"]
			rt.Send(old, cmdStop{reason: tc.reason})
			if !tc.shutdown {
				waitEvents(t, rec, 1) // sig1's Terminate
				testutil.Eventually(t, 5*time.Second, func() error {
					got := statuses(t, rt, pid)
					want := "a:running sig1:running sig2:running c:running"
					if tc.restart == Transient && IsNormalOrShutdown(tc.reason) {
						want = "a:running sig1:stopped sig2:running c:running"
					}
					if got != want {
						return fmt.Errorf("children %s, want %s", got, want)
					}
					return nil
				})
				return
			}
			if r := exited(); r != proc.ErrShutdown {
				t.Fatalf("supervisor exited with %v, want shutdown", r)
			}
			eq(t, "stop order", rec.take(), []string{"stop:sig1", "stop:c", "stop:sig2", "stop:a"})
		})
	}
}

// IsNormalOrShutdown reports a reason a transient child is not restarted
// after.
func IsNormalOrShutdown(reason error) bool { return !Transient.ShouldRestart(reason) }

func TestAllSignificant(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	pid, err := Start(rt, Spec{AutoShutdown: AllSignificant, Children: []ChildSpec{
		wspec("s1", rec, significant(Transient)),
		wspec("w", rec),
		wspec("s2", rec, significant(Temporary)),
		wspec("s3", rec, significant(Transient)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	exited := watchExit(t, rt, pid)
	waitEvents(t, rec, 4)
	kids := pids(t, rt, pid)
	// Stopped by the supervisor: does not count as ending on its own, but
	// is no longer running either.
	if err := TerminateChild(ctxT(t), rt, pid, "s1"); err != nil {
		t.Fatal(err)
	}
	rt.Send(kids["s2"], cmdStop{reason: errBoom}) // temporary: gone, not restarted
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := statuses(t, rt, pid); got != "s1:stopped w:running s3:running" {
			return errors.New(got)
		}
		return nil
	})
	rt.Send(kids["s3"], cmdStop{reason: proc.ErrNormal})
	if r := exited(); r != proc.ErrShutdown {
		t.Fatalf("supervisor exited with %v", r)
	}
}

// A group restart stops significant children: that does not shut the
// supervisor down.
func TestGroupRestartDoesNotTrigger(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	pid, err := Start(rt, Spec{Strategy: OneForAll, AutoShutdown: AnySignificant, Children: []ChildSpec{
		wspec("s", rec, significant(Temporary)),
		wspec("t", rec, significant(Transient)),
		wspec("w", rec),
	}})
	if err != nil {
		t.Fatal(err)
	}
	waitEvents(t, rec, 3)
	rt.Send(pids(t, rt, pid)["w"], cmdStop{reason: errBoom})
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := statuses(t, rt, pid); got != "t:running w:running" {
			return errors.New(got)
		}
		return nil
	})
	if !rt.Alive(pid) {
		t.Fatal("supervisor stopped")
	}
}

// A significant child ends while the supervisor is busy restarting another
// child (waiting for its acknowledgement): once the restart is done, the
// supervisor shuts down, and the child it just restarted does not outlive
// it.
func TestSignificantEndsDuringRestart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		restart  Restart
		reason   error
		shutdown bool
	}{
		{"transient ends", Transient, proc.ErrNormal, true},
		{"temporary crashes", Temporary, errBoom, true},
		{"transient crashes", Transient, errBoom, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newRuntime(t, nil)
			rec := &recorder{}
			release := make(chan struct{})
			starts := 0
			slow := ChildSpec{ID: "slow", StartAck: func(ack *Ack) proc.Behavior {
				starts++
				mode := "ready"
				if starts > 1 {
					mode = "never"
					go func() { <-release; ack.Ready() }()
				}
				return &acker{id: "slow", rec: rec, ack: ack, mode: mode}
			}}
			pid, err := Start(rt, Spec{AutoShutdown: AnySignificant, Children: []ChildSpec{
				slow, wspec("sig", rec, significant(tc.restart)),
			}})
			if err != nil {
				t.Fatal(err)
			}
			exited := watchExit(t, rt, pid)
			eq(t, "start", waitEvents(t, rec, 3), []string{"init:slow", "ready:slow", "start:sig"})
			kids := pids(t, rt, pid)
			rt.Send(kids["slow"], cmdPanic{})
			eq(t, "restarting", waitEvents(t, rec, 2), []string{"stop:slow", "init:slow"})
			// The supervisor waits for the restarted child: the
			// significant one ends meanwhile.
			sigDone := watchExit(t, rt, kids["sig"])
			rt.Send(kids["sig"], cmdStop{reason: tc.reason})
			sigDone()
			close(release)
			if !tc.shutdown {
				testutil.Eventually(t, 5*time.Second, func() error {
					now := pids(t, rt, pid)
					if now["sig"].IsZero() || now["sig"] == kids["sig"] || now["slow"].IsZero() {
						return fmt.Errorf("children %v", now)
					}
					return nil
				})
				return
			}
			if r := exited(); r != proc.ErrShutdown {
				t.Fatalf("supervisor exited with %v", r)
			}
			testutil.Eventually(t, 5*time.Second, func() error {
				if n := rt.NumProcesses(); n != 0 {
					return fmt.Errorf("%d processes left: %v", n, rt.Processes())
				}
				return nil
			})
			if got := rec.take(); !slices.Contains(got, "stop:slow") {
				t.Fatalf("the restarted child was not stopped: %v", got)
			}
		})
	}
}

func TestAutoShutdownValidation(t *testing.T) {
	rt := newRuntime(t, nil)
	sig := wspec("s", nil, significant(Transient))
	if err := (Spec{Children: []ChildSpec{sig}}).Validate(); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("significant child under never: %v", err)
	}
	if err := (Spec{AutoShutdown: 7}).Validate(); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("unknown auto shutdown: %v", err)
	}
	pid, err := Start(rt, Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StartChild(ctxT(t), rt, pid, sig); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("StartChild of a significant child under never: %v", err)
	}
	pid, err = Start(rt, Spec{AutoShutdown: AnySignificant})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StartChild(ctxT(t), rt, pid, sig); err != nil {
		t.Fatal(err)
	}
	kids, _ := WhichChildren(ctxT(t), rt, pid)
	if len(kids) != 1 || !kids[0].Significant {
		t.Fatalf("children %+v", kids)
	}
	for a, want := range map[AutoShutdown]string{Never: "never", AnySignificant: "any_significant", AllSignificant: "all_significant", 9: "AutoShutdown(9)"} {
		if a.String() != want {
			t.Errorf("%d: %q", int(a), a.String())
		}
	}
}

func TestAppAutoShutdown(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	app, err := StartApp(rt, Spec{AutoShutdown: AnySignificant, Children: []ChildSpec{wspec("job", rec, significant(Transient))}})
	if err != nil {
		t.Fatal(err)
	}
	rt.Send(pids(t, rt, app.PID())["job"], cmdStop{reason: proc.ErrNormal})
	if err := app.Wait(ctxT(t)); err != proc.ErrShutdown {
		t.Fatalf("app ended with %v", err)
	}
}

// TestAutoShutdownDecisions drives the core with random exits and
// terminations of random children under every strategy, and checks its
// auto-shutdown decision against the rule: a significant child that ends
// on its own and is not restarted stops the supervisor under
// AnySignificant, and under AllSignificant when no other significant child
// is left that has not ended.
func TestAutoShutdownDecisions(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		auto := rapid.SampledFrom([]AutoShutdown{AnySignificant, AllSignificant}).Draw(t, "auto")
		spec := Spec{
			Strategy:     rapid.SampledFrom([]Strategy{OneForOne, OneForAll, RestForOne}).Draw(t, "strategy"),
			Intensity:    1 << 20,
			Period:       time.Hour,
			AutoShutdown: auto,
		}
		if rapid.Bool().Draw(t, "backoff") {
			// Restarts wait: children stay restarting until a "due" step.
			spec.Backoff = Backoff{Initial: time.Second}
		}
		n := rapid.IntRange(2, 6).Draw(t, "children")
		for i := range n {
			cs := ChildSpec{ID: fmt.Sprint(i), Start: func() proc.Behavior { return proc.Base{} }}
			if rapid.IntRange(0, 2).Draw(t, "significant") > 0 {
				cs.Significant = true
				cs.Restart = rapid.SampledFrom([]Restart{Transient, Temporary}).Draw(t, "restart")
			} else {
				cs.Restart = rapid.SampledFrom([]Restart{Permanent, Transient, Temporary}).Draw(t, "restart")
			}
			spec.Children = append(spec.Children, cs)
		}
		if err := spec.Validate(); err != nil {
			t.Fatal(err)
		}
		c := newCore(spec)
		now := time.Unix(0, 0)
		var serial uint64
		startAll := func(ks []*child) {
			for _, k := range ks {
				serial++
				c.started(k, proc.PID{Node: "n", ID: serial}, now)
			}
		}
		startAll(c.kids)
		// The model: which children have ended (on their own without
		// restart, terminated, or forgotten by a group restart).
		ended := map[string]bool{}
		sig := map[string]bool{}
		for _, cs := range spec.Children {
			sig[cs.ID] = cs.Significant
		}
		var pending []uint64 // restarts waiting for their backoff
		for step := range 80 {
			if len(pending) > 0 && rapid.IntRange(0, 2).Draw(t, "due") == 0 {
				startAll(c.due(pending[0]))
				pending = pending[1:]
				continue
			}
			var running []*child
			for _, k := range c.kids {
				if k.state == stateRunning {
					running = append(running, k)
				}
			}
			if len(running) == 0 {
				if len(pending) == 0 {
					return
				}
				continue
			}
			k := rapid.SampledFrom(running).Draw(t, "child")
			id := k.spec.ID
			if rapid.IntRange(0, 4).Draw(t, "op") == 0 {
				if _, err := c.terminate(id); err != nil {
					t.Fatal(err)
				}
				ended[id] = true
				continue
			}
			reason := rapid.SampledFrom([]error{proc.ErrNormal, proc.ErrShutdown, errBoom}).Draw(t, "reason")
			restarted := k.spec.Restart.ShouldRestart(reason)
			want := false
			if !restarted {
				ended[id] = true
				if sig[id] {
					want = auto == AnySignificant
					if auto == AllSignificant {
						want = true
						for other, s := range sig {
							if s && other != id && !ended[other] {
								want = false
							}
						}
					}
				}
			} else {
				// A group restart forgets its temporary members and
				// starts the others, those stopped before included.
				i := c.find(id)
				for _, j := range c.group(i) {
					o := c.kids[j]
					ended[o.spec.ID] = o.spec.Restart == Temporary && o != k
				}
			}
			eff, ok := c.exited(k.pid, reason, now)
			if !ok {
				t.Fatalf("step %d: exit of child %s not recognized", step, id)
			}
			if eff.shutdown != want {
				t.Fatalf("step %d: child %s (significant %v, %v) exited with %v: shutdown %v, want %v (ended %v)",
					step, id, sig[id], k.spec.Restart, reason, eff.shutdown, want, ended)
			}
			if eff.shutdown {
				return
			}
			switch {
			case eff.tok != 0 && eff.delay > 0:
				pending = append(pending, eff.tok)
			case eff.tok != 0:
				startAll(c.due(eff.tok))
			}
		}
	})
}

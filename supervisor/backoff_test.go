package supervisor

import (
	"errors"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

// waitStatus polls until the children render as want.
func waitStatus(t tb, rt *proc.Runtime, sup proc.PID, want string) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := statuses(t, rt, sup); got != want {
			return testutil.Errorf("children %q, want %q", got, want)
		}
		return nil
	})
}

func TestBackoffDelaysRestarts(t *testing.T) {
	clk := clocktest.New(time.Unix(1_000_000, 0))
	rt := newRuntime(t, clk)
	b := Backoff{Initial: time.Second, Multiplier: 2, Max: 4 * time.Second, ResetAfter: time.Minute}
	sup, err := Start(rt, Spec{Intensity: 100, Backoff: b, Children: []ChildSpec{wspec("a", nil), wspec("b", nil)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, delay := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		pid := pids(t, rt, sup)["a"]
		wait := watchExit(t, rt, pid)
		_ = rt.Send(pid, cmdPanic{})
		wait()
		waitStatus(t, rt, sup, "a:restarting b:running")
		if _, err := RestartChild(ctxT(t), rt, sup, "a"); !errors.Is(err, ErrRestarting) {
			t.Fatalf("RestartChild while restarting: %v", err)
		}
		if err := DeleteChild(ctxT(t), rt, sup, "a"); !errors.Is(err, ErrRestarting) {
			t.Fatalf("DeleteChild while restarting: %v", err)
		}
		clk.Advance(delay - time.Millisecond)
		if got := statuses(t, rt, sup); got != "a:restarting b:running" {
			t.Fatalf("restarted before its delay %v: %q", delay, got)
		}
		clk.Advance(time.Millisecond)
		waitStatus(t, rt, sup, "a:running b:running")
	}
	// A child that stays up for ResetAfter starts again from Initial.
	clk.Advance(time.Minute)
	pid := pids(t, rt, sup)["a"]
	wait := watchExit(t, rt, pid)
	_ = rt.Send(pid, cmdPanic{})
	wait()
	waitStatus(t, rt, sup, "a:restarting b:running")
	clk.Advance(time.Second)
	waitStatus(t, rt, sup, "a:running b:running")
}

func TestBackoffGroupRestartAndCancel(t *testing.T) {
	clk := clocktest.New(time.Unix(1_000_000, 0))
	rt := newRuntime(t, clk)
	rec := &recorder{}
	sup, err := Start(rt, Spec{Strategy: OneForAll, Intensity: 100, Backoff: Backoff{Initial: time.Second},
		Children: []ChildSpec{wspec("a", rec), wspec("b", rec), wspec("c", rec)}})
	if err != nil {
		t.Fatal(err)
	}
	rec.take()
	_ = rt.Send(pids(t, rt, sup)["b"], cmdPanic{})
	eq(t, "stops", waitEvents(t, rec, 3), []string{"stop:b", "stop:c", "stop:a"})
	waitStatus(t, rt, sup, "a:restarting b:restarting c:restarting")
	clk.Advance(time.Second)
	eq(t, "starts", waitEvents(t, rec, 3), []string{"start:a", "start:b", "start:c"})
	waitStatus(t, rt, sup, "a:running b:running c:running")

	// TerminateChild cancels a pending restart.
	_ = rt.Send(pids(t, rt, sup)["a"], cmdPanic{})
	waitStatus(t, rt, sup, "a:restarting b:restarting c:restarting")
	for _, id := range []string{"a", "b", "c"} {
		if err := TerminateChild(ctxT(t), rt, sup, id); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Hour)
	if got := statuses(t, rt, sup); got != "a:stopped b:stopped c:stopped" {
		t.Fatalf("children %q after cancelled restart", got)
	}
}

func TestFailedRestartIsRetriedThenEscalates(t *testing.T) {
	rt := newRuntime(t, nil)
	fail := make(chan bool, 1)
	fail <- false
	cs := ChildSpec{ID: "a", Start: func() proc.Behavior {
		f := <-fail
		fail <- true // every start after the first fails
		if f {
			return &worker{id: "a", initErr: errBoom}
		}
		return &worker{id: "a"}
	}}
	sup, err := Start(rt, Spec{Intensity: 3, Period: time.Hour, Children: []ChildSpec{cs}})
	if err != nil {
		t.Fatal(err)
	}
	done := watchExit(t, rt, sup)
	_ = rt.Send(pids(t, rt, sup)["a"], cmdPanic{})
	if r := done(); !errors.Is(r, ErrMaxRestarts) {
		t.Fatalf("reason %v", r)
	}
}

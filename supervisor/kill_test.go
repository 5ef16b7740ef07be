package supervisor

import (
	"fmt"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

// slowStart traps exits, like a supervisor child does, and takes its time
// in Init.
type slowStart struct {
	proc.Base
	entered chan struct{}
	release chan struct{}
}

func (s *slowStart) Init(p *proc.Process) error {
	p.TrapExit(true)
	close(s.entered)
	<-s.release
	return nil
}

// A supervisor killed while one of its children is still starting does not
// go on to start the next child: that child would run linked to a dead
// supervisor, unsupervised. Start fails and no process is left.
func TestSupervisorKilledDuringAChildsStartLeavesNoOrphan(t *testing.T) {
	rt := newRuntime(t, nil)
	slow := &slowStart{entered: make(chan struct{}), release: make(chan struct{})}
	spec := Spec{Children: []ChildSpec{
		{ID: "slow", Start: func() proc.Behavior { return slow }},
		{ID: "next", Start: func() proc.Behavior { return proc.HandlerFunc(func(*proc.Process, any) {}) }},
	}}
	res := make(chan error, 1)
	go func() {
		_, err := Start(rt, spec)
		res <- err
	}()
	<-slow.entered
	ps := rt.Processes() // the supervisor, then the slow child
	if len(ps) != 2 {
		t.Fatalf("processes %v", ps)
	}
	if err := rt.Exit(ps[0], proc.ErrKill); err != nil {
		t.Fatal(err)
	}
	close(slow.release)
	select {
	case err := <-res:
		if err == nil {
			t.Fatal("Start of a killed supervisor succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Start did not return")
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := rt.NumProcesses(); n != 0 {
			return fmt.Errorf("%d processes left: %v", n, rt.Processes())
		}
		return nil
	})
}

// A transient child is restarted after a reason that merely wraps the
// normal or the shutdown reason, such as a dependency's error: only the
// reasons themselves (and proc.ShutdownError) are a clean end.
func TestTransientRestartsAfterAWrappedNormalReason(t *testing.T) {
	for _, reason := range []error{fmt.Errorf("dependency: %w", proc.ErrNormal), fmt.Errorf("dependency: %w", proc.ErrShutdown)} {
		if !Transient.ShouldRestart(reason) {
			t.Errorf("a transient child is not restarted after %q", reason)
		}
	}
	for _, reason := range []error{nil, proc.ErrNormal, proc.ErrShutdown, proc.ShutdownError{Reason: errBoom}} {
		if Transient.ShouldRestart(reason) {
			t.Errorf("a transient child is restarted after %v", reason)
		}
	}
	rt := newRuntime(t, nil)
	rec := &recorder{}
	sup, err := Start(rt, Spec{Children: []ChildSpec{wspec("w", rec, restart(Transient))}})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "start", waitEvents(t, rec, 1), []string{"start:w"})
	rt.Send(pids(t, rt, sup)["w"], cmdStop{fmt.Errorf("dependency: %w", proc.ErrNormal)})
	eq(t, "restart", waitEvents(t, rec, 2), []string{"stop:w", "start:w"})
}

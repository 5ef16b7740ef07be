package supervisor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

// readyThenCrash acknowledges its start from the continuation that runs
// right after its Init, and crashes at once.
type readyThenCrash struct {
	proc.Base
	ack *Ack
}

func (r *readyThenCrash) Init(p *proc.Process) error {
	p.Continue("go")
	return nil
}

func (r *readyThenCrash) HandleContinue(*proc.Process, any) {
	r.ack.Ready()
	panic("crash right after the ack")
}

// Reference: proc_lib:init_ack — a child that acknowledged and then
// exited has started (its ack came first): the start succeeds, and its
// exit is an exit of a started child. Whichever the supervisor notices
// first, the outcome is the same every time.
func TestAckThenExitIsAStart(t *testing.T) {
	rt := newRuntime(t, nil)
	sup, err := Start(rt, Spec{Intensity: NoRestarts})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		_, err := StartChild(ctxT(t), rt, sup, ChildSpec{
			ID: fmt.Sprint("c", i), Restart: Temporary,
			StartAck: func(ack *Ack) proc.Behavior { return &readyThenCrash{ack: ack} },
		})
		if err != nil {
			t.Fatalf("start %d of a child that acknowledged before it crashed: %v", i, err)
		}
	}
}

// The supervisor is killed while StartChild waits for a child's
// acknowledgement: the caller hears at once that the start failed, and
// the child does not outlive its supervisor.
func TestSupervisorKilledDuringStartChildAck(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	sup, err := Start(rt, Spec{})
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := StartChild(context.Background(), rt, sup, ackSpec("c", rec, "never"))
		res <- err
	}()
	waitEvents(t, rec, 1) // the child is in its Init's continuation, not acknowledging
	if err := rt.Exit(sup, proc.ErrKill); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		// The caller hears of its callee's exit, or the callback that
		// still ran after the kill answered first: the start was given up.
		var exit *proc.ExitError
		if !(errors.As(err, &exit) && exit.PID == sup) && !errors.Is(err, ErrParentExited) {
			t.Fatalf("StartChild of a killed supervisor: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("StartChild still waits after its supervisor was killed")
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := rt.NumProcesses(); n != 0 {
			return fmt.Errorf("%d processes left: %v", n, rt.Processes())
		}
		return nil
	})
}

// stubbornInit ignores its process's context: its Init takes the time it
// takes. Go cannot stop it, so the start timeout kills the process around
// it and gives up on the start; Init's goroutine ends when Init returns,
// and the child never runs a callback.
type stubbornInit struct {
	proc.Base
	entered   chan struct{}
	release   chan struct{}
	returned  chan struct{}
	callbacks *atomic.Int64
}

func (s *stubbornInit) Init(*proc.Process) error {
	close(s.entered)
	<-s.release
	close(s.returned)
	return nil
}

func (s *stubbornInit) HandleInfo(*proc.Process, any) { s.callbacks.Add(1) }

func TestStartTimeoutWithInitIgnoringContext(t *testing.T) {
	// The runtime's clock is manual: the start times out while Init is
	// known to run, whatever the load (with a real 50 ms timeout, a slow
	// machine gave the start up before Init began, and the test waited for
	// an Init that was rightly never called).
	clk := clocktest.New(time.Unix(0, 0))
	rt := newRuntime(t, clk)
	sup, err := Start(rt, Spec{})
	if err != nil {
		t.Fatal(err)
	}
	var callbacks atomic.Int64
	beh := &stubbornInit{entered: make(chan struct{}), release: make(chan struct{}), returned: make(chan struct{}), callbacks: &callbacks}
	started := make(chan error, 1)
	go func() {
		_, err := StartChild(ctxT(t), rt, sup, ChildSpec{
			ID: "stubborn", StartTimeout: 5 * time.Second, Start: func() proc.Behavior { return beh },
		})
		started <- err
	}()
	select {
	case <-beh.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("Init did not run")
	}
	clk.Advance(5 * time.Second)
	select {
	case err := <-started:
		if !errors.Is(err, ErrStartTimeout) {
			t.Fatalf("start: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the start did not give up at its timeout while Init ran on")
	}
	// The supervisor goes on while the abandoned Init still runs.
	if _, err := StartChild(ctxT(t), rt, sup, ChildSpec{ID: "next", Start: func() proc.Behavior { return &proc.Base{} }}); err != nil {
		t.Fatalf("a start after the abandoned one: %v", err)
	}
	if info, err := WhichChildren(ctxT(t), rt, sup); err != nil || len(info) != 1 || info[0].ID != "next" {
		t.Fatalf("children %+v %v", info, err)
	}
	close(beh.release)
	<-beh.returned
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := rt.NumProcesses(); n != 2 { // the supervisor and "next"
			return fmt.Errorf("%d processes: %v", n, rt.Processes())
		}
		return nil
	})
	if n := callbacks.Load(); n != 0 {
		t.Fatalf("the abandoned child ran %d callbacks", n)
	}
}

package supervisor

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

// acker is a child started through StartAck. Its Init records "init:ID"
// and asks for a continuation, in which it does what mode says: "ready"
// acknowledges, "fail" fails the start, "exit" stops before acknowledging,
// "never" does nothing.
type acker struct {
	proc.Base
	id   string
	rec  *recorder
	ack  *Ack
	mode string
}

func (a *acker) Init(p *proc.Process) error {
	p.TrapExit(true)
	a.rec.add("init:" + a.id)
	p.Continue("go")
	return nil
}

func (a *acker) HandleContinue(p *proc.Process, _ any) {
	switch a.mode {
	case "ready":
		a.rec.add("ready:" + a.id)
		a.ack.Ready()
	case "fail":
		a.ack.Fail(errBoom)
	case "exit":
		p.Stop(errBoom)
	}
}

func (a *acker) HandleInfo(p *proc.Process, msg any) {
	if _, ok := msg.(cmdPanic); ok {
		panic("acker crashed")
	}
}

func (a *acker) Terminate(*proc.Process, error) { a.rec.add("stop:" + a.id) }

func ackSpec(id string, rec *recorder, mode string, mod ...func(*ChildSpec)) ChildSpec {
	cs := ChildSpec{ID: id, StartAck: func(ack *Ack) proc.Behavior {
		return &acker{id: id, rec: rec, ack: ack, mode: mode}
	}}
	for _, m := range mod {
		m(&cs)
	}
	return cs
}

func startTimeout(d time.Duration) func(*ChildSpec) {
	return func(cs *ChildSpec) { cs.StartTimeout = d }
}

// slowInit blocks in Init until its process is killed.
type slowInit struct {
	proc.Base
	id  string
	rec *recorder
}

func (s *slowInit) Init(p *proc.Process) error {
	s.rec.add("init:" + s.id)
	<-p.Context().Done()
	return p.Context().Err()
}

// The supervisor starts the next child only once the previous one has
// acknowledged, from a continuation that ran on its own process.
func TestAckOrdersStarts(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	app, err := StartApp(rt, Spec{Children: []ChildSpec{
		ackSpec("a", rec, "ready"),
		wspec("b", rec),
		ackSpec("c", rec, "ready"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "start order", rec.take(), []string{"init:a", "ready:a", "start:b", "init:c", "ready:c"})
	if got := statuses(t, rt, app.PID()); got != "a:running b:running c:running" {
		t.Fatal(got)
	}
	if err := app.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestAckFailures(t *testing.T) {
	for _, tc := range []struct {
		mode string
		is   func(error) bool
	}{
		{"fail", func(err error) bool { return errors.Is(err, errBoom) }},
		{"exit", func(err error) bool {
			var exit *proc.ExitError
			return errors.As(err, &exit) && errors.Is(exit.Reason, errBoom)
		}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			rt := newRuntime(t, nil)
			rec := &recorder{}
			_, err := StartApp(rt, Spec{Children: []ChildSpec{wspec("w", rec), ackSpec("a", rec, tc.mode)}})
			var se *StartError
			if !errors.As(err, &se) || se.ID != "a" || !tc.is(err) {
				t.Fatalf("start: %v", err)
			}
			testutil.Eventually(t, 5*time.Second, func() error {
				if n := rt.NumProcesses(); n != 0 {
					return fmt.Errorf("%d processes left", n)
				}
				return nil
			})
			if got := rec.take(); got[0] != "start:w" || got[len(got)-1] != "stop:w" {
				t.Fatalf("events %v", got)
			}
		})
	}
}

// A child that never acknowledges is killed at its start timeout, on the
// runtime's clock, and the start fails; so is one stuck in its Init.
func TestStartTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec func(rec *recorder) ChildSpec
	}{
		{"never acks", func(rec *recorder) ChildSpec { return ackSpec("c", rec, "never", startTimeout(5*time.Second)) }},
		{"slow init", func(rec *recorder) ChildSpec {
			return ChildSpec{ID: "c", StartTimeout: 5 * time.Second, Start: func() proc.Behavior { return &slowInit{id: "c", rec: rec} }}
		}},
		{"slow init with ack", func(rec *recorder) ChildSpec {
			return ChildSpec{ID: "c", StartTimeout: 5 * time.Second, StartAck: func(*Ack) proc.Behavior { return &slowInit{id: "c", rec: rec} }}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.New(time.Unix(0, 0))
			rt := newRuntime(t, clk)
			rec := &recorder{}
			done := make(chan error, 1)
			go func() {
				_, err := StartApp(rt, Spec{Children: []ChildSpec{tc.spec(rec)}})
				done <- err
			}()
			waitEvents(t, rec, 1)
			clk.Advance(5*time.Second - time.Nanosecond)
			select {
			case err := <-done:
				t.Fatalf("start returned before its timeout: %v", err)
			default:
			}
			clk.Advance(time.Nanosecond)
			select {
			case err := <-done:
				var se *StartError
				if !errors.As(err, &se) || !errors.Is(err, ErrStartTimeout) {
					t.Fatalf("start: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("start did not fail at its timeout")
			}
			testutil.Eventually(t, 5*time.Second, func() error {
				if n := rt.NumProcesses(); n != 0 {
					return fmt.Errorf("%d processes left", n)
				}
				return nil
			})
			if got := rec.take(); len(got) != 0 {
				t.Fatalf("a child killed at its start timeout ran: %v", got) // no Terminate: it was killed
			}
		})
	}
}

// The supervisor is killed while a child starts: the child does not
// survive it, whether it is waiting for its acknowledgement or in Init.
func TestSupervisorKilledDuringSlowStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec func(rec *recorder) ChildSpec
	}{
		{"waiting for the ack", func(rec *recorder) ChildSpec { return ackSpec("c", rec, "never") }},
		{"in Init with a timeout", func(rec *recorder) ChildSpec {
			return ChildSpec{ID: "c", StartTimeout: time.Hour, Start: func() proc.Behavior { return &slowInit{id: "c", rec: rec} }}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newRuntime(t, nil)
			rec := &recorder{}
			done := make(chan error, 1)
			go func() {
				_, err := Start(rt, Spec{Children: []ChildSpec{tc.spec(rec)}}, proc.WithName("root"))
				done <- err
			}()
			waitEvents(t, rec, 1)
			root, ok := rt.WhereIs("root")
			if !ok {
				t.Fatal("root not registered")
			}
			if err := rt.Exit(root, proc.ErrKill); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("start of a killed supervisor succeeded")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("start did not return")
			}
			testutil.Eventually(t, 5*time.Second, func() error {
				if n := rt.NumProcesses(); n != 0 {
					return fmt.Errorf("%d processes left: %v", n, rt.Processes())
				}
				return nil
			})
		})
	}
}

// A restart waits for the acknowledgement too; a restarted child that
// never acknowledges fails each restart at its timeout, and the supervisor
// gives up.
func TestRestartAwaitsAck(t *testing.T) {
	rt := newRuntime(t, nil)
	rec := &recorder{}
	starts := 0
	cs := ChildSpec{ID: "a", StartTimeout: 50 * time.Millisecond, StartAck: func(ack *Ack) proc.Behavior {
		starts++ // Start runs on the supervisor's goroutine
		mode := "ready"
		if starts > 2 {
			mode = "never"
		}
		return &acker{id: "a", rec: rec, ack: ack, mode: mode}
	}}
	pid, err := Start(rt, Spec{Intensity: 3, Period: time.Hour, Children: []ChildSpec{cs}})
	if err != nil {
		t.Fatal(err)
	}
	exited := watchExit(t, rt, pid)
	first := pids(t, rt, pid)["a"]
	rt.Send(first, cmdPanic{})
	// The second start acknowledges: the restart completes.
	testutil.Eventually(t, 5*time.Second, func() error {
		if p := pids(t, rt, pid)["a"]; p.IsZero() || p == first {
			return errors.New("not restarted")
		}
		return nil
	})
	eq(t, "events", rec.take(), []string{"init:a", "ready:a", "stop:a", "init:a", "ready:a"}) // a panic runs Terminate
	rt.Send(pids(t, rt, pid)["a"], cmdPanic{})
	// Every later start times out: two more restarts are allowed, the
	// third gives up.
	if r := exited(); !errors.Is(r, ErrMaxRestarts) {
		t.Fatalf("supervisor exit %v", r)
	}
	if rt.NumProcesses() != 0 {
		t.Fatalf("%d processes left", rt.NumProcesses())
	}
}

// An acknowledgement and the start timeout race: whichever wins, a start
// that succeeded has a live child, and one that failed leaves none.
func TestAckRacesTimeout(t *testing.T) {
	rt := newRuntime(t, nil)
	sup, err := Start(rt, Spec{})
	if err != nil {
		t.Fatal(err)
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	var won, lost int
	for i := range 100 {
		delay := time.Duration(rng.IntN(2000)) * time.Microsecond
		id := fmt.Sprintf("c%d", i)
		cs := ChildSpec{ID: id, Restart: Temporary, StartTimeout: time.Millisecond, StartAck: func(ack *Ack) proc.Behavior {
			return proc.HandlerFunc(func(*proc.Process, any) {})
		}}
		// The ack comes from a goroutine after a random delay.
		cs.StartAck = func(ack *Ack) proc.Behavior {
			time.AfterFunc(delay, ack.Ready)
			return proc.HandlerFunc(func(*proc.Process, any) {})
		}
		pid, err := StartChild(ctxT(t), rt, sup, cs)
		switch {
		case err == nil:
			won++
			if !rt.Alive(pid) {
				t.Fatalf("start %d succeeded with a dead child", i)
			}
		case errors.Is(err, ErrStartTimeout):
			lost++
		default:
			t.Fatalf("start %d: %v", i, err)
		}
		if n := rt.NumProcesses(); n != 1+won {
			t.Fatalf("after start %d: %d processes, want %d", i, n, 1+won)
		}
	}
	t.Logf("%d acknowledged, %d timed out", won, lost)
	if c, err := CountChildren(ctxT(t), rt, sup); err != nil || c.Active != won {
		t.Fatalf("count %+v %v, want %d active", c, err, won)
	}
}

func TestStartSpecValidation(t *testing.T) {
	start := func() proc.Behavior { return &worker{} }
	ackStart := func(*Ack) proc.Behavior { return &worker{} }
	for name, cs := range map[string]ChildSpec{
		"no start":              {ID: "a"},
		"both starts":           {ID: "a", Start: start, StartAck: ackStart},
		"negative timeout":      {ID: "a", Start: start, StartTimeout: -1},
		"significant permanent": {ID: "a", Start: start, Significant: true},
	} {
		if err := cs.Validate(); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := (ChildSpec{ID: "a", StartAck: ackStart}).Validate(); err != nil {
		t.Error(err)
	}
	var nilAck *Ack
	nilAck.Ready() // no-op
	nilAck.Fail(nil)
}

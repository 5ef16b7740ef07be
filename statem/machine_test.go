package statem

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor"
)

// gate is a machine used by the process tests. In "closed", calls are
// postponed; a cast "open" opens it, which answers them in order; in
// "open", a call is answered with the state and how many calls came
// before. Other commands are casts or calls of the types below.
type gate struct {
	mu     sync.Mutex
	events []string // every event handled, as state:event
	terms  []string // Terminate calls
	n      int
	block  chan struct{} // a cast "block" waits on it
	initFn func(m *Machine[string]) (string, []Action, error)
}

type (
	setTimeout struct{ a Action }
	stopWith   struct{ err error }
	deferTo    struct{}
)

func (g *gate) Init(m *Machine[string]) (string, []Action, error) {
	if g.initFn != nil {
		return g.initFn(m)
	}
	return "closed", nil, nil
}

func (g *gate) log(s string) {
	g.mu.Lock()
	g.events = append(g.events, s)
	g.mu.Unlock()
}

func (g *gate) seen() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.events...)
}

func (g *gate) HandleEvent(m *Machine[string], state string, ev Event) Result[string] {
	if ev.Type != CallEvent {
		g.log(state + ":" + ev.String())
	}
	switch c := ev.Content.(type) {
	case setTimeout:
		return m.Keep(c.a)
	case stopWith:
		if ev.Type == CallEvent {
			return m.Stop(c.err, Reply(ev.From, "stopping", nil))
		}
		return m.Stop(c.err)
	case deferTo:
		// Answer from another goroutine, outside any action.
		go ev.From.Reply("later", nil)
		return m.Keep()
	case string:
		switch c {
		case "open":
			return m.Next("open")
		case "close":
			return m.Next("closed")
		case "block":
			<-g.block
			return m.Next("elsewhere")
		case "crash":
			panic("crash requested")
		case "fail":
			if ev.Type == CallEvent {
				return m.Keep(Reply(ev.From, nil, errors.New("refused")))
			}
		}
	}
	if ev.Type == CallEvent {
		if state == "closed" {
			return m.Keep(Postpone())
		}
		g.n++
		return m.Keep(Reply(ev.From, fmt.Sprintf("%s#%d:%v", state, g.n, ev.Content), nil))
	}
	return m.Keep()
}

func (g *gate) Terminate(_ *Machine[string], state string, reason error) {
	g.mu.Lock()
	g.terms = append(g.terms, fmt.Sprintf("%s:%v", state, reason))
	g.mu.Unlock()
}

func (g *gate) Inspect() any { return "gate data" }

// waitPostponed waits until the machine pid has n postponed events.
func waitPostponed(t *testing.T, rt *proc.Runtime, pid proc.PID, n int) {
	t.Helper()
	eventually(t, func() error {
		st, err := Inspect[string](context.Background(), rt, pid)
		if err != nil {
			return err
		}
		if st.Postponed != n {
			return fmt.Errorf("%d postponed, want %d", st.Postponed, n)
		}
		return nil
	})
}

func TestCallReplies(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, nil)
	g := &gate{}
	pid, err := rt.Spawn(New[string](g))
	if err != nil {
		t.Fatal(err)
	}
	// Postponed calls are answered, in order, once the state changes.
	var wg sync.WaitGroup
	answers := make([]string, 3)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := proc.Call[string](ctx, rt, pid, fmt.Sprintf("q%d", i))
			if err != nil {
				t.Error(err)
			}
			answers[i] = v
		}()
		waitPostponed(t, rt, pid, i+1) // one at a time, so the order of arrival is known
	}
	if err := rt.Cast(pid, "open"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, want := range []string{"open#1:q0", "open#2:q1", "open#3:q2"} {
		if answers[i] != want {
			t.Errorf("answer %d = %q, want %q", i, answers[i], want)
		}
	}
	// An error reply, a reply from another goroutine, a plain reply.
	if _, err := rt.Call(ctx, pid, "fail"); err == nil || err.Error() != "refused" {
		t.Fatalf("fail: %v", err)
	}
	if v, err := proc.Call[string](ctx, rt, pid, deferTo{}); err != nil || v != "later" {
		t.Fatalf("deferred: %q %v", v, err)
	}
	if v, err := proc.Call[string](ctx, rt, pid, "x"); err != nil || v != "open#4:x" {
		t.Fatalf("call: %q %v", v, err)
	}
}

// Callers whose calls are postponed learn of the machine's death at once,
// whether it stops, crashes or is killed.
func TestPostponedCallersSeeExit(t *testing.T) {
	for _, how := range []string{"stop", "crash", "kill"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			rt := newRuntime(t, nil)
			pid, err := rt.Spawn(New[string](&gate{}))
			if err != nil {
				t.Fatal(err)
			}
			const n = 20
			errs := make(chan error, n)
			for i := range n {
				go func() {
					_, err := rt.Call(ctx, pid, i)
					errs <- err
				}()
			}
			waitPostponed(t, rt, pid, n)
			switch how {
			case "stop":
				rt.Cast(pid, stopWith{err: errors.New("bye")})
			case "crash":
				rt.Cast(pid, "crash")
			case "kill":
				rt.Exit(pid, proc.ErrKill)
			}
			for range n {
				select {
				case err := <-errs:
					var exit *proc.ExitError
					if !errors.As(err, &exit) || exit.PID != pid {
						t.Fatalf("caller got %v, want *proc.ExitError", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("a postponed caller still waits after the machine exited")
				}
			}
		})
	}
}

func TestStopAndTerminate(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, nil)
	g := &gate{}
	pid, err := rt.Spawn(New[string](g))
	if err != nil {
		t.Fatal(err)
	}
	reasons := make(chan error, 1)
	rt.Watch(pid, func(_ proc.PID, r error) { reasons <- r })
	bye := errors.New("bye")
	v, err := proc.Call[string](ctx, rt, pid, stopWith{err: bye})
	if err != nil || v != "stopping" {
		t.Fatalf("stop call: %q %v", v, err)
	}
	if r := <-reasons; !errors.Is(r, bye) {
		t.Fatalf("exit reason %v", r)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.terms) != 1 || g.terms[0] != "closed:bye" {
		t.Fatalf("Terminate calls %q", g.terms)
	}
}

func TestInitResults(t *testing.T) {
	rt := newRuntime(t, nil)
	boom := errors.New("boom")
	if _, err := rt.Spawn(New[string](&gate{initFn: func(*Machine[string]) (string, []Action, error) {
		return "", nil, boom
	}})); !errors.Is(err, boom) {
		t.Fatalf("Init error: %v", err)
	}
	if _, err := rt.Spawn(New[string](nil)); err == nil {
		t.Fatal("nil behaviour started")
	}
	if rt.NumProcesses() != 0 {
		t.Fatalf("%d processes left", rt.NumProcesses())
	}
}

// Reference: gen_statem's init_result acknowledges the start before it
// enters the initial state. A machine whose initial transition stops,
// crashes or is bad has started: Spawn succeeds and the process exits
// right after, with the reason, before it handles any message; Terminate
// sees the state.
func TestInitialTransitionEndsAStartedMachine(t *testing.T) {
	rt := newRuntime(t, nil)
	boom := errors.New("boom")
	for name, tc := range map[string]struct {
		beh  Behavior[string]
		opts []Option
		want func(error) bool
	}{
		"bad init action": {
			beh: &gate{initFn: func(*Machine[string]) (string, []Action, error) {
				return "closed", []Action{Postpone()}, nil
			}},
			want: func(err error) bool { return errors.Is(err, ErrBadResult) },
		},
		"stop in the first enter call": {
			beh:  &enterStopper{err: boom},
			opts: []Option{WithStateEnter()},
			want: func(err error) bool { return errors.Is(err, boom) },
		},
		"crash in the first enter call": {
			beh:  &enterStopper{crash: true},
			opts: []Option{WithStateEnter()},
			want: func(err error) bool { var c *proc.CrashError; return errors.As(err, &c) },
		},
		"stop in an event inserted by Init": {
			beh: &gate{initFn: func(*Machine[string]) (string, []Action, error) {
				return "closed", []Action{NextEvent(InternalEvent, stopWith{boom})}, nil
			}},
			want: func(err error) bool { return errors.Is(err, boom) },
		},
	} {
		t.Run(name, func(t *testing.T) {
			reasons := make(chan error, 1)
			watch := proc.WithRegister(func(pid proc.PID) error {
				rt.Watch(pid, func(_ proc.PID, reason error) { reasons <- reason })
				return nil
			})
			pid, err := rt.Spawn(New[string](tc.beh, tc.opts...), watch)
			if err != nil {
				t.Fatalf("Spawn: %v", err)
			}
			// A call sent at once is not handled: the caller sees the exit.
			_, callErr := rt.Call(context.Background(), pid, "hello")
			var exit *proc.ExitError
			if !errors.As(callErr, &exit) {
				t.Fatalf("call to a machine that ended in its initial transition: %v", callErr)
			}
			if reason := <-reasons; !tc.want(reason) {
				t.Fatalf("exit reason %v", reason)
			}
			if g, ok := tc.beh.(*gate); ok {
				if terms := fmt.Sprint(g.terms); !strings.HasPrefix(terms, "[closed:") {
					t.Fatalf("Terminate calls %s", terms)
				}
				if ev := g.seen(); slices.Contains(ev, "closed:call(hello)") {
					t.Fatalf("the call was handled: %v", ev)
				}
			}
		})
	}
}

// A supervised machine that crashes in its first enter call is a child
// that started and crashed, as in OTP: the supervisor starts, restarts
// it up to its intensity and then gives up, rather than failing to start.
func TestSupervisedMachineCrashingInFirstEnterCall(t *testing.T) {
	rt := newRuntime(t, nil)
	starts := 0
	reasons := make(chan error, 1)
	watch := proc.WithRegister(func(pid proc.PID) error {
		rt.Watch(pid, func(_ proc.PID, reason error) { reasons <- reason })
		return nil
	})
	_, err := supervisor.Start(rt, supervisor.Spec{
		Intensity: 2, Period: time.Minute,
		Children: []supervisor.ChildSpec{{ID: "m", Start: func() proc.Behavior {
			starts++
			return New[string](&enterStopper{crash: true}, WithStateEnter())
		}}},
	}, watch)
	if err != nil {
		t.Fatalf("the supervisor failed to start: %v", err)
	}
	if reason := <-reasons; !errors.Is(reason, supervisor.ErrMaxRestarts) {
		t.Fatalf("supervisor exit: %v", reason)
	}
	if starts != 3 {
		t.Fatalf("%d starts, want 3 (the first and two restarts)", starts)
	}
}

type enterStopper struct {
	err   error
	crash bool
}

func (enterStopper) Init(*Machine[string]) (string, []Action, error) { return "s", nil, nil }
func (e enterStopper) HandleEvent(m *Machine[string], _ string, _ Event) Result[string] {
	if e.crash {
		panic("crash in the enter call")
	}
	return m.Stop(e.err)
}

// The init's time-outs and inserted events are carried out.
func TestInitActions(t *testing.T) {
	ctx := context.Background()
	clk := clocktest.New(time.Unix(0, 0))
	rt := newRuntime(t, clk)
	g := &gate{initFn: func(*Machine[string]) (string, []Action, error) {
		return "closed", []Action{NextEvent(InternalEvent, "first"), StateTimeout(time.Second, "st")}, nil
	}}
	pid, err := rt.Spawn(New[string](g))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	eventually(t, func() error {
		if got := fmt.Sprint(g.seen()); got != "[closed:internal(first) closed:state_timeout(st)]" {
			return fmt.Errorf("events %s", got)
		}
		return nil
	})
	if st, err := Inspect[string](ctx, rt, pid); err != nil || len(st.Timeouts) != 0 {
		t.Fatalf("status %+v %v", st, err)
	}
}

// Time-outs run on the runtime's clock; a cancelled one whose message is
// already queued is not delivered.
func TestTimeoutsOnRuntimeClock(t *testing.T) {
	ctx := context.Background()
	clk := clocktest.New(time.Unix(0, 0))
	rt := newRuntime(t, clk)
	g := &gate{block: make(chan struct{})}
	pid, err := rt.Spawn(New[string](g))
	if err != nil {
		t.Fatal(err)
	}
	rt.Cast(pid, setTimeout{StateTimeout(time.Second, "st")})
	rt.Cast(pid, setTimeout{Timeout("g", 2*time.Second, "gen")})
	eventually(t, func() error {
		st, err := Inspect[string](ctx, rt, pid)
		if err != nil {
			return err
		}
		if len(st.Timeouts) != 2 || st.Data != "gate data" {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	// The machine is busy when the state time-out fires; the callback it
	// is in changes the state, which cancels the time-out after its
	// message was queued.
	rt.Cast(pid, "block")
	waitBusy(t, rt, pid)
	clk.Advance(time.Second)
	close(g.block)
	clk.Advance(time.Second)
	eventually(t, func() error {
		evs := g.seen()
		if len(evs) < 4 || evs[len(evs)-1] != "elsewhere:generic_timeout[g](gen)" {
			return fmt.Errorf("events %q", evs)
		}
		for _, e := range evs {
			if e == "elsewhere:state_timeout(st)" || e == "closed:state_timeout(st)" {
				return fmt.Errorf("a cancelled state time-out was delivered: %q", evs)
			}
		}
		return nil
	})
	if in, _ := rt.Info(pid); in.Timers != 0 {
		t.Fatalf("%d timers left", in.Timers)
	}
}

// A machine is a proc behaviour like any other: a supervisor restarts it
// in its initial state.
func TestSupervisedMachine(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, nil)
	app, err := supervisor.StartApp(rt, supervisor.Spec{Children: []supervisor.ChildSpec{
		{ID: "gate", Start: func() proc.Behavior { return New[string](&gate{}) }, SpawnOptions: []proc.SpawnOption{proc.WithName("gate")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	rt.Cast(proc.Name("gate"), "open")
	if v, err := proc.Call[string](ctx, rt, proc.Name("gate"), "a"); err != nil || v != "open#1:a" {
		t.Fatalf("%q %v", v, err)
	}
	old, _ := rt.WhereIs("gate")
	rt.Cast(proc.Name("gate"), "crash")
	eventually(t, func() error {
		pid, ok := rt.WhereIs("gate")
		if !ok || pid == old {
			return errors.New("not restarted yet")
		}
		s, err := StateOf[string](ctx, rt, pid)
		if err != nil {
			return err
		}
		if s != "closed" {
			return fmt.Errorf("restarted in %q", s)
		}
		return nil
	})
}

func TestInfoEvents(t *testing.T) {
	rt := newRuntime(t, nil)
	g := &gate{}
	pid, err := rt.Spawn(New[string](g))
	if err != nil {
		t.Fatal(err)
	}
	rt.Send(pid, "hello")
	eventually(t, func() error {
		if got := fmt.Sprint(g.seen()); got != "[closed:info(hello)]" {
			return fmt.Errorf("events %s", got)
		}
		return nil
	})
}

func TestInspectWrongType(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, nil)
	pid, _ := rt.Spawn(New[string](&gate{}))
	if _, err := Inspect[int](ctx, rt, pid); err == nil {
		t.Fatal("Inspect with the wrong state type succeeded")
	}
	other, _ := rt.Spawn(proc.Base{})
	if _, err := StateOf[string](ctx, rt, other); err == nil {
		t.Fatal("StateOf a plain process succeeded")
	}
}

type twoStates struct {
	StateFunctions[string]
}

func (twoStates) Init(*Machine[string]) (string, []Action, error) { return "a", nil, nil }

func TestStateFunctionsUnknownState(t *testing.T) {
	rt := newRuntime(t, nil)
	b := &twoStates{}
	b.StateFunctions = StateFunctions[string]{
		"a": func(m *Machine[string], ev Event) Result[string] { return m.Next("nowhere") },
	}
	pid, err := rt.Spawn(New[string](b))
	if err != nil {
		t.Fatal(err)
	}
	reasons := make(chan error, 1)
	rt.Watch(pid, func(_ proc.PID, r error) { reasons <- r })
	rt.Cast(pid, "go")
	rt.Cast(pid, "again") // handled in "nowhere"
	if r := <-reasons; !errors.Is(r, ErrUnknownState) {
		t.Fatalf("exit reason %v", r)
	}
}

// Many callers at once, casts interleaved: every call is answered exactly
// once and nothing is lost across postpones and state changes.
func TestConcurrentCallsAcrossStateChanges(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt := newRuntime(t, nil)
	pid, err := rt.Spawn(New[string](&gate{}))
	if err != nil {
		t.Fatal(err)
	}
	const callers, each = 8, 50
	var wg sync.WaitGroup
	got := make(chan string, callers*each)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				v, err := proc.Call[string](ctx, rt, pid, fmt.Sprintf("%d.%d", c, i))
				if err != nil {
					t.Error(err)
					return
				}
				got <- v
			}
		}()
	}
	stop := make(chan struct{})
	var flipper sync.WaitGroup
	flipper.Add(1)
	go func() {
		defer flipper.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				rt.Cast(pid, "open")
				return
			default:
			}
			if i%2 == 0 {
				rt.Cast(pid, "open")
			} else {
				rt.Cast(pid, "close")
			}
			// Pace the flips at the machine's speed.
			if _, err := rt.Inspect(ctx, pid); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	flipper.Wait()
	close(got)
	seen := map[string]bool{}
	for v := range got {
		if seen[v] {
			t.Fatalf("answer %q twice", v)
		}
		seen[v] = true
	}
	if len(seen) != callers*each {
		t.Fatalf("%d answers, want %d", len(seen), callers*each)
	}
}

package statem

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/proc"
)

// Many callers against a machine that postpones every call while
// "closed" and flips between its states as fast as casts come: every
// caller is answered exactly once, with the answer to its own request.
func TestPostponeStorm(t *testing.T) {
	rt := newRuntime(t, nil)
	var handled atomic.Int64
	f := &fsm{init: "closed", onEv: func(m *Machine[string], state string, ev Event) Result[string] {
		switch {
		case ev.Content == "open":
			return m.Next("open")
		case ev.Content == "close":
			return m.Next("closed")
		case ev.Type == CallEvent && state == "closed":
			return m.Keep(Postpone())
		case ev.Type == CallEvent:
			handled.Add(1)
			// Every fifth call closes the gate again behind itself.
			if ev.Content.(int)%5 == 0 {
				return m.Next("closed", Reply(ev.From, ev.Content, nil))
			}
			return m.Keep(Reply(ev.From, ev.Content, nil))
		}
		return m.Keep()
	}}
	pid, err := rt.Spawn(New[string](&quiet{f}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const callers, each = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, callers*each)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				req := c*each + i
				v, err := proc.Call[int](ctx, rt, pid, req)
				if err != nil || v != req {
					errs <- fmt.Errorf("call %d: %v %v", req, v, err)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	toggles := 0
	for open := true; ; open = !open {
		select {
		case <-done:
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if n := handled.Load(); n != callers*each {
				t.Fatalf("%d calls handled, want %d", n, callers*each)
			}
			t.Logf("%d toggles", toggles)
			return
		case <-ctx.Done():
			t.Fatal("callers still wait")
		default:
		}
		msg := "close"
		if open {
			msg = "open"
		}
		if err := rt.Cast(pid, msg); err != nil {
			t.Fatal(err)
		}
		toggles++
		if toggles%64 == 0 {
			time.Sleep(time.Millisecond) // let the callers in
		}
	}
}

// Many senders flood a machine that postpones half of what it gets and
// changes state now and then: every message is handled exactly once
// (postponed ones once retried), and what one sender sent without
// postponing is handled in the order sent.
func TestFloodWithPostpones(t *testing.T) {
	rt := newRuntime(t, nil)
	const senders, each = 8, 500
	type msg struct{ from, seq int }
	var mu sync.Mutex
	got := map[msg]int{}
	last := make([]int, senders)
	for i := range last {
		last[i] = -1
	}
	var orderErr error
	f := &fsm{init: "a", onEv: func(m *Machine[string], state string, ev Event) Result[string] {
		if ev.Content == "settle" {
			return m.Next("b")
		}
		mm, ok := ev.Content.(msg)
		if !ok {
			return m.Keep()
		}
		if state == "a" && mm.seq%2 == 1 {
			return m.Keep(Postpone())
		}
		mu.Lock()
		got[mm]++
		if mm.seq%2 == 0 {
			if mm.seq <= last[mm.from] && orderErr == nil {
				orderErr = fmt.Errorf("sender %d: %d after %d", mm.from, mm.seq, last[mm.from])
			}
			last[mm.from] = mm.seq
		}
		mu.Unlock()
		if mm.seq%14 == 0 { // never a postponed one: a retried event must not return to "a"
			if state == "a" {
				return m.Next("b")
			}
			return m.Next("a")
		}
		return m.Keep()
	}}
	pid, err := rt.Spawn(New[string](&quiet{f}))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := rt.Cast(pid, msg{s, i}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Leave "a" for good so that every postponed message is retried.
	rt.Cast(pid, "settle")
	eventually(t, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < senders*each {
			return fmt.Errorf("%d of %d messages handled", len(got), senders*each)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	for m, n := range got {
		if n != 1 {
			t.Fatalf("%v handled %d times", m, n)
		}
	}
	if orderErr != nil {
		t.Fatal(orderErr)
	}
}

// quiet runs an fsm without tracing, for floods.
type quiet struct{ f *fsm }

func (q *quiet) Init(m *Machine[string]) (string, []Action, error) { return q.f.Init(m) }
func (q *quiet) HandleEvent(m *Machine[string], state string, ev Event) Result[string] {
	return q.f.onEv(m, state, ev)
}

// State time-outs of a millisecond on the real clock while casts change
// the state as fast as they come: a state time-out only ever arrives in
// the state that set it (one whose timer fired as the state changed is
// dropped), and the event time-out only when nothing else came.
func TestTimeoutsRaceStateChanges(t *testing.T) {
	rt := newRuntime(t, nil)
	var wrong atomic.Value
	var fired, eventFired atomic.Int64
	f := &fsm{init: "s0", onEv: func(m *Machine[string], state string, ev Event) Result[string] {
		switch ev.Type {
		case StateTimeoutEvent:
			fired.Add(1)
			if ev.Content != state {
				wrong.Store(fmt.Sprintf("state time-out of %v arrived in %s", ev.Content, state))
			}
			return m.Keep(EventTimeout(time.Millisecond, "idle")) // it cancelled the one running
		case EventTimeoutEvent:
			eventFired.Add(1)
			return m.Keep()
		case CastEvent:
			next := fmt.Sprintf("s%d", ev.Content.(int)%3)
			return m.Next(next, StateTimeout(time.Duration(rand.IntN(2))*time.Millisecond, next), EventTimeout(time.Millisecond, "idle"))
		}
		return m.Keep()
	}}
	pid, err := rt.Spawn(New[string](&quiet{f}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if err := rt.Cast(pid, i); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			time.Sleep(time.Duration(rand.IntN(1500)) * time.Microsecond)
		}
	}
	eventually(t, func() error {
		if eventFired.Load() == 0 {
			return errors.New("the event time-out never fired once the casts stopped")
		}
		return nil
	})
	if w := wrong.Load(); w != nil {
		t.Fatal(w)
	}
	t.Logf("%d state time-outs, %d event time-outs", fired.Load(), eventFired.Load())
}

// A state enter call that stops the machine: the replies of the
// transition that led there and of the enter call itself are sent, and
// Terminate sees the state entered.
func TestStopInEnterCall(t *testing.T) {
	rt := newRuntime(t, nil)
	var held proc.From
	var term atomic.Value
	f := &fsm{init: "s", onEv: func(m *Machine[string], state string, ev Event) Result[string] {
		switch {
		case ev.Type == EnterEvent && state == "doomed":
			return m.Stop(errors.New("doomed"), Reply(held, "from the enter call", nil))
		case ev.Type == CallEvent && ev.Content == "hold":
			held = ev.From
			return m.Keep()
		case ev.Type == CallEvent && ev.Content == "go":
			return m.Next("doomed", Reply(ev.From, "from the transition", nil))
		}
		return m.Keep()
	}}
	pid, err := rt.Spawn(New[string](&terminating{fsm: f, term: &term}, WithStateEnter()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first := make(chan string, 1)
	go func() {
		v, err := proc.Call[string](ctx, rt, pid, "hold")
		first <- fmt.Sprintf("%s %v", v, err)
	}()
	eventually(t, func() error {
		if len(f.seen()) < 2 {
			return errors.New("hold not handled yet")
		}
		return nil
	})
	if v, err := proc.Call[string](ctx, rt, pid, "go"); err != nil || v != "from the transition" {
		t.Fatalf("go: %q %v", v, err)
	}
	if v := <-first; v != "from the enter call <nil>" {
		t.Fatalf("held caller: %s", v)
	}
	eventually(t, func() error {
		if v := term.Load(); v != "doomed:doomed" {
			return fmt.Errorf("Terminate %v", v)
		}
		return nil
	})
}

type terminating struct {
	*fsm
	term *atomic.Value
}

func (tm *terminating) Terminate(_ *Machine[string], state string, reason error) {
	tm.term.Store(state + ":" + reason.Error())
}

// A machine killed while a callback blocks: the caller being handled and
// the postponed callers all get a *proc.ExitError at once, and the
// callback, once it returns, changes nothing.
func TestKilledMidCallback(t *testing.T) {
	rt := newRuntime(t, nil)
	release := make(chan struct{})
	f := &fsm{init: "s", onEv: func(m *Machine[string], state string, ev Event) Result[string] {
		switch {
		case ev.Type == CallEvent && ev.Content == "block":
			<-release
			return m.Keep(Reply(ev.From, "late", nil))
		case ev.Type == CallEvent:
			return m.Keep(Postpone())
		}
		return m.Keep()
	}}
	pid := spawnFSM(t, rt, f)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := make(chan error, 11)
	for i := range 10 {
		go func() { _, err := rt.Call(ctx, pid, i); errs <- err }()
	}
	eventually(t, func() error {
		if len(f.seen()) < 10 {
			return fmt.Errorf("%d calls postponed", len(f.seen()))
		}
		return nil
	})
	go func() { _, err := rt.Call(ctx, pid, "block"); errs <- err }()
	eventually(t, func() error {
		if len(f.seen()) < 11 {
			return errors.New("block not handled yet")
		}
		return nil
	})
	if err := rt.Exit(pid, proc.ErrKill); err != nil {
		t.Fatal(err)
	}
	for range 11 {
		select {
		case err := <-errs:
			var exit *proc.ExitError
			if !errors.As(err, &exit) || !errors.Is(exit.Reason, proc.ErrKilled) {
				t.Fatalf("caller got %v, want an exit with killed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a caller still waits after the kill")
		}
	}
	close(release)
}

// Callers that give up (their context ends) race the machine's answers:
// a caller gets the answer to its own request or its context's error,
// never another call's answer.
func TestCancelRacesReply(t *testing.T) {
	rt := newRuntime(t, nil)
	f := &fsm{init: "s", onEv: func(m *Machine[string], state string, ev Event) Result[string] {
		switch {
		case ev.Type == CallEvent && rand.IntN(2) == 0:
			return m.Keep(Reply(ev.From, ev.Content, nil))
		case ev.Type == CallEvent:
			// Answer later, from the next event or from another goroutine.
			from, v := ev.From, ev.Content
			if rand.IntN(2) == 0 {
				go func() {
					time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
					from.Reply(v, nil)
				}()
				return m.Keep()
			}
			return m.Keep(NextEvent(InternalEvent, func() { from.Reply(v, nil) }))
		case ev.Type == InternalEvent:
			ev.Content.(func())()
		}
		return m.Keep()
	}}
	pid, err := rt.Spawn(New[string](&quiet{f}))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var answered, gaveUp atomic.Int64
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				req := c*1000 + i
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(300))*time.Microsecond)
				v, err := rt.Call(ctx, pid, req)
				cancel()
				switch {
				case err == nil && v == req:
					answered.Add(1)
				case err == nil:
					t.Errorf("call %d answered %v", req, v)
					return
				case errors.Is(err, context.DeadlineExceeded):
					gaveUp.Add(1)
				default:
					t.Errorf("call %d: %v", req, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d answered, %d gave up", answered.Load(), gaveUp.Load())
}

// A machine with a bounded mailbox, full when its state time-out fires:
// the time-out is not lost, it arrives once the machine has room.
func TestTimeoutWithFullMailbox(t *testing.T) {
	clk := clocktest.New(time.Unix(0, 0))
	rt := newRuntime(t, clk)
	release := make(chan struct{})
	f := &fsm{init: "s", onEv: func(m *Machine[string], state string, ev Event) Result[string] {
		switch {
		case ev.Content == "arm":
			return m.Keep(StateTimeout(time.Second, "st"))
		case ev.Content == "block":
			<-release
		}
		return m.Keep()
	}}
	const bound = 2
	pid, err := rt.Spawn(New[string](f), proc.WithMailboxBound(bound))
	if err != nil {
		t.Fatal(err)
	}
	rt.Cast(pid, "arm")
	rt.Cast(pid, "block")
	eventually(t, func() error {
		if len(f.seen()) != 2 {
			return errors.New("not blocked yet")
		}
		return nil
	})
	for i := range bound {
		if err := rt.Cast(pid, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt.Cast(pid, "one too many"); !errors.Is(err, proc.ErrMailboxFull) {
		t.Fatalf("cast to a full mailbox: %v", err)
	}
	clk.Advance(time.Second) // the timer fires into the full mailbox
	close(release)
	eventually(t, func() error {
		if ev := f.seen(); len(ev) != 5 || ev[4] != "s:state_timeout(st)" {
			return fmt.Errorf("events %q", ev)
		}
		return nil
	})
}

// The timers of a machine stop with it, however it ends: killed, stopped,
// or failed in Init after setting none; none is left on the clock.
func TestTimersStopWithTheMachine(t *testing.T) {
	for _, how := range []string{"kill", "stop"} {
		t.Run(how, func(t *testing.T) {
			clk := clocktest.New(time.Unix(0, 0))
			rt := newRuntime(t, clk)
			g := &gate{}
			pid, err := rt.Spawn(New[string](g))
			if err != nil {
				t.Fatal(err)
			}
			rt.Cast(pid, setTimeout{Timeout("g", time.Hour, "g")})
			rt.Cast(pid, setTimeout{StateTimeout(time.Hour, "s")})
			eventually(t, func() error {
				if n := clk.Pending(); n != 2 {
					return fmt.Errorf("%d timers pending", n)
				}
				return nil
			})
			if how == "kill" {
				rt.Exit(pid, proc.ErrKill)
			} else {
				rt.Cast(pid, stopWith{})
			}
			eventually(t, func() error {
				if n := clk.Pending(); n != 0 || rt.Alive(pid) {
					return fmt.Errorf("%d timers pending, alive %v", n, rt.Alive(pid))
				}
				return nil
			})
		})
	}
}

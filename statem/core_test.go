package statem

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// rig runs a core over string states with a scripted callback and a
// logical clock. Every callback call is traced as "state:event".
type rig struct {
	t     *testing.T
	c     *core[string]
	drv   *simDriver
	trace []string
	fn    func(m *Machine[string], state string, ev Event) Result[string]
}

func newRig(t *testing.T, enter bool, fn func(m *Machine[string], state string, ev Event) Result[string]) *rig {
	r := &rig{t: t, fn: fn}
	r.drv = newSimDriver(&r.trace)
	r.c = newCore[string](r.drv, enter)
	return r
}

func (r *rig) handle(state string, ev Event) Result[string] {
	r.trace = append(r.trace, state+":"+ev.String())
	return r.fn(nil, state, ev)
}

func (r *rig) start(initial string, actions ...Action) *rig {
	r.c.start(initial, actions, r.handle)
	return r
}

func (r *rig) cast(msg any) *rig {
	r.c.deliver(Event{Type: CastEvent, Content: msg}, r.handle)
	return r
}

func (r *rig) advance(d time.Duration) *rig {
	advance(r.drv, r.c, d.Milliseconds(), r.handle)
	return r
}

// expect checks the trace since the last expect.
func (r *rig) expect(want ...string) {
	r.t.Helper()
	if !slices.Equal(r.trace, want) {
		r.t.Fatalf("trace\n got: %q\nwant: %q", r.trace, want)
	}
	r.trace = nil
}

var m0 *Machine[string] // builds Results in core tests

// Reference: transition_option(): "If the state changes, the queue of
// incoming events is reset to start with the oldest postponed."
func TestPostponedEventsRetriedInOrderAfterStateChange(t *testing.T) {
	r := newRig(t, false, func(m *Machine[string], state string, ev Event) Result[string] {
		switch {
		case state == "locked" && ev.Content == "unlock":
			return m.Next("open")
		case state == "locked":
			return m.Keep(Postpone())
		}
		return m.Keep()
	}).start("locked")
	r.cast("a").cast("b").cast("c")
	r.expect("locked:cast(a)", "locked:cast(b)", "locked:cast(c)")
	if got := ids(r.c.postponed); len(got) != 3 {
		t.Fatalf("postponed %q", got)
	}
	r.cast("unlock")
	r.expect("locked:cast(unlock)", "open:cast(a)", "open:cast(b)", "open:cast(c)")
	r.cast("d")
	r.expect("open:cast(d)")
}

// Next to the same state is not a state change: postponed events stay.
func TestPostponedEventsStayWithoutStateChange(t *testing.T) {
	r := newRig(t, true, func(m *Machine[string], state string, ev Event) Result[string] {
		switch ev.Content {
		case "p":
			return m.Keep(Postpone())
		case "same":
			return m.Next(state)
		case "repeat":
			return m.Repeat()
		}
		return m.Keep()
	}).start("s")
	r.expect("s:enter(s)")
	r.cast("p").cast("same").cast("repeat")
	r.expect("s:cast(p)", "s:cast(same)", "s:cast(repeat)", "s:enter(s)")
	if len(r.c.postponed) != 1 {
		t.Fatalf("postponed %v", r.c.postponed)
	}
}

// A postponed event is retried at once when its own transition changes
// the state.
func TestPostponeWithStateChangeRetriesAtOnce(t *testing.T) {
	r := newRig(t, false, func(m *Machine[string], state string, ev Event) Result[string] {
		if state == "a" {
			return m.Next("b", Postpone())
		}
		return m.Keep()
	}).start("a")
	r.cast("x")
	r.expect("a:cast(x)", "b:cast(x)")
}

// Reference: "All events stored with action() next_event are inserted to
// be processed before previously queued events", after the postponed
// events are put back.
func TestInsertedEventsGoBeforeRetriedAndQueued(t *testing.T) {
	r := newRig(t, false, func(m *Machine[string], state string, ev Event) Result[string] {
		switch {
		case ev.Content == "go":
			return m.Next("b", NextEvent(InternalEvent, 1), NextEvent(InternalEvent, 2))
		case ev.Content == 1:
			return m.Keep(NextEvent(InternalEvent, "1a"))
		case state == "a":
			return m.Keep(Postpone())
		}
		return m.Keep()
	}).start("a")
	r.cast("p1").cast("p2")
	r.trace = nil
	r.cast("go")
	r.expect("a:cast(go)", "b:internal(1)", "b:internal(1a)", "b:internal(2)", "b:cast(p1)", "b:cast(p2)")
}

// Reference: "a state enter call will be done right before entering the
// initial state even though this actually is not a state change. In this
// case OldState =:= State" — and the same when repeating the enter call.
func TestEnterCalls(t *testing.T) {
	r := newRig(t, true, func(m *Machine[string], state string, ev Event) Result[string] {
		switch ev.Content {
		case "next":
			return m.Next("b")
		case "keep":
			return m.Keep()
		case "repeat":
			return m.Repeat()
		}
		return m.Keep()
	}).start("a")
	r.expect("a:enter(a)")
	r.cast("next")
	r.expect("a:cast(next)", "b:enter(a)")
	r.cast("keep")
	r.expect("b:cast(keep)")
	r.cast("repeat")
	r.expect("b:cast(repeat)", "b:enter(b)")
}

// An enter call may Repeat itself; the repeated call has the same
// arguments, the state left included (OTP's loop_state_enter takes the
// state from before the transition every time).
func TestEnterCallRepeat(t *testing.T) {
	n := 0
	r := newRig(t, true, func(m *Machine[string], state string, ev Event) Result[string] {
		if ev.Type == EnterEvent && n < 2 {
			n++
			return m.Repeat()
		}
		if ev.Content == "go" {
			return m.Next("b")
		}
		return m.Keep()
	}).start("a")
	r.expect("a:enter(a)", "a:enter(a)", "a:enter(a)")
	n = 1
	r.cast("go")
	r.expect("a:cast(go)", "b:enter(a)", "b:enter(a)")
}

func TestEnterCallRestrictions(t *testing.T) {
	for name, res := range map[string]Result[string]{
		"change state": m0.Next("elsewhere"),
		"postpone":     m0.Keep(Postpone()),
		"insert":       m0.Keep(NextEvent(InternalEvent, 1)),
		"zero result":  {},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, true, func(m *Machine[string], state string, ev Event) Result[string] {
				if ev.Type == EnterEvent && state == "b" {
					return res
				}
				return m.Next("b")
			}).start("a")
			r.cast("x")
			if !r.c.stopped || !errors.Is(r.c.reason, ErrBadResult) {
				t.Fatalf("stopped %v reason %v, want ErrBadResult", r.c.stopped, r.c.reason)
			}
		})
	}
	t.Run("next to the same state is keep", func(t *testing.T) {
		r := newRig(t, true, func(m *Machine[string], state string, ev Event) Result[string] {
			return m.Next(state)
		}).start("a")
		if r.c.stopped {
			t.Fatal(r.c.reason)
		}
	})
}

func TestBadResults(t *testing.T) {
	for name, res := range map[string]Result[string]{
		"zero result":          {},
		"stop with postpone":   m0.Stop(nil, Postpone()),
		"stop with time-out":   m0.Stop(nil, StateTimeout(time.Second, 1)),
		"insert a call":        m0.Keep(NextEvent(CallEvent, 1)),
		"insert an enter":      m0.Keep(NextEvent(EnterEvent, 1)),
		"incomparable name":    m0.Keep(Timeout([]int{1}, time.Second, 1)),
		"nil action":           m0.Keep(nil),
		"reply to nobody":      m0.Keep(replyAction{}),
		"incomparable in any":  m0.Keep(Timeout(any(struct{ f any }{f: []int{1}}), time.Second, 1)),
		"insert generic timer": m0.Keep(NextEvent(GenericTimeoutEvent, 1)),
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, false, func(*Machine[string], string, Event) Result[string] { return res }).start("a")
			r.cast("x")
			if !r.c.stopped || !errors.Is(r.c.reason, ErrBadResult) {
				t.Fatalf("stopped %v reason %v, want ErrBadResult", r.c.stopped, r.c.reason)
			}
		})
	}
	t.Run("postpone in init", func(t *testing.T) {
		r := newRig(t, false, func(m *Machine[string], _ string, _ Event) Result[string] { return m.Keep() })
		r.start("a", Postpone())
		if !r.c.stopped || !errors.Is(r.c.reason, ErrBadResult) {
			t.Fatalf("stopped %v reason %v", r.c.stopped, r.c.reason)
		}
	})
}

// A bad result sends none of its replies: the caller learns of the exit.
func TestBadResultSendsNoReply(t *testing.T) {
	r := newRig(t, false, func(m *Machine[string], _ string, _ Event) Result[string] {
		return m.Keep(replyAction{to: traceReplier{id: "c", trace: nil}}, Postpone(), nil)
	}).start("a")
	r.cast("x")
	r.expect("a:cast(x)")
	if !r.c.stopped {
		t.Fatal("not stopped")
	}
}

func TestStopSendsRepliesFirst(t *testing.T) {
	r := newRig(t, false, nil)
	r.fn = func(m *Machine[string], _ string, _ Event) Result[string] {
		return m.Stop(errors.New("done"), replyAction{to: traceReplier{id: "c1", trace: &r.trace}, v: "bye"})
	}
	r.start("a")
	r.cast("x").cast("y")
	r.expect("a:cast(x)", "reply c1 bye <nil>")
	if !r.c.stopped || r.c.reason.Error() != "done" {
		t.Fatalf("stopped %v reason %v", r.c.stopped, r.c.reason)
	}
}

// Reference: "A state change cancels a state_timeout() and any new
// transition option of this type belongs to the new state."
func TestStateTimeout(t *testing.T) {
	r := newRig(t, true, func(m *Machine[string], state string, ev Event) Result[string] {
		switch {
		case ev.Type == EnterEvent && state == "open":
			return m.Keep(StateTimeout(10*time.Millisecond, "relock"))
		case ev.Type == EnterEvent:
			return m.Keep()
		case ev.Type == StateTimeoutEvent:
			return m.Next("locked")
		case ev.Content == "open":
			return m.Next("open")
		case ev.Content == "restart":
			return m.Keep(StateTimeout(10*time.Millisecond, "relock2"))
		case ev.Content == "repeat":
			return m.Repeat()
		case ev.Content == "set-and-leave":
			return m.Next("closed", StateTimeout(5*time.Millisecond, "in-closed"))
		}
		return m.Keep()
	}).start("locked")
	r.trace = nil
	r.cast("open").advance(9 * time.Millisecond)
	r.expect("locked:cast(open)", "open:enter(locked)")
	r.advance(time.Millisecond)
	r.expect("open:state_timeout(relock)", "locked:enter(open)")

	// Restarted by setting it again; not cancelled by other events or by
	// Repeat (whose enter call sets it anew here).
	r.cast("open").advance(5 * time.Millisecond).cast("restart").advance(9 * time.Millisecond)
	r.expect("locked:cast(open)", "open:enter(locked)", "open:cast(restart)")
	r.advance(time.Millisecond)
	r.expect("open:state_timeout(relock2)", "locked:enter(open)")

	// A state change cancels it; one set in the changing transition
	// belongs to the new state.
	r.cast("open").advance(5 * time.Millisecond).cast("set-and-leave")
	r.expect("locked:cast(open)", "open:enter(locked)", "open:cast(set-and-leave)", "closed:enter(open)")
	r.advance(5 * time.Millisecond)
	r.expect("closed:state_timeout(in-closed)", "locked:enter(closed)")
	if len(r.drv.armed) != 0 || len(r.c.timers) != 0 {
		t.Fatalf("timers left: %v %v", r.drv.armed, r.c.timers)
	}
}

// Reference: event_timeout(): "unless another event arrives or has
// arrived in which case this time-out is cancelled. Note that a retried
// or inserted event counts as arrived."
func TestEventTimeout(t *testing.T) {
	r := newRig(t, false, func(m *Machine[string], state string, ev Event) Result[string] {
		switch ev.Content {
		case "arm":
			return m.Keep(EventTimeout(10*time.Millisecond, "idle"))
		case "arm-and-insert":
			return m.Keep(NextEvent(InternalEvent, "ins"), EventTimeout(10*time.Millisecond, "never"))
		case "arm-zero":
			return m.Keep(EventTimeout(0, "now"))
		}
		return m.Keep()
	}).start("s")
	r.cast("arm").advance(9 * time.Millisecond).cast("other").advance(time.Hour)
	r.expect("s:cast(arm)", "s:cast(other)")
	r.cast("arm").advance(10 * time.Millisecond)
	r.expect("s:cast(arm)", "s:timeout(idle)")
	r.cast("arm-and-insert").advance(time.Hour)
	r.expect("s:cast(arm-and-insert)", "s:internal(ins)")
	// Zero: arrives before the next message.
	r.cast("arm-zero").cast("after")
	r.expect("s:cast(arm-zero)", "s:timeout(now)", "s:cast(after)")
	// A time-out of another kind cancels it too.
	r.fn = func(m *Machine[string], state string, ev Event) Result[string] {
		if ev.Content == "both" {
			return m.Keep(Timeout("g", 5*time.Millisecond, "g"), EventTimeout(10*time.Millisecond, "idle"))
		}
		return m.Keep()
	}
	r.cast("both").advance(20 * time.Millisecond)
	r.expect("s:cast(both)", "s:generic_timeout[g](g)")
}

// Reference: generic_timeout(): named time-outs survive state changes and
// other events; setting one again restarts it; Infinity cancels it.
func TestGenericTimeouts(t *testing.T) {
	r := newRig(t, false, func(m *Machine[string], state string, ev Event) Result[string] {
		switch ev.Content {
		case "set":
			return m.Keep(Timeout("a", 10*time.Millisecond, "a1"), Timeout("b", 15*time.Millisecond, "b1"))
		case "move":
			return m.Next(state + "'")
		case "reset-a":
			return m.Keep(Timeout("a", 10*time.Millisecond, "a2"))
		case "cancel-b":
			return m.Keep(Timeout("b", Infinity, nil))
		case "cancel-a":
			return m.Keep(CancelTimeout("a"))
		}
		return m.Keep()
	}).start("s")
	r.cast("set").advance(5 * time.Millisecond).cast("move").cast("reset-a").advance(10 * time.Millisecond)
	r.expect("s:cast(set)", "s:cast(move)", "s':cast(reset-a)", "s':generic_timeout[b](b1)", "s':generic_timeout[a](a2)")
	r.cast("set").cast("cancel-b").cast("cancel-a").advance(time.Hour)
	r.expect("s':cast(set)", "s':cast(cancel-b)", "s':cast(cancel-a)")
	if len(r.c.timers) != 0 || len(r.drv.armed) != 0 {
		t.Fatalf("timers left: %v", r.c.timers)
	}
}

// Reference: "Time-outs with zero time are guaranteed to be delivered to
// the state machine before any external not yet received event ... after
// already queued events such as inserted and postponed events", and a
// state change cancels a zero state time-out still waiting.
func TestZeroTimeouts(t *testing.T) {
	r := newRig(t, false, func(m *Machine[string], state string, ev Event) Result[string] {
		switch {
		case ev.Content == "go":
			return m.Keep(Timeout("g", 0, "g0"), StateTimeout(0, "s0"), NextEvent(InternalEvent, "ins"))
		case ev.Content == "ins":
			return m.Keep()
		case ev.Content == "leave":
			return m.Next("b", StateTimeout(0, "s0"), NextEvent(InternalEvent, "move"))
		case ev.Content == "move":
			return m.Next("c")
		}
		return m.Keep()
	}).start("a")
	r.cast("go").cast("next")
	r.expect("a:cast(go)", "a:internal(ins)", "a:generic_timeout[g](g0)", "a:state_timeout(s0)", "a:cast(next)")
	// The zero state time-out of b is cancelled by the change to c that
	// the inserted event makes first.
	r.cast("leave")
	r.expect("a:cast(leave)", "b:internal(move)")
	if r.c.state != "c" || len(r.c.timers) != 0 {
		t.Fatalf("state %s timers %v", r.c.state, r.c.timers)
	}
}

func TestUpdateTimeouts(t *testing.T) {
	r := newRig(t, false, func(m *Machine[string], state string, ev Event) Result[string] {
		switch ev.Content {
		case "set":
			return m.Keep(StateTimeout(10*time.Millisecond, "v1"))
		case "update":
			return m.Keep(UpdateStateTimeout("v2"))
		case "update-none":
			return m.Keep(UpdateTimeout("g", "g-now"))
		}
		return m.Keep()
	}).start("s")
	r.cast("set").advance(6 * time.Millisecond).cast("update").advance(4 * time.Millisecond)
	r.expect("s:cast(set)", "s:cast(update)", "s:state_timeout(v2)")
	// Not running: as for a zero time.
	r.cast("update-none").cast("after")
	r.expect("s:cast(update-none)", "s:generic_timeout[g](g-now)", "s:cast(after)")
}

// A timer whose time-out was cancelled or restarted may still fire (its
// message was already on its way): the core ignores it.
func TestStaleFireIgnored(t *testing.T) {
	r := newRig(t, false, func(m *Machine[string], state string, ev Event) Result[string] {
		if ev.Content == "set" {
			return m.Keep(Timeout("g", time.Second, ev.Content))
		}
		return m.Keep()
	}).start("s")
	r.cast("set")
	old := r.c.timers[timerKey{typ: GenericTimeoutEvent, name: "g"}].gen
	r.cast("set")
	if r.c.fire(timerKey{typ: GenericTimeoutEvent, name: "g"}, old, r.handle) {
		t.Fatal("a restarted timer's first expiry was handled")
	}
	r.expect("s:cast(set)", "s:cast(set)")
}

func TestTimeoutsListing(t *testing.T) {
	r := newRig(t, false, func(m *Machine[string], state string, ev Event) Result[string] {
		return m.Keep(Timeout("z", time.Second, 3), Timeout("a", time.Second, 2), StateTimeout(time.Second, 1), EventTimeout(time.Second, 0))
	}).start("s").cast("x")
	got := fmt.Sprint(r.c.timeouts())
	want := "[{timeout <nil> 0} {state_timeout <nil> 1} {generic_timeout a 2} {generic_timeout z 3}]"
	if got != want {
		t.Fatalf("timeouts\n got %s\nwant %s", got, want)
	}
}

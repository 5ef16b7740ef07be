package statem_test

import (
	"context"
	"fmt"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/statem"
)

// door is a code lock in the state-functions style: one function per
// state. Buttons are calls; the right code opens the door for ten
// seconds, and buttons pressed while it is open wait (are postponed) until
// it locks again.
type door struct {
	statem.StateFunctions[string]
	code, entered string
}

func newDoor(code string) *door {
	d := &door{code: code}
	d.StateFunctions = statem.StateFunctions[string]{"locked": d.locked, "open": d.open}
	return d
}

type button string

func (d *door) Init(*statem.Machine[string]) (string, []statem.Action, error) {
	return "locked", nil, nil
}

func (d *door) locked(m *statem.Machine[string], ev statem.Event) statem.Result[string] {
	switch ev.Type {
	case statem.EnterEvent:
		d.entered = ""
		return m.Keep()
	case statem.CallEvent:
		if ev.Content == "state?" {
			return m.Keep(statem.Reply(ev.From, "locked, entered "+d.entered, nil))
		}
		if d.press(ev.Content.(button)) {
			return m.Next("open", statem.Reply(ev.From, "open", nil))
		}
		return m.Keep(statem.Reply(ev.From, "locked", nil))
	case statem.CastEvent:
		if d.press(ev.Content.(button)) {
			return m.Next("open")
		}
	}
	return m.Keep()
}

// press adds a digit and reports whether the code is complete.
func (d *door) press(b button) bool {
	d.entered += string(b)
	if d.entered == d.code {
		return true
	}
	if len(d.entered) >= len(d.code) {
		d.entered = ""
	}
	return false
}

func (d *door) open(m *statem.Machine[string], ev statem.Event) statem.Result[string] {
	switch {
	case ev.Type == statem.EnterEvent:
		return m.Keep(statem.StateTimeout(10*time.Second, "lock"))
	case ev.Type == statem.StateTimeoutEvent:
		return m.Next("locked")
	case ev.Type == statem.CallEvent && ev.Content == "state?":
		return m.Keep(statem.Reply(ev.From, "open", nil))
	}
	return m.Keep(statem.Postpone())
}

func Example() {
	ctx := context.Background()
	clk := clocktest.New(time.Unix(0, 0))
	rt, _ := proc.New(proc.Config{Node: "example@localhost", Clock: clk})
	defer rt.Close(ctx)

	pid, _ := rt.Spawn(statem.New[string](newDoor("123"), statem.WithStateEnter()))
	for _, b := range []button{"1", "2", "3"} {
		s, _ := proc.Call[string](ctx, rt, pid, b)
		fmt.Println("press", b, "->", s)
	}

	// Pressed while open: postponed, handled once the door has locked.
	rt.Cast(pid, button("9"))
	s, _ := proc.Call[string](ctx, rt, pid, "state?")
	fmt.Println(s)
	clk.Advance(10 * time.Second)
	s, _ = proc.Call[string](ctx, rt, pid, "state?")
	fmt.Println(s)
	// Output:
	// press 1 -> locked
	// press 2 -> locked
	// press 3 -> open
	// open
	// locked, entered 9
}

// light is a traffic light in the handle-event style: one callback for
// every state, states of a Go type of their own. Each colour lasts for its
// own state time-out; a pedestrian's button shortens the green.
type light int

const (
	red light = iota
	green
	yellow
)

func (l light) String() string { return [...]string{"red", "green", "yellow"}[l] }

type crossing struct{ changes []string }

func (c *crossing) Init(*statem.Machine[light]) (light, []statem.Action, error) {
	return red, nil, nil
}

func (c *crossing) HandleEvent(m *statem.Machine[light], state light, ev statem.Event) statem.Result[light] {
	switch ev.Type {
	case statem.EnterEvent:
		c.changes = append(c.changes, fmt.Sprintf("%v->%v", ev.Content, state))
		d := map[light]time.Duration{red: 30 * time.Second, green: 25 * time.Second, yellow: 5 * time.Second}[state]
		return m.Keep(statem.StateTimeout(d, "next"))
	case statem.StateTimeoutEvent:
		return m.Next((state + 1) % 3)
	case statem.CallEvent:
		if ev.Content == "button" { // a pedestrian waits
			if state == green {
				return m.Keep(statem.StateTimeout(3*time.Second, "next"), statem.Reply(ev.From, nil, nil))
			}
			return m.Keep(statem.Reply(ev.From, nil, nil))
		}
		return m.Keep(statem.Reply(ev.From, c.changes, nil))
	}
	return m.Keep()
}

func Example_trafficLight() {
	ctx := context.Background()
	clk := clocktest.New(time.Unix(0, 0))
	rt, _ := proc.New(proc.Config{Node: "example@localhost", Clock: clk})
	defer rt.Close(ctx)

	pid, _ := rt.Spawn(statem.New[light](&crossing{}, statem.WithStateEnter()))
	step := func(d time.Duration) {
		clk.Advance(d)
		// A call after the advance is handled after the time-out it fired.
		changes, _ := proc.Call[[]string](ctx, rt, pid, "changes?")
		fmt.Println(changes[len(changes)-1])
	}
	step(30 * time.Second) // red lasts 30 s
	rt.Call(ctx, pid, "button")
	step(3 * time.Second) // the button cut the green to 3 s
	step(5 * time.Second)
	s, _ := statem.StateOf[light](ctx, rt, pid)
	fmt.Println("now", s)
	// Output:
	// red->green
	// green->yellow
	// yellow->red
	// now red
}

// auction closes at a fixed time of the runtime's clock, whatever happens
// meanwhile: an absolute state time-out. A bid is a call that the machine
// passes on to itself with NextCall, to be answered by the state that
// records it.
type auction struct {
	closes time.Time
	best   int
}

func (a *auction) Init(*statem.Machine[string]) (string, []statem.Action, error) {
	return "open", []statem.Action{statem.StateTimeoutAt(a.closes, "close")}, nil
}

func (a *auction) HandleEvent(m *statem.Machine[string], state string, ev statem.Event) statem.Result[string] {
	switch {
	case ev.Type == statem.StateTimeoutEvent:
		return m.Next("closed")
	case ev.Type == statem.CallEvent && state == "closed":
		return m.Keep(statem.Reply(ev.From, nil, fmt.Errorf("closed at %v, best bid %d", a.closes.Format(time.Kitchen), a.best)))
	case ev.Type == statem.CallEvent && ev.Content == "record":
		return m.Keep(statem.Reply(ev.From, "best so far", nil))
	case ev.Type == statem.CallEvent && ev.Content.(int) > a.best:
		return m.Keep(statem.NextEvent(statem.InternalEvent, ev.Content), statem.NextCall(ev.From, "record"))
	case ev.Type == statem.InternalEvent:
		a.best = ev.Content.(int)
	case ev.Type == statem.CallEvent:
		return m.Keep(statem.Reply(ev.From, "too low", nil))
	}
	return m.Keep()
}

func ExampleStateTimeoutAt() {
	ctx := context.Background()
	clk := clocktest.New(time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC))
	rt, _ := proc.New(proc.Config{Node: "example@localhost", Clock: clk})
	defer rt.Close(ctx)

	closes := clk.Now().Add(time.Hour)
	pid, _ := rt.Spawn(statem.New[string](&auction{closes: closes}))
	for _, bid := range []int{10, 5, 20} {
		v, _ := rt.Call(ctx, pid, bid)
		fmt.Println(bid, v)
	}
	clk.Set(closes)
	_, err := rt.Call(ctx, pid, 30)
	fmt.Println(err)
	// Output:
	// 10 best so far
	// 5 too low
	// 20 best so far
	// closed at 4:00PM, best bid 20
}

package registry_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/registry"
)

// greeter is a GenServer that answers "hello" calls.
type greeter struct{ proc.Base }

func (greeter) HandleCall(_ *proc.Process, _ proc.From, req any) (any, error) {
	return fmt.Sprintf("hello, %v", req), nil
}

// A unique registry gives processes names that work wherever a PID does.
func Example() {
	rt, _ := proc.New(proc.Config{})
	defer rt.Close(context.Background())
	names, _ := registry.New(rt, registry.Config{Keys: registry.Unique})

	pid, _ := rt.Spawn(greeter{})
	if err := names.Register(pid, "greeter", nil); err != nil {
		fmt.Println(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	reply, err := proc.Call[string](ctx, rt, names.Via("greeter"), "world")
	fmt.Println(reply, err)

	// The name is taken while the process lives...
	other, _ := rt.Spawn(greeter{})
	err = names.Register(other, "greeter", nil)
	var taken *registry.AlreadyRegisteredError
	fmt.Println(errors.As(err, &taken), taken.PID == pid)

	// ...and freed when it exits.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	_ = rt.Stop(ctx2, pid, proc.ErrShutdown)
	for names.CountMatch("greeter", nil) > 0 {
		time.Sleep(time.Millisecond) // the registry hears of exits just after them
	}
	fmt.Println(names.Register(other, "greeter", nil))
	// Output:
	// hello, world <nil>
	// true true
	// <nil>
}

// A duplicate registry groups processes under a topic; Dispatch broadcasts
// to them.
func ExampleRegistry_Dispatch() {
	rt, _ := proc.New(proc.Config{})
	defer rt.Close(context.Background())
	topics, _ := registry.New(rt, registry.Config{Keys: registry.Duplicate})

	got := make(chan string, 3)
	for _, name := range []string{"ann", "bob", "cid"} {
		pid, _ := rt.Spawn(proc.HandlerFunc(func(_ *proc.Process, msg any) {
			got <- fmt.Sprintf("%s got %v", name, msg)
		}))
		_ = topics.Register(pid, "room:lobby", name)
	}

	topics.Dispatch("room:lobby", func(entries []registry.Entry) {
		for _, e := range entries {
			_ = rt.Send(e.PID, "hi")
		}
	})
	var lines []string
	for range 3 {
		lines = append(lines, <-got)
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Println(topics.CountMatch("room:lobby", nil), "members")
	// Output:
	// ann got hi
	// bob got hi
	// cid got hi
	// 3 members
}

// Listeners receive an event for every registration and every removed
// entry, including removals caused by exits.
func ExampleConfig_listeners() {
	rt, _ := proc.New(proc.Config{})
	defer rt.Close(context.Background())

	var events []string
	gone := make(chan struct{})
	reg, _ := registry.New(rt, registry.Config{Callbacks: []func(registry.Event){
		func(ev registry.Event) {
			switch ev := ev.(type) {
			case registry.Registered:
				events = append(events, fmt.Sprintf("registered %v = %v", ev.Key, ev.Value))
			case registry.Unregistered:
				events = append(events, fmt.Sprintf("unregistered %v (reason %v)", ev.Key, ev.Reason))
				if ev.Reason != nil {
					close(gone) // removed by the exit
				}
			}
		},
	}})

	pid, _ := rt.Spawn(greeter{})
	_ = reg.Register(pid, "a", 1)
	_ = reg.Register(pid, "b", 2)
	reg.Unregister(pid, "a")
	_ = rt.Exit(pid, proc.ErrKill)
	<-gone
	for _, e := range events {
		fmt.Println(e)
	}
	// Output:
	// registered a = 1
	// registered b = 2
	// unregistered a (reason <nil>)
	// unregistered b (reason killed)
}

// UpdateValue changes the value of a unique key in place.
func ExampleRegistry_UpdateValue() {
	rt, _ := proc.New(proc.Config{})
	defer rt.Close(context.Background())
	reg, _ := registry.New(rt, registry.Config{})

	pid, _ := rt.Spawn(greeter{})
	_ = reg.Register(pid, "visits", 0)
	for range 3 {
		_, _, _ = reg.UpdateValue(pid, "visits", func(old any) any { return old.(int) + 1 })
	}
	fmt.Println(reg.Values("visits", pid))
	// Output: [3]
}

// Select finds entries across all keys with a Go predicate.
func ExampleRegistry_Select() {
	rt, _ := proc.New(proc.Config{})
	defer rt.Close(context.Background())
	reg, _ := registry.New(rt, registry.Config{Keys: registry.Duplicate})

	pid, _ := rt.Spawn(greeter{})
	for i, key := range []string{"x", "y", "z"} {
		_ = reg.Register(pid, key, i)
	}
	found := reg.Select(func(key any, _ proc.PID, value any) bool { return value.(int) >= 1 })
	var keys []string
	for _, e := range found {
		keys = append(keys, e.Key.(string))
	}
	slices.Sort(keys)
	fmt.Println(keys, reg.Count())
	// Output: [y z] 3
}

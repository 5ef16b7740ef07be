package supervisor_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor"
	"github.com/grovedev/grove/supervisor/dynamic"
)

// counter is a worker that counts the messages it receives and panics on
// "boom".
type counter struct {
	proc.Base
	name string
	n    int
}

func (c *counter) HandleInfo(_ *proc.Process, msg any) {
	if msg == "boom" {
		panic(c.name + " exploded")
	}
	c.n++
}

func (c *counter) HandleCall(_ *proc.Process, _ proc.From, _ any) (any, error) { return c.n, nil }

func newQuietRuntime() *proc.Runtime {
	rt, err := proc.New(proc.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	return rt
}

func spec(name string) supervisor.ChildSpec {
	return supervisor.ChildSpec{ID: name, Start: func() proc.Behavior { return &counter{name: name} }}
}

// A one_for_one supervisor restarts a crashed child with a fresh state and
// leaves its siblings alone.
func Example() {
	rt := newQuietRuntime()
	ctx := context.Background()
	defer rt.Close(ctx)

	app, err := supervisor.StartApp(rt, supervisor.Spec{
		Strategy: supervisor.OneForOne,
		Children: []supervisor.ChildSpec{spec("db"), spec("web")},
	})
	if err != nil {
		panic(err)
	}
	kids, _ := supervisor.WhichChildren(ctx, rt, app.PID())
	db := kids[0].PID
	_ = rt.Send(db, "hello")
	_ = rt.Send(db, "boom")

	// Wait for the restart: the child gets a new PID.
	for {
		kids, _ = supervisor.WhichChildren(ctx, rt, app.PID())
		if kids[0].PID != db && kids[0].Status == supervisor.StatusRunning {
			break
		}
		time.Sleep(time.Millisecond)
	}
	n, _ := proc.Call[int](ctx, rt, kids[0].PID, "count?")
	fmt.Println("db restarted with count", n)
	fmt.Println("web untouched:", kids[1].Status)

	if err := app.Close(ctx); err != nil {
		panic(err)
	}
	fmt.Println("closed:", errors.Is(app.Err(), proc.ErrShutdown))
	// Output:
	// db restarted with count 0
	// web untouched: running
	// closed: true
}

// A supervisor that restarts too often gives up with ErrMaxRestarts.
func Example_intensity() {
	rt := newQuietRuntime()
	ctx := context.Background()
	defer rt.Close(ctx)

	app, err := supervisor.StartApp(rt, supervisor.Spec{
		Intensity: supervisor.NoRestarts,
		Children:  []supervisor.ChildSpec{spec("fragile")},
	})
	if err != nil {
		panic(err)
	}
	kids, _ := supervisor.WhichChildren(ctx, rt, app.PID())
	_ = rt.Send(kids[0].PID, "boom")
	err = app.Wait(ctx)
	fmt.Println(errors.Is(err, supervisor.ErrMaxRestarts), errors.Is(err, proc.ErrShutdown))
	// Output:
	// true true
}

// Children are managed at run time with the supervisor's API.
func ExampleTerminateChild() {
	rt := newQuietRuntime()
	ctx := context.Background()
	defer rt.Close(ctx)

	sup, err := supervisor.Start(rt, supervisor.Spec{Children: []supervisor.ChildSpec{spec("a")}})
	if err != nil {
		panic(err)
	}
	_, _ = supervisor.StartChild(ctx, rt, sup, spec("b"))
	_ = supervisor.TerminateChild(ctx, rt, sup, "a")
	kids, _ := supervisor.WhichChildren(ctx, rt, sup)
	for _, k := range kids {
		fmt.Println(k.ID, k.Status)
	}
	_, err = supervisor.RestartChild(ctx, rt, sup, "b")
	fmt.Println(err)
	n, _ := supervisor.CountChildren(ctx, rt, sup)
	fmt.Printf("%+v\n", n)
	// Output:
	// a stopped
	// b running
	// supervisor: child is running
	// {Specs:2 Active:1 Supervisors:0 Workers:2}
}

// A dynamic supervisor starts children on demand, up to MaxChildren.
func Example_dynamic() {
	rt := newQuietRuntime()
	ctx := context.Background()
	defer rt.Close(ctx)

	sup, err := dynamic.Start(rt, dynamic.Spec{MaxChildren: 2})
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"s1", "s2", "s3"} {
		_, err := dynamic.StartChild(ctx, rt, sup, spec(name))
		fmt.Println(name, err)
	}
	// Output:
	// s1 <nil>
	// s2 <nil>
	// s3 supervisor/dynamic: maximum number of children reached
}

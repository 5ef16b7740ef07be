package proc_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grovedev/grove/proc"
)

// counter is a GenServer: casts add to the count, calls read it.
type counter struct {
	proc.Base
	n int
}

func (c *counter) HandleCast(_ *proc.Process, msg any) { c.n += msg.(int) }

func (c *counter) HandleCall(_ *proc.Process, _ proc.From, req any) (any, error) {
	if req == "get" {
		return c.n, nil
	}
	return nil, proc.ErrUnhandled
}

func Example() {
	ctx := context.Background()
	rt, _ := proc.New(proc.Config{Node: "example@localhost"})
	defer rt.Close(ctx)

	pid, _ := rt.Spawn(&counter{}, proc.WithName("counter"))
	rt.Cast(pid, 2)
	rt.Cast(proc.Name("counter"), 3)
	n, err := proc.Call[int](ctx, rt, pid, "get")
	fmt.Println(n, err)
	// Output: 5 <nil>
}

// watcher monitors a process and reports how it ended.
type watcher struct {
	proc.Base
	target proc.PID
	out    chan string
}

func (w *watcher) Init(p *proc.Process) error {
	p.Monitor(w.target)
	return nil
}

func (w *watcher) HandleInfo(_ *proc.Process, msg any) {
	if d, ok := msg.(proc.Down); ok {
		var crash *proc.CrashError
		w.out <- fmt.Sprintf("down, crashed: %v", errors.As(d.Reason, &crash))
	}
}

func ExampleProcess_Monitor() {
	ctx := context.Background()
	rt, _ := proc.New(proc.Config{Node: "example@localhost"})
	defer rt.Close(ctx)

	fragile, _ := rt.Spawn(proc.HandlerFunc(func(_ *proc.Process, msg any) {
		panic(msg)
	}))
	out := make(chan string, 1)
	rt.Spawn(&watcher{target: fragile, out: out})
	rt.Send(fragile, "bad input")
	fmt.Println(<-out)
	// Output: down, crashed: true
}

// squarer answers each call from another goroutine, leaving the process
// free for the next message meanwhile.
type squarer struct{ proc.Base }

func (squarer) HandleCall(_ *proc.Process, from proc.From, req any) (any, error) {
	n := req.(int)
	go from.Reply(n*n, nil)
	return proc.NoReply, nil
}

func ExampleNoReply() {
	ctx := context.Background()
	rt, _ := proc.New(proc.Config{Node: "example@localhost"})
	defer rt.Close(ctx)

	pid, _ := rt.Spawn(squarer{})
	v, err := proc.Call[int](ctx, rt, pid, 12)
	fmt.Println(v, err)
	// Output: 144 <nil>
}

// A call whose context has no deadline waits for the runtime's default
// call timeout (5 s, as OTP's gen_server:call), here shortened.
func ExampleConfig_callTimeout() {
	ctx := context.Background()
	rt, _ := proc.New(proc.Config{Node: "example@localhost", CallTimeout: 100 * time.Millisecond})
	defer rt.Close(ctx)

	never, _ := rt.Spawn(&holdsCalls{})
	_, err := rt.Call(ctx, never, "hello")
	fmt.Println(errors.Is(err, proc.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	// Output: true true
}

// holdsCalls answers no call.
type holdsCalls struct{ proc.Base }

func (holdsCalls) HandleCall(*proc.Process, proc.From, any) (any, error) { return proc.NoReply, nil }

package proc_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/grovedev/grove/proc"
)

// session closes itself after a while without messages, as a gen_server
// that returns a timeout does.
type session struct {
	proc.Base
	closed chan string
}

func (s *session) Init(p *proc.Process) error {
	p.IdleTimeout(20 * time.Millisecond)
	return nil
}

func (s *session) HandleInfo(p *proc.Process, msg any) {
	if t, ok := msg.(proc.Timeout); ok {
		s.closed <- fmt.Sprintf("idle for %v: closing", t.After)
		p.Stop(proc.ErrNormal)
		return
	}
	p.IdleTimeout(20 * time.Millisecond) // each callback asks again
}

func ExampleProcess_IdleTimeout() {
	ctx := context.Background()
	rt, _ := proc.New(proc.Config{Node: "example@localhost"})
	defer rt.Close(ctx)

	s := &session{closed: make(chan string, 1)}
	rt.Spawn(s)
	fmt.Println(<-s.closed)
	// Output: idle for 20ms: closing
}

// cache hibernates after a burst of work and drops what it kept for it.
type cache struct {
	proc.Base
	entries map[string]string
	done    chan int
}

func (c *cache) HandleInfo(p *proc.Process, msg any) {
	if msg == "burst over" {
		p.Hibernate()
		return
	}
	c.entries[msg.(string)] = "value"
}

func (c *cache) Compact(*proc.Process) {
	c.entries = map[string]string{}
	c.done <- len(c.entries)
}

func ExampleProcess_Hibernate() {
	ctx := context.Background()
	rt, _ := proc.New(proc.Config{Node: "example@localhost"})
	defer rt.Close(ctx)

	c := &cache{entries: map[string]string{}, done: make(chan int, 1)}
	pid, _ := rt.Spawn(c)
	for _, k := range []string{"a", "b", "c"} {
		rt.Send(pid, k)
	}
	rt.Send(pid, "burst over")
	fmt.Println("entries after hibernating:", <-c.done)
	// Output: entries after hibernating: 0
}

// tally counts its messages.
type tally struct {
	proc.Base
	n int
}

func (t *tally) HandleInfo(*proc.Process, any) { t.n++ }
func (t *tally) HandleCall(*proc.Process, proc.From, any) (any, error) {
	return t.n, nil
}
func (t *tally) Inspect() any { return t.n }

func ExampleRuntime_Suspend() {
	ctx := context.Background()
	rt, _ := proc.New(proc.Config{Node: "example@localhost"})
	defer rt.Close(ctx)

	pid, _ := rt.Spawn(&tally{})
	rt.Suspend(ctx, pid)
	rt.Send(pid, "one")
	rt.Send(pid, "two")
	n, _ := rt.Inspect(ctx, pid) // system requests are still answered
	fmt.Println("while suspended:", n)
	rt.Resume(ctx, pid)
	after, _ := proc.Call[int](ctx, rt, pid, "count")
	fmt.Println("after resume:", after)
	// Output:
	// while suspended: 0
	// after resume: 2
}

func ExampleRuntime_Statistics() {
	ctx := context.Background()
	rt, _ := proc.New(proc.Config{Node: "example@localhost"})
	defer rt.Close(ctx)

	pid, _ := rt.Spawn(&tally{})
	rt.SetStatistics(ctx, pid, true)
	rt.Send(pid, "hello")
	proc.Call[int](ctx, rt, pid, "count")
	st, _ := rt.Statistics(ctx, pid)
	fmt.Println("in:", st.MessagesIn, "calls:", st.CallsIn, "out:", st.MessagesOut)
	// Output: in: 2 calls: 1 out: 0
}

func ExampleRuntime_Trace() {
	ctx := context.Background()
	rt, _ := proc.New(proc.Config{Node: "example@localhost"})
	defer rt.Close(ctx)

	pid, _ := rt.Spawn(&tally{})
	rt.Trace(ctx, pid, 2) // keep the last two events
	rt.Send(pid, "first")
	rt.Send(pid, "second")
	rt.Cast(pid, "third")
	proc.Call[int](ctx, rt, pid, "count") // lets the messages be handled
	events, _ := rt.TraceLog(ctx, pid)
	for _, e := range events {
		fmt.Println(e.Dir, e.Kind, e.Msg)
	}
	// Output:
	// in cast third
	// in call count
}

func ExampleRuntime_ReplaceState() {
	ctx := context.Background()
	rt, _ := proc.New(proc.Config{Node: "example@localhost"})
	defer rt.Close(ctx)

	pid, _ := rt.Spawn(&tally{n: 7})
	rt.ReplaceState(ctx, pid, func(b proc.Behavior) (proc.Behavior, error) {
		b.(*tally).n = 100 // a live fix, on the process's own goroutine
		return b, nil
	})
	n, _ := rt.Inspect(ctx, pid)
	fmt.Println(n)
	// Output: 100
}

func ExampleProcess_SetLabel() {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "pid" {
				return slog.Attr{} // vary from run to run
			}
			return a
		},
	}))
	rt, _ := proc.New(proc.Config{Node: "example@localhost", Logger: log})
	defer rt.Close(ctx)

	done := make(chan struct{})
	pid, _ := rt.Spawn(proc.HandlerFunc(func(p *proc.Process, msg any) {
		p.SetLabel("session:42")
		p.SetLogAttrs(slog.String("user", "ada"))
		p.Logger().Info("logged in")
		close(done)
	}))
	rt.Send(pid, "login")
	<-done
	in, _ := rt.Info(pid)
	fmt.Println("label:", in.Label)
	// Output:
	// level=INFO msg="logged in" label=session:42 user=ada
	// label: session:42
}

// pricer holds each price request until told to answer.
type pricer struct {
	proc.Base
	price int
	asked []proc.From
}

func (p *pricer) HandleCall(_ *proc.Process, from proc.From, _ any) (any, error) {
	p.asked = append(p.asked, from)
	return proc.NoReply, nil
}

func (p *pricer) HandleCast(*proc.Process, any) {
	for _, f := range p.asked {
		f.Reply(p.price, nil)
	}
	p.asked = nil
}

// Ask several servers at once and take the answers as they come, as with
// gen_server:send_request and a request-id collection.
func ExampleRequests() {
	ctx := context.Background()
	rt, _ := proc.New(proc.Config{Node: "example@localhost"})
	defer rt.Close(ctx)

	var quotes proc.Requests[string]
	shops := map[string]proc.PID{}
	for shop, price := range map[string]int{"north": 30, "south": 60, "east": 90} {
		shops[shop], _ = rt.Spawn(&pricer{price: price})
		r, _ := rt.SendRequest(shops[shop], "price?")
		quotes.Add(r, shop)
	}
	for _, shop := range []string{"east", "north", "south"} {
		rt.Cast(shops[shop], "answer now")
		shop, price, err := quotes.Receive(ctx)
		fmt.Println(shop, price, err)
	}
	_, _, err := quotes.Receive(ctx)
	fmt.Println(err)
	// Output:
	// east 90 <nil>
	// north 30 <nil>
	// south 60 <nil>
	// proc: no request in the collection
}

// A registry-like index forgets a process in an OnExit function: by the
// time its links and monitors hear of the exit, it is gone from the index.
func ExampleRuntime_OnExit() {
	ctx := context.Background()
	rt, _ := proc.New(proc.Config{Node: "example@localhost"})
	defer rt.Close(ctx)

	index := map[string]proc.PID{}
	var mu sync.Mutex
	worker, _ := rt.Spawn(proc.HandlerFunc(func(*proc.Process, any) {}))
	index["job:1"] = worker
	rt.OnExit(worker, func(pid proc.PID, _ error) {
		mu.Lock()
		delete(index, "job:1")
		mu.Unlock()
	})
	seen := make(chan int, 1)
	rt.Spawn(&downWatcher{target: worker, seen: seen, count: func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(index)
	}})
	rt.Exit(worker, proc.ErrKill)
	fmt.Println("entries when the DOWN came:", <-seen)
	// Output: entries when the DOWN came: 0
}

// downWatcher monitors target and reports count() when the DOWN comes.
type downWatcher struct {
	proc.Base
	target proc.PID
	seen   chan int
	count  func() int
}

func (d *downWatcher) Init(p *proc.Process) error {
	p.Monitor(d.target)
	return nil
}

func (d *downWatcher) HandleInfo(_ *proc.Process, msg any) {
	if _, ok := msg.(proc.Down); ok {
		d.seen <- d.count()
	}
}

// WithoutTimeout lets a call wait for as long as its work takes, as OTP's
// infinity, past the runtime's default call timeout.
func ExampleWithoutTimeout() {
	ctx := context.Background()
	rt, _ := proc.New(proc.Config{Node: "example@localhost", CallTimeout: 10 * time.Millisecond})
	defer rt.Close(ctx)

	slow, _ := rt.Spawn(&slowReport{})
	_, err := rt.Call(ctx, slow, "report")
	fmt.Println("default:", err)
	v, err := rt.Call(proc.WithoutTimeout(ctx), slow, "report")
	fmt.Println("without timeout:", v, err)
	// Output:
	// default: proc: no answer within the default call timeout: context deadline exceeded (10ms)
	// without timeout: done <nil>
}

// slowReport takes 50 ms to answer.
type slowReport struct{ proc.Base }

func (slowReport) HandleCall(_ *proc.Process, from proc.From, _ any) (any, error) {
	go func() {
		time.Sleep(50 * time.Millisecond)
		from.Reply("done", nil)
	}()
	return proc.NoReply, nil
}

// One request in flight while the caller goes on: Check does not wait,
// Receive does. A request whose server is killed before it answers is
// answered with the exit, at once, as a call monitors its callee.
func ExampleRuntime_SendRequest() {
	ctx := context.Background()
	rt, _ := proc.New(proc.Config{Node: "example@localhost"})
	defer rt.Close(ctx)

	shop, _ := rt.Spawn(&pricer{price: 42})
	r, _ := rt.SendRequest(shop, "price?")
	_, err := r.Check()
	fmt.Println("before the answer:", err)
	rt.Cast(shop, "answer now")
	price, err := r.Receive(ctx)
	fmt.Println("price:", price, err)

	r, _ = rt.SendRequest(shop, "price?")
	rt.Exit(shop, proc.ErrKill)
	_, err = r.Receive(ctx)
	var exit *proc.ExitError
	fmt.Println("server killed:", errors.As(err, &exit) && exit.Reason == proc.ErrKilled)
	// Output:
	// before the answer: proc: no response yet
	// price: 42 <nil>
	// server killed: true
}

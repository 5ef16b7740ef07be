package proc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSendIsOrderedPerSender(t *testing.T) {
	rt := newRuntime(t)
	const senders, perSender = 8, 2000
	seen := make(map[int]int)
	done := make(chan struct{})
	var mu sync.Mutex
	count := 0
	sink := mustSpawn(t, rt, HandlerFunc(func(p *Process, msg any) {
		m := msg.([2]int)
		mu.Lock()
		defer mu.Unlock()
		if last, ok := seen[m[0]]; ok && m[1] != last+1 {
			t.Errorf("sender %d: got %d after %d", m[0], m[1], last)
		}
		seen[m[0]] = m[1]
		count++
		if count == senders*perSender {
			close(done)
		}
	}))
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				if err := rt.Send(sink, [2]int{s, i}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("received %d of %d", count, senders*perSender)
	}
}

// counter is a GenServer keeping a number.
type counter struct {
	Base
	n          int
	terminated chan error
	pending    []From
}

type (
	incr     struct{ by int }
	get      struct{}
	held     struct{} // the number of calls held for a later answer
	getLater struct{}
	release  struct{}
	crash    struct{}
	stopWith struct{ reason error }
)

func (c *counter) HandleCall(p *Process, from From, req any) (any, error) {
	switch r := req.(type) {
	case get:
		return c.n, nil
	case held:
		return len(c.pending), nil
	case getLater:
		c.pending = append(c.pending, from)
		return NoReply, nil
	case crash:
		panic("call crash")
	case stopWith:
		p.Stop(r.reason)
		return "stopping", nil
	case error:
		return nil, r
	}
	return nil, ErrUnhandled
}

func (c *counter) HandleCast(p *Process, msg any) {
	switch m := msg.(type) {
	case incr:
		c.n += m.by
	case release:
		for _, f := range c.pending {
			f.Reply(c.n, nil)
		}
		c.pending = nil
	case stopWith:
		p.Stop(m.reason)
	case crash:
		panic(errBoom)
	}
}

func (c *counter) Terminate(_ *Process, reason error) {
	if c.terminated != nil {
		c.terminated <- reason
	}
}

func (c *counter) Inspect() any { return c.n }

func TestGenServerCallCastInfo(t *testing.T) {
	rt := newRuntime(t)
	ctx := context.Background()
	pid := mustSpawn(t, rt, &counter{})
	for range 10 {
		if err := rt.Cast(pid, incr{2}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := Call[int](ctx, rt, pid, get{})
	if err != nil || n != 20 {
		t.Fatalf("get = %d, %v; want 20", n, err)
	}
	// The callee's own error reaches the caller unchanged.
	if _, err := rt.Call(ctx, pid, errBoom); !errors.Is(err, errBoom) {
		t.Fatalf("call error = %v, want boom", err)
	}
	if _, err := rt.Call(ctx, pid, 42); !errors.Is(err, ErrUnhandled) {
		t.Fatalf("unhandled call = %v", err)
	}
	if _, err := Call[string](ctx, rt, pid, get{}); err == nil {
		t.Fatal("typed call with wrong type succeeded")
	}
}

func TestDeferredReply(t *testing.T) {
	rt := newRuntime(t)
	pid := mustSpawn(t, rt, &counter{n: 7})
	res := make(chan any, 2)
	for range 2 {
		go func() {
			v, err := rt.Call(context.Background(), pid, getLater{})
			if err != nil {
				res <- err
				return
			}
			res <- v
		}()
	}
	// Wait until both calls are held, then release them.
	eventually(t, func() error {
		if n, err := Call[int](context.Background(), rt, pid, held{}); err != nil || n != 2 {
			return fmt.Errorf("deferred calls not held yet: %d %v", n, err)
		}
		return nil
	})
	if err := rt.Cast(pid, release{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if v := <-res; v != 7 {
			t.Fatalf("deferred reply = %v", v)
		}
	}
}

func TestDeferredCallFailsWhenServerDies(t *testing.T) {
	rt := newRuntime(t)
	pid := mustSpawn(t, rt, &counter{})
	res := make(chan error, 1)
	go func() {
		_, err := rt.Call(context.Background(), pid, getLater{})
		res <- err
	}()
	eventually(t, func() error {
		if n, err := Call[int](context.Background(), rt, pid, held{}); err != nil || n != 1 {
			return fmt.Errorf("not held: %d %v", n, err)
		}
		return nil
	})
	rt.Cast(pid, stopWith{errBoom})
	err := <-res
	var ee *ExitError
	if !errors.As(err, &ee) || !errors.Is(err, errBoom) {
		t.Fatalf("call error = %v, want ExitError with boom", err)
	}
}

func TestCallErrors(t *testing.T) {
	rt := newRuntime(t)
	pid := mustSpawn(t, rt, &counter{})

	// Timeout: a server that never answers.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := rt.Call(ctx, pid, getLater{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout call = %v", err)
	}

	// A panic in HandleCall: the caller gets an ExitError with the crash.
	_, err := rt.Call(context.Background(), pid, crash{})
	var ce *CrashError
	if !errors.As(err, &ce) || !strings.Contains(string(ce.Stack), "HandleCall") {
		t.Fatalf("crash call = %v", err)
	}

	// Dead process.
	_, err = rt.Call(context.Background(), pid, get{})
	if !errors.Is(err, ErrNoProc) && !errors.As(err, &ce) {
		t.Fatalf("call to dead = %v", err)
	}

	// Unknown process.
	_, err = rt.Call(context.Background(), PID{Node: rt.Node(), Creation: rt.Creation(), ID: 1 << 40}, get{})
	if !errors.Is(err, ErrNoProc) {
		t.Fatalf("call to unknown = %v", err)
	}

	// A PID of an earlier incarnation of this node is dead too.
	_, err = rt.Call(context.Background(), PID{Node: rt.Node(), Creation: rt.Creation() - 1, ID: pid.ID}, get{})
	if !errors.Is(err, ErrNoProc) {
		t.Fatalf("call to stale incarnation = %v", err)
	}

	// Another node, without distribution.
	_, err = rt.Call(context.Background(), PID{Node: "other@host", Creation: 1, ID: 1}, get{})
	if !errors.Is(err, ErrNoRoute) {
		t.Fatalf("call to other node = %v", err)
	}
}

func TestCallToSelf(t *testing.T) {
	rt := newRuntime(t)
	res := make(chan error, 1)
	pid := mustSpawn(t, rt, HandlerFunc(func(p *Process, msg any) {
		_, err := p.Call(context.Background(), p.Self(), get{})
		res <- err
	}))
	rt.Send(pid, "go")
	if err := <-res; !errors.Is(err, ErrCallToSelf) {
		t.Fatalf("self call = %v", err)
	}
}

func TestStopRunsTerminate(t *testing.T) {
	rt := newRuntime(t)
	term := make(chan error, 1)
	pid := mustSpawn(t, rt, &counter{terminated: term})
	v, err := rt.Call(context.Background(), pid, stopWith{ErrShutdown})
	if err != nil || v != "stopping" {
		t.Fatalf("stop call = %v, %v", v, err)
	}
	if r := <-term; !errors.Is(r, ErrShutdown) {
		t.Fatalf("terminate reason %v", r)
	}
	eventually(t, func() error {
		if rt.Alive(pid) {
			return fmt.Errorf("still alive")
		}
		return nil
	})
}

func TestRuntimeStop(t *testing.T) {
	rt := newRuntime(t)
	term := make(chan error, 1)
	pid := mustSpawn(t, rt, &counter{terminated: term})
	if err := rt.Stop(context.Background(), pid, nil); err != nil {
		t.Fatal(err)
	}
	if r := <-term; !errors.Is(r, ErrNormal) {
		t.Fatalf("terminate reason %v", r)
	}
	if rt.Alive(pid) {
		t.Fatal("alive after Stop returned")
	}
}

func TestPanicCrashesOnlyThatProcess(t *testing.T) {
	rt := newRuntime(t)
	term := make(chan error, 1)
	pid := mustSpawn(t, rt, &counter{terminated: term})
	other := mustSpawn(t, rt, &counter{})
	rt.Cast(pid, crash{})
	reason := <-term
	var ce *CrashError
	if !errors.As(reason, &ce) || !errors.Is(reason, errBoom) {
		t.Fatalf("terminate reason %v", reason)
	}
	if n, err := Call[int](context.Background(), rt, other, get{}); err != nil || n != 0 {
		t.Fatalf("other process: %v %v", n, err)
	}
}

type initer struct {
	Base
	err   error
	panic bool
	cont  bool
	got   chan any
}

func (i *initer) Init(p *Process) error {
	if i.panic {
		panic("init panic")
	}
	if i.cont {
		p.Continue("after-init")
		p.Send(p.Self(), "first message")
	}
	return i.err
}

func (i *initer) HandleContinue(_ *Process, c any) { i.got <- c }
func (i *initer) HandleInfo(_ *Process, m any)     { i.got <- m }

func TestInit(t *testing.T) {
	rt := newRuntime(t)
	if _, err := rt.Spawn(&initer{err: errBoom}); !errors.Is(err, errBoom) {
		t.Fatalf("init error = %v", err)
	}
	var ce *CrashError
	if _, err := rt.Spawn(&initer{panic: true}); !errors.As(err, &ce) {
		t.Fatalf("init panic = %v", err)
	}
	got := make(chan any, 2)
	mustSpawn(t, rt, &initer{cont: true, got: got})
	if a, b := <-got, <-got; a != "after-init" || b != "first message" {
		t.Fatalf("order: %v then %v", a, b)
	}
	if n := rt.NumProcesses(); n != 1 {
		t.Fatalf("%d processes, want 1", n)
	}
}

func TestBoundedMailboxRefusesAndLosesNothing(t *testing.T) {
	rt := newRuntime(t)
	gate := make(chan struct{})
	var handled []int
	var mu sync.Mutex
	pid := mustSpawn(t, rt, HandlerFunc(func(p *Process, msg any) {
		<-gate
		mu.Lock()
		handled = append(handled, msg.(int))
		mu.Unlock()
	}), WithMailboxBound(10))
	var accepted []int
	full := 0
	for i := range 100 {
		err := rt.Send(pid, i)
		switch {
		case err == nil:
			accepted = append(accepted, i)
		case errors.Is(err, ErrMailboxFull):
			full++
		default:
			t.Fatal(err)
		}
	}
	if full == 0 {
		t.Fatal("bounded mailbox never refused")
	}
	close(gate)
	eventually(t, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(handled) != len(accepted) {
			return fmt.Errorf("handled %d of %d accepted", len(handled), len(accepted))
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	for i := range accepted {
		if handled[i] != accepted[i] {
			t.Fatalf("handled %v, accepted %v", handled, accepted)
		}
	}
}

func TestSystemMessagesJumpTheQueue(t *testing.T) {
	rt := newRuntime(t)
	gate := make(chan struct{})
	pid := mustSpawn(t, rt, &slow{gate: gate})
	for range 1000 {
		rt.Cast(pid, incr{1})
	}
	// The first cast is blocked in its callback; 999 wait. Inspect answers
	// after the callback in progress, before the backlog.
	res := make(chan any, 1)
	go func() {
		v, _ := rt.Inspect(context.Background(), pid)
		res <- v
	}()
	eventually(t, func() error {
		if !rt.table.get(pid).mbox.hasSys.Load() && len(res) == 0 {
			return fmt.Errorf("inspect not queued yet")
		}
		return nil
	})
	close(gate)
	if v := <-res; v.(int) >= 1000 {
		t.Fatalf("inspect waited for the backlog: saw %v", v)
	}
	// An exit signal kills at once, whatever is queued.
	gate2 := make(chan struct{})
	pid2 := mustSpawn(t, rt, &slow{gate: gate2})
	for range 1000 {
		rt.Cast(pid2, incr{1})
	}
	wait := watchExit(t, rt, pid2)
	rt.Exit(pid2, errBoom)
	if r := wait(); !errors.Is(r, errBoom) {
		t.Fatalf("reason %v", r)
	}
	close(gate2)
}

type slow struct {
	Base
	gate chan struct{}
	n    int
}

func (s *slow) HandleCast(_ *Process, msg any) {
	<-s.gate
	s.n++
}
func (s *slow) Inspect() any { return s.n }

func TestIdleProcessGivesUpItsGoroutine(t *testing.T) {
	rt := newRuntime(t)
	pid := mustSpawn(t, rt, &counter{})
	rt.Cast(pid, incr{1})
	eventually(t, func() error {
		in, err := rt.Info(pid)
		if err != nil {
			return err
		}
		if in.Status != StatusIdle {
			return fmt.Errorf("status %s", in.Status)
		}
		return nil
	})
	// And it still works afterwards.
	if n, err := Call[int](context.Background(), rt, pid, get{}); err != nil || n != 1 {
		t.Fatalf("get after idle: %v %v", n, err)
	}
}

func TestCloseIsIdempotentAndStopsEverything(t *testing.T) {
	rt, _ := New(Config{})
	term := make(chan error, 3)
	for range 3 {
		pid, _ := rt.Spawn(&counter{terminated: term})
		rt.Cast(pid, incr{1})
	}
	ctx := context.Background()
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if r := <-term; !errors.Is(r, ErrShutdown) {
			t.Fatalf("terminate reason %v", r)
		}
	}
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Spawn(&counter{}); !errors.Is(err, ErrRuntimeClosed) {
		t.Fatalf("spawn after close = %v", err)
	}
}

func TestPIDsAreUniqueAcrossIncarnations(t *testing.T) {
	a, _ := New(Config{Node: "n@h"})
	b, _ := New(Config{Node: "n@h"})
	defer a.Close(context.Background())
	defer b.Close(context.Background())
	pa, _ := a.Spawn(&counter{})
	pb, _ := b.Spawn(&counter{})
	if pa == pb || pa.ID != pb.ID {
		t.Fatalf("restarted node reused a PID: %v %v", pa, pb)
	}
	if !strings.HasPrefix(pa.String(), "<n@h.1.") {
		t.Fatalf("PID prints as %s", pa)
	}
	if _, err := b.Call(context.Background(), pa, get{}); err == nil {
		t.Fatal("old incarnation's PID reached the new runtime")
	}
}

func TestMessageInProgressDoesNotCountAgainstTheBound(t *testing.T) {
	rt := newRuntime(t)
	started, release := make(chan struct{}), make(chan struct{})
	got := make(chan any, 4)
	pid := mustSpawn(t, rt, HandlerFunc(func(_ *Process, msg any) {
		if msg == "block" {
			close(started)
			<-release
			return
		}
		got <- msg
	}), WithMailboxBound(1))
	rt.Send(pid, "block")
	<-started
	if err := rt.Send(pid, "queued"); err != nil {
		t.Fatalf("one waiting message refused by a bound of one: %v", err)
	}
	if err := rt.Send(pid, "extra"); !errors.Is(err, ErrMailboxFull) {
		t.Fatalf("second waiting message: %v", err)
	}
	close(release)
	if m := <-got; m != "queued" {
		t.Fatalf("got %v", m)
	}
}

func TestWithRegister(t *testing.T) {
	rt := newRuntime(t)
	var got PID
	pid := mustSpawn(t, rt, &counter{}, WithRegister(func(p PID) error { got = p; return nil }))
	if got != pid {
		t.Fatalf("registered %v, spawned %v", got, pid)
	}
	if _, err := rt.Spawn(&counter{}, WithRegister(func(PID) error { return errBoom })); !errors.Is(err, errBoom) {
		t.Fatalf("failed registration: %v", err)
	}
	if rt.NumProcesses() != 1 {
		t.Fatalf("%d processes after a refused registration", rt.NumProcesses())
	}
	cancel := rt.Watch(pid, func(PID, error) {})
	if in, _ := rt.Info(pid); in.Watchers != 1 {
		t.Fatalf("watchers %d", in.Watchers)
	}
	cancel()
	if in, _ := rt.Info(pid); in.Watchers != 0 {
		t.Fatalf("watchers after cancel %d", in.Watchers)
	}
}

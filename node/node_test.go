package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/proc"
)

func TestSendAndCallAcrossNodes(t *testing.T) {
	a, b, _ := memPair(t)
	ctx := context.Background()
	in := newInbox()
	dst := spawn(t, b.rt, in, proc.WithName("inbox"))
	if err := a.rt.Send(dst, ping{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if m := in.recv(t); m != (ping{Seq: 1}) {
		t.Fatalf("got %#v", m)
	}
	if err := a.rt.SendTo(proc.NodeName{Node: "b@mem", Name: "inbox"}, "by name"); err != nil {
		t.Fatal(err)
	}
	if m := in.recv(t); m != "by name" {
		t.Fatalf("got %#v", m)
	}
	srv := spawn(t, b.rt, echo{}, proc.WithName("echo"))
	v, err := proc.Call[string](ctx, a.rt, srv, "hello")
	if err != nil || v != "hello" {
		t.Fatalf("call: %v %v", v, err)
	}
	v, err = proc.Call[string](ctx, a.rt, proc.NodeName{Node: "b@mem", Name: "echo"}, "by name")
	if err != nil || v != "by name" {
		t.Fatalf("call by name: %v %v", v, err)
	}
	// The callee crashing mid-call: the caller gets an ExitError with the crash.
	_, err = a.rt.Call(ctx, srv, "crash")
	var ee *proc.ExitError
	var ce *proc.CrashError
	if !errors.As(err, &ee) || !errors.As(err, &ce) {
		t.Fatalf("call to crashing server: %#v", err)
	}
	// A dead process.
	if _, err := a.rt.Call(ctx, srv, "x"); !errors.Is(err, proc.ErrNoProc) && !errors.As(err, &ce) {
		t.Fatalf("call to dead server: %v", err)
	}
	// A timeout.
	slow := spawn(t, b.rt, silent{})
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := a.rt.Call(tctx, slow, "no answer"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call timeout: %v", err)
	}
	if got := a.n.Nodes(); len(got) != 1 || got[0] != "b@mem" {
		t.Fatalf("nodes %v", got)
	}
}

func TestUnregisteredTypeIsAnErrorAtTheSender(t *testing.T) {
	a, b, _ := memPair(t)
	type private struct{ X int }
	dst := spawn(t, b.rt, newInbox())
	if err := a.rt.Send(dst, private{1}); err == nil {
		t.Fatal("sending an unregistered type succeeded")
	}
}

func TestUnknownTypeIsReportedBack(t *testing.T) {
	nw := newNet(t)
	type extra struct{ X int }
	a := startNode(t, "a@mem", nw.Endpoint("a"), "a:1", func(c *Config) {
		c.Codec = newCodec(t)
		if err := registerExtra[extra](c); err != nil {
			t.Fatal(err)
		}
	})
	b := startNode(t, "b@mem", nw.Endpoint("b"), "b:1", nil)
	if err := a.n.Connect(context.Background(), "b@mem", b.n.Addr()); err != nil {
		t.Fatal(err)
	}
	in := newInbox()
	dst := spawn(t, b.rt, in)
	if err := a.rt.Send(dst, extra{1}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if a.n.Stats().UndecodableByPeer.Load() != 1 || b.n.Stats().Undecodable.Load() != 1 {
			return fmt.Errorf("not reported yet")
		}
		return nil
	})
	// The link survives: a good message still arrives.
	a.rt.Send(dst, "fine")
	if m := in.recv(t); m != "fine" {
		t.Fatalf("got %#v", m)
	}
	// A call with an unknown type answers with the decoding error.
	srv := spawn(t, b.rt, echo{})
	if _, err := a.rt.Call(context.Background(), srv, extra{2}); err == nil {
		t.Fatal("call with an unknown type succeeded")
	}
}

func TestRemoteLinksAndMonitors(t *testing.T) {
	a, b, _ := memPair(t)
	target := spawn(t, b.rt, echo{})
	trapper := newInbox()
	trapper.trap = true
	tp := spawn(t, a.rt, trapper)
	watcher := newInbox()
	wp := spawn(t, a.rt, watcher)
	linkFrom(t, a.rt, tp, target)
	ref := monitorFrom(t, a.rt, wp, target)
	eventually(t, func() error {
		in, _ := b.rt.Info(target)
		if len(in.Links) != 1 || len(in.MonitoredBy) != 1 {
			return fmt.Errorf("remote side %+v", in)
		}
		return nil
	})
	b.rt.Cast(target, "stop")
	if m := trapper.recv(t).(proc.Exit); m.From != target || !errors.Is(m.Reason, proc.ErrShutdown) {
		t.Fatalf("exit %#v", m)
	}
	if d := watcher.recv(t).(proc.Down); d.Ref != ref || d.PID != target || !errors.Is(d.Reason, proc.ErrShutdown) {
		t.Fatalf("down %#v", d)
	}
	// Monitoring a process that is already gone gives noproc.
	monitorFrom(t, a.rt, wp, target)
	if d := watcher.recv(t).(proc.Down); !errors.Is(d.Reason, proc.ErrNoProc) {
		t.Fatalf("down of dead %#v", d)
	}
}

func TestNodeDownFiresLinksAndMonitors(t *testing.T) {
	a, b, nw := memPair(t)
	target := spawn(t, b.rt, echo{})
	trapper := newInbox()
	trapper.trap = true
	tp := spawn(t, a.rt, trapper)
	watcher := newInbox()
	wp := spawn(t, a.rt, watcher)
	linkFrom(t, a.rt, tp, target)
	monitorFrom(t, a.rt, wp, target)
	events := make(chan Event, 4)
	a.n.Subscribe(func(e Event) { events <- e })
	pending := make(chan error, 1)
	held := spawn(t, b.rt, silent{})
	go func() {
		_, err := a.rt.Call(context.Background(), held, "held")
		pending <- err
	}()
	nw.Endpoint("b").Close()
	if m := trapper.recv(t).(proc.Exit); !errors.Is(m.Reason, proc.ErrNoConnection) {
		t.Fatalf("exit %#v", m)
	}
	if d := watcher.recv(t).(proc.Down); !errors.Is(d.Reason, proc.ErrNoConnection) {
		t.Fatalf("down %#v", d)
	}
	if err := <-pending; !errors.Is(err, proc.ErrNoConnection) {
		t.Fatalf("pending call: %v", err)
	}
	select {
	case e := <-events:
		if e.Up || e.Node != "b@mem" {
			t.Fatalf("event %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no nodedown event")
	}
}

func TestOrderingUnderConcurrency(t *testing.T) {
	a, b, _ := memPair(t)
	const senders, each = 8, 500
	type seen struct {
		mu   sync.Mutex
		last map[proc.PID]int
		n    int
		bad  error
	}
	s := &seen{last: map[proc.PID]int{}}
	done := make(chan struct{})
	sink := spawn(t, b.rt, proc.HandlerFunc(func(_ *proc.Process, msg any) {
		m := msg.(ping)
		s.mu.Lock()
		defer s.mu.Unlock()
		if prev, ok := s.last[m.From]; ok && m.Seq != prev+1 && s.bad == nil {
			s.bad = fmt.Errorf("%v: %d after %d", m.From, m.Seq, prev)
		}
		s.last[m.From] = m.Seq
		s.n++
		if s.n == senders*each {
			close(done)
		}
	}))
	for range senders {
		pid := spawn(t, a.rt, proc.HandlerFunc(func(p *proc.Process, _ any) {
			for i := range each {
				if err := p.Send(sink, ping{From: p.Self(), Seq: i}); err != nil {
					panic(err)
				}
			}
		}))
		a.rt.Send(pid, "go")
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("received %d of %d", s.n, senders*each)
	}
	if s.bad != nil {
		t.Fatal(s.bad)
	}
}

func TestRPC(t *testing.T) {
	a, b, nw := memPair(t)
	ctx := context.Background()
	b.n.Register("double", func(_ context.Context, arg any) (any, error) { return arg.(int) * 2, nil })
	b.n.Register("fail", func(context.Context, any) (any, error) { return nil, errors.New("it failed") })
	b.n.Register("panic", func(context.Context, any) (any, error) { panic("boom") })
	b.n.Register("slow", func(ctx context.Context, _ any) (any, error) { <-ctx.Done(); return nil, ctx.Err() })
	if v, err := a.n.RPC(ctx, "b@mem", "double", 21); err != nil || v != 42 {
		t.Fatalf("double: %v %v", v, err)
	}
	var re *RPCError
	if _, err := a.n.RPC(ctx, "b@mem", "fail", nil); !errors.As(err, &re) || re.Err.Error() != "it failed" {
		t.Fatalf("fail: %v", err)
	}
	if _, err := a.n.RPC(ctx, "b@mem", "panic", nil); !errors.As(err, &re) {
		t.Fatalf("panic: %v", err)
	}
	if _, err := a.n.RPC(ctx, "b@mem", "missing", nil); !errors.Is(err, ErrNoSuchFunction) {
		t.Fatalf("missing: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := a.n.RPC(tctx, "b@mem", "slow", nil); !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &re) {
		t.Fatalf("slow: %v", err)
	}
	res := a.n.Multicall(ctx, []string{"b@mem", "a@mem", "nowhere@mem"}, "double", 1)
	if res[0].Value != 2 || res[0].Err != nil {
		t.Fatalf("multicall b: %+v", res[0])
	}
	if !errors.Is(res[1].Err, ErrNoSuchFunction) {
		t.Fatalf("multicall a: %+v", res[1])
	}
	if !errors.Is(res[2].Err, proc.ErrNoConnection) {
		t.Fatalf("multicall nowhere: %+v", res[2])
	}
	casted := make(chan any, 1)
	b.n.Register("note", func(_ context.Context, arg any) (any, error) { casted <- arg; return nil, nil })
	if err := a.n.Cast("b@mem", "note", "fire and forget"); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-casted:
		if v != "fire and forget" {
			t.Fatalf("cast delivered %v", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cast never ran")
	}
	nw.Endpoint("b").Close()
	eventually(t, func() error {
		if len(a.n.Nodes()) != 0 {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	if err := a.n.Cast("b@mem", "note", 1); !errors.Is(err, proc.ErrNoConnection) {
		t.Fatalf("cast to unreachable: %v", err)
	}
	if _, err := a.n.RPC(ctx, "b@mem", "double", 1); !errors.Is(err, proc.ErrNoConnection) {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestRemoteSpawn(t *testing.T) {
	a, b, _ := memPair(t)
	b.n.RegisterSpawn("echo", func(any) (proc.Behavior, error) { return echo{}, nil })
	pid, err := a.n.Spawn(context.Background(), "b@mem", "echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if pid.Node != "b@mem" || !b.rt.Alive(pid) {
		t.Fatalf("spawned %v", pid)
	}
	if v, err := a.rt.Call(context.Background(), pid, 7); err != nil || v != 7 {
		t.Fatalf("call spawned: %v %v", v, err)
	}
	if _, err := a.n.Spawn(context.Background(), "b@mem", "nope", nil); !errors.Is(err, ErrNoSuchSpawnable) {
		t.Fatalf("spawn unknown: %v", err)
	}
}

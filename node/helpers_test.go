package node

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport"
	"github.com/grovedev/grove/transport/memnet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var cookie = []byte("test-cookie")

// ping is a message type registered in every test node's codec.
type ping struct {
	From proc.PID
	Seq  int
}

func newCodec(t testing.TB) *codec.Registry {
	r, err := codec.NewRegistry(codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	codec.MustRegister[ping](r, "test.ping")
	return r
}

// testNode is a runtime and its node, closed at the end of the test.
type testNode struct {
	rt *proc.Runtime
	n  *Node
}

func startNode(t *testing.T, name string, tr transport.Transport, listen string, mod func(*Config)) *testNode {
	t.Helper()
	rt, err := proc.New(proc.Config{Node: name, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Name: name, Listen: listen, Cookie: cookie, Transport: tr, Codec: newCodec(t),
		Heartbeat: 100 * time.Millisecond, HeartbeatTimeout: time.Second,
		ConnectTimeout: time.Second, ReconnectMin: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	n, err := Start(context.Background(), rt, cfg)
	if err != nil {
		rt.Close(context.Background())
		t.Fatal(err)
	}
	tn := &testNode{rt: rt, n: n}
	t.Cleanup(tn.close)
	return tn
}

func (tn *testNode) close() {
	tn.n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tn.rt.Close(ctx)
}

// memPair starts two connected nodes a and b on an in-memory network.
func memPair(t *testing.T) (a, b *testNode, nw *memnet.Network) {
	t.Helper()
	nw = memnet.New(memnet.Config{})
	t.Cleanup(func() { nw.Close() })
	a = startNode(t, "a@mem", nw.Endpoint("a"), "a:1", nil)
	b = startNode(t, "b@mem", nw.Endpoint("b"), "b:1", nil)
	if err := a.n.Connect(context.Background(), "b@mem", b.n.Addr()); err != nil {
		t.Fatal(err)
	}
	return a, b, nw
}

func eventually(t *testing.T, cond func() error) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, cond)
}

// inbox forwards every message to a channel.
type inbox struct {
	proc.Base
	ch   chan any
	trap bool
}

func newInbox() *inbox { return &inbox{ch: make(chan any, 4096)} }

func (b *inbox) Init(p *proc.Process) error        { p.TrapExit(b.trap); return nil }
func (b *inbox) HandleInfo(_ *proc.Process, m any) { b.ch <- m }
func (b *inbox) HandleCast(_ *proc.Process, m any) { b.ch <- m }

// HandleCall runs a function inside the process, so tests can act as it.
func (b *inbox) HandleCall(p *proc.Process, _ proc.From, req any) (any, error) {
	if f, ok := req.(func(*proc.Process) any); ok {
		return f(p), nil
	}
	return nil, proc.ErrUnhandled
}

// as runs f inside the local process pid (an inbox).
func as(t *testing.T, rt *proc.Runtime, pid proc.PID, f func(*proc.Process) any) any {
	t.Helper()
	v, err := rt.Call(context.Background(), pid, f)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func linkFrom(t *testing.T, rt *proc.Runtime, pid, target proc.PID) {
	t.Helper()
	if err, _ := as(t, rt, pid, func(p *proc.Process) any { return p.Link(target) }).(error); err != nil {
		t.Fatal(err)
	}
}

func monitorFrom(t *testing.T, rt *proc.Runtime, pid, target proc.PID) proc.Ref {
	t.Helper()
	return as(t, rt, pid, func(p *proc.Process) any { return p.Monitor(target) }).(proc.Ref)
}

func newNet(t *testing.T) *memnet.Network {
	nw := memnet.New(memnet.Config{})
	t.Cleanup(func() { nw.Close() })
	return nw
}

// registerExtra registers T in the config's codec only.
func registerExtra[T any](c *Config) error { return codec.Register[T](c.Codec, "test.extra") }

func (b *inbox) recv(t *testing.T) any {
	t.Helper()
	select {
	case m := <-b.ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return nil
	}
}

// echo answers calls with their request, or fails when asked.
type echo struct{ proc.Base }

func (echo) HandleCall(_ *proc.Process, _ proc.From, req any) (any, error) {
	if s, ok := req.(string); ok && s == "crash" {
		panic("asked to crash")
	}
	return req, nil
}

func (echo) HandleCast(p *proc.Process, msg any) {
	if msg == "stop" {
		p.Stop(proc.ErrShutdown)
	}
}

func spawn(t *testing.T, rt *proc.Runtime, b proc.Behavior, opts ...proc.SpawnOption) proc.PID {
	t.Helper()
	pid, err := rt.Spawn(b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// silent never answers calls.
type silent struct{ proc.Base }

func (silent) HandleCall(*proc.Process, proc.From, any) (any, error) { return proc.NoReply, nil }

// benchPair starts two nodes joined over loopback TCP for benchmarks.
func benchPair(b *testing.B) [2]*testNode {
	b.Helper()
	var out [2]*testNode
	for i, name := range []string{"a@127.0.0.1", "b@127.0.0.1"} {
		rt, err := proc.New(proc.Config{Node: name, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		n, err := Start(context.Background(), rt, Config{Name: name, Listen: "127.0.0.1:0", Cookie: cookie, Codec: newCodec(b), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = &testNode{rt: rt, n: n}
		b.Cleanup(out[i].close)
	}
	if err := out[0].n.Connect(context.Background(), out[1].n.Name(), out[1].n.Addr()); err != nil {
		b.Fatal(err)
	}
	return out
}

func newCounter(n int, done chan struct{}) proc.Behavior {
	got := 0
	return proc.HandlerFunc(func(*proc.Process, any) {
		got++
		if got == n {
			close(done)
		}
	})
}

func newStreamer(to proc.PID, n int) proc.Behavior {
	return proc.HandlerFunc(func(p *proc.Process, _ any) {
		for range n {
			if err := p.Send(to, 42); err != nil {
				panic(err)
			}
		}
	})
}

package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport/memnet"
)

// named answers calls with "node:request", fails, crashes or holds the
// call until released, as asked.
type named struct {
	proc.Base
	node string
	held chan proc.From // calls asked to "hold" are handed here
	cast chan any
}

func (s *named) HandleCall(_ *proc.Process, from proc.From, req any) (any, error) {
	switch req {
	case "crash":
		panic("asked to crash")
	case "fail":
		return nil, errors.New("refused")
	case "int":
		return 7, nil
	case "hold":
		s.held <- from
		return proc.NoReply, nil
	case "hold on c":
		if s.node == "c" {
			s.held <- from
			return proc.NoReply, nil
		}
	}
	return fmt.Sprintf("%s:%v", s.node, req), nil
}

func (s *named) HandleCast(_ *proc.Process, msg any) { s.cast <- msg }

// trio starts nodes a, b and c on one memory network, a connected to b
// and c, each running a "svc" server.
func trio(t *testing.T) (nodes [3]*testNode, svcs [3]*named, nw *memnet.Network) {
	t.Helper()
	nw = newNet(t)
	for i, name := range []string{"a", "b", "c"} {
		nodes[i] = startNode(t, name+"@mem", nw.Endpoint(name), name+":1", nil)
		svcs[i] = &named{node: name, held: make(chan proc.From, 8), cast: make(chan any, 8)}
		spawn(t, nodes[i].rt, svcs[i], proc.WithName("svc"))
	}
	for _, o := range nodes[1:] {
		if err := nodes[0].n.Connect(context.Background(), o.n.Name(), o.n.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	return nodes, svcs, nw
}

func replies[R any](r MultiCallResult[R]) string {
	var parts []string
	for _, rep := range r.Replies {
		parts = append(parts, fmt.Sprintf("%s=%v/%v", rep.Node, rep.Value, rep.Err))
	}
	return strings.Join(parts, " ")
}

func badNames(bad []BadNode) string {
	var parts []string
	for _, b := range bad {
		parts = append(parts, b.Node)
	}
	return strings.Join(parts, " ")
}

func TestMultiCall(t *testing.T) {
	nodes, _, _ := trio(t)
	a := nodes[0].n
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := a.MultiCall(ctx, []string{"a@mem", "b@mem", "c@mem", "nowhere@mem", "b@mem"}, "svc", "x")
	if got, want := replies(r), "a@mem=a:x/<nil> b@mem=b:x/<nil> c@mem=c:x/<nil>"; got != want {
		t.Fatalf("replies %s, want %s", got, want)
	}
	if len(r.Bad) != 1 || r.Bad[0].Node != "nowhere@mem" || !errors.Is(r.Bad[0].Err, ErrUnknownNode) {
		t.Fatalf("bad %+v", r.Bad)
	}

	// A server's own error is a reply.
	r = a.MultiCall(ctx, []string{"b@mem", "a@mem"}, "svc", "fail")
	if len(r.Bad) != 0 || len(r.Replies) != 2 || r.Replies[0].Err == nil || r.Replies[0].Err.Error() != "refused" {
		t.Fatalf("error replies: %s, bad %v", replies(r), r.Bad)
	}

	// Nothing under the name; a server that dies before answering.
	r = a.MultiCall(ctx, []string{"b@mem", "c@mem", "a@mem"}, "nobody", "x")
	if len(r.Replies) != 0 || len(r.Bad) != 3 {
		t.Fatalf("unregistered: %s, bad %v", replies(r), r.Bad)
	}
	for _, b := range r.Bad {
		if !errors.Is(b.Err, proc.ErrNotRegistered) {
			t.Fatalf("%s: %v, want ErrNotRegistered", b.Node, b.Err)
		}
	}
	r = a.MultiCall(ctx, []string{"c@mem", "a@mem"}, "svc", "crash")
	for _, b := range r.Bad {
		var exit *proc.ExitError
		if !errors.As(b.Err, &exit) {
			t.Fatalf("%s: %v, want *proc.ExitError", b.Node, b.Err)
		}
	}
	if len(r.Bad) != 2 {
		t.Fatalf("crash: %s, bad %v", replies(r), r.Bad)
	}
}

func TestMultiCallTyped(t *testing.T) {
	nodes, _, _ := trio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := MultiCall[string](ctx, nodes[0].n, []string{"b@mem", "c@mem"}, "svc", "y")
	if got := replies(r); got != "b@mem=b:y/<nil> c@mem=c:y/<nil>" {
		t.Fatal(got)
	}
	r = MultiCall[string](ctx, nodes[0].n, []string{"b@mem"}, "svc", "int")
	if len(r.Bad) != 1 || !errors.Is(r.Bad[0].Err, ErrBadReply) {
		t.Fatalf("wrong type: %s, bad %v", replies(r), r.Bad)
	}
	n := MultiCall[int](ctx, nodes[0].n, []string{"b@mem"}, "svc", "int")
	if len(n.Replies) != 1 || n.Replies[0].Value != 7 {
		t.Fatalf("int: %s", replies(n))
	}
}

// The context ends while one server holds the call: the others' replies
// are kept, the holder is bad with the context's error, and MultiCall
// returns at once.
func TestMultiCallTimeout(t *testing.T) {
	nodes, svcs, _ := trio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		<-svcs[2].held // c holds; answer nothing
		cancel()
	}()
	start := time.Now()
	r := nodes[0].n.MultiCall(ctx, []string{"c@mem", "b@mem"}, "svc", "hold on c")
	if time.Since(start) > 5*time.Second {
		t.Fatalf("MultiCall took %v after its context ended", time.Since(start))
	}
	if len(r.Bad) == 0 || r.Bad[0].Node != "c@mem" || !errors.Is(r.Bad[0].Err, context.Canceled) {
		t.Fatalf("bad %v", r.Bad)
	}
	// b's answer may or may not have arrived before the cancel; if not, it
	// is bad with the context's error too.
	if len(r.Replies)+len(r.Bad) != 2 || (len(r.Replies) == 1 && replies(r) != "b@mem=b:hold on c/<nil>") {
		t.Fatalf("replies %s, bad %v", replies(r), r.Bad)
	}
}

// A node is cut off by a partition while it handles the call: the link's
// heartbeat times out and the call fails with ErrNoConnection, well before
// the context's end, while the other node's reply arrives.
func TestMultiCallPartitionedMidCall(t *testing.T) {
	nodes, svcs, nw := trio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan MultiCallResult[any], 1)
	go func() { done <- nodes[0].n.MultiCall(ctx, []string{"b@mem", "c@mem"}, "svc", "hold") }()
	fromB, fromC := <-svcs[1].held, <-svcs[2].held
	nw.Block("a", "c")
	nw.Block("c", "a")
	fromB.Reply("b answered", nil)
	fromC.Reply("too late", nil) // stalls in the partition
	var r MultiCallResult[any]
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("MultiCall did not return after the partition")
	}
	if got := replies(r); got != "b@mem=b answered/<nil>" {
		t.Fatalf("replies %s", got)
	}
	if badNames(r.Bad) != "c@mem" || !errors.Is(r.Bad[0].Err, proc.ErrNoConnection) {
		t.Fatalf("bad %+v", r.Bad)
	}
	if ctx.Err() != nil {
		t.Fatal("the call failed by the context, not by the partition")
	}
	nw.Unblock("a", "c")
	nw.Unblock("c", "a")
}

func TestMultiCallOnClosedNode(t *testing.T) {
	nodes, _, _ := trio(t)
	nodes[0].n.Close()
	r := nodes[0].n.MultiCall(context.Background(), []string{"a@mem", "b@mem"}, "svc", "x")
	if len(r.Replies) != 0 || len(r.Bad) != 2 || !errors.Is(r.Bad[0].Err, ErrClosed) {
		t.Fatalf("%s, bad %v", replies(r), r.Bad)
	}
	if bad := nodes[0].n.ABCast(context.Background(), []string{"b@mem"}, "svc", "x"); len(bad) != 1 || !errors.Is(bad[0].Err, ErrClosed) {
		t.Fatalf("abcast on a closed node: %v", bad)
	}
}

func TestABCast(t *testing.T) {
	nodes, svcs, _ := trio(t)
	a := nodes[0].n
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bad := a.ABCast(ctx, []string{"a@mem", "b@mem", "c@mem", "nowhere@mem", "c@mem"}, "svc", "hello")
	if badNames(bad) != "nowhere@mem" || !errors.Is(bad[0].Err, ErrUnknownNode) {
		t.Fatalf("bad %v", bad)
	}
	for i, s := range svcs {
		select {
		case m := <-s.cast:
			if m != "hello" {
				t.Fatalf("node %d got %v", i, m)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("node %d got no cast", i)
		}
	}
	// Locally, a missing name is known at once; remotely it is counted by
	// the receiver.
	before := nodes[1].n.Stats().DeliveryFailures.Load()
	bad = a.ABCast(ctx, []string{"a@mem", "b@mem"}, "nobody", "hello")
	if badNames(bad) != "a@mem" || !errors.Is(bad[0].Err, proc.ErrNotRegistered) {
		t.Fatalf("bad %v", bad)
	}
	eventually(t, func() error {
		if nodes[1].n.Stats().DeliveryFailures.Load() == before {
			return errors.New("the receiver did not count the cast to nobody")
		}
		return nil
	})
	// A message the codec does not know is not sent.
	type unknown struct{ X int }
	bad = a.ABCast(ctx, []string{"b@mem"}, "svc", unknown{1})
	if len(bad) != 1 {
		t.Fatalf("unencodable cast: %v", bad)
	}
}

// A node that accepts connections but never completes the handshake: the
// cast to it is still being connected when the context ends, so it is
// reported unsent, and ABCast returns with the context.
func TestABCastContextEndsWhileConnecting(t *testing.T) {
	nodes, svcs, nw := trio(t)
	ln, err := nw.Endpoint("mute").Listen(context.Background(), "mute:1")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // never answers
		}
	}()
	defer func() {
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	}()
	a := nodes[0].n
	a.AddAddress("mute@mem", "mute:1")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	bad := a.ABCast(ctx, []string{"b@mem", "mute@mem"}, "svc", "hi")
	if el := time.Since(start); el > 900*time.Millisecond {
		t.Fatalf("ABCast took %v with a 100 ms context (the connect timeout is 1 s)", el)
	}
	if badNames(bad) != "mute@mem" || !errors.Is(bad[0].Err, context.DeadlineExceeded) || !errors.Is(bad[0].Err, proc.ErrNoConnection) {
		t.Fatalf("bad %v", bad)
	}
	if m := <-svcs[1].cast; m != "hi" {
		t.Fatalf("b got %v", m)
	}
}

// A cast sent into a partition that heals before the link's heartbeat
// times out waits in the link and arrives.
func TestABCastAcrossShortPartition(t *testing.T) {
	nodes, svcs, nw := trio(t)
	nw.Block("a", "c")
	bad := nodes[0].n.ABCast(context.Background(), []string{"c@mem"}, "svc", "held")
	if len(bad) != 0 {
		t.Fatalf("bad %v", bad)
	}
	select {
	case m := <-svcs[2].cast:
		t.Fatalf("delivered through the partition: %v", m)
	case <-time.After(20 * time.Millisecond):
	}
	nw.Unblock("a", "c")
	select {
	case m := <-svcs[2].cast:
		if m != "held" {
			t.Fatal(m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cast was lost")
	}
}

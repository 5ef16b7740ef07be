package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
)

// A node cut off by a partition makes its breaker open after two timed-out
// RPCs; further RPCs fail fast without reaching it; after OpenTimeout and
// the heal, a trial RPC closes the breaker again. Other nodes' breakers
// are not touched.
func TestNodeBreakerPartition(t *testing.T) {
	nodes, nw := cluster(t, "a", "b", "c")
	a := nodes[0]
	var reached atomic.Int64
	nodes[1].Register("count", func(context.Context, any) (any, error) { reached.Add(1); return "ok", nil })
	clk := clocktest.New(time.Unix(0, 0))
	var mu sync.Mutex
	var changes []string
	nb, err := NewNodeBreakers(a, NodeBreakersConfig{
		Breaker: BreakerConfig{ConsecutiveFailures: 2, OpenTimeout: 10 * time.Second, Clock: clk},
		OnStateChange: func(node string, from, to State) {
			mu.Lock()
			changes = append(changes, fmt.Sprintf("%s:%v>%v", node, from, to))
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := RPC[string](ctxFor(t, 5*time.Second), nb, "b@mem", "count", nil); err != nil || v != "ok" {
		t.Fatalf("%q %v", v, err)
	}
	nw.Block("a", "b")
	nw.Block("b", "a")
	for range 2 {
		_, err := nb.RPC(ctxFor(t, 50*time.Millisecond), "b@mem", "whoami", nil)
		if NodeClassifier(err) != Failure {
			t.Fatalf("partitioned RPC: %v", err)
		}
	}
	start := time.Now()
	_, err = nb.RPC(ctxFor(t, 5*time.Second), "b@mem", "count", nil)
	if !errors.Is(err, ErrOpen) || time.Since(start) > time.Second {
		t.Fatalf("open breaker: %v after %v", err, time.Since(start))
	}
	if v, err := RPC[string](ctxFor(t, 5*time.Second), nb, "c@mem", "whoami", nil); err != nil || v != "c@mem" {
		t.Fatalf("c: %q %v", v, err)
	}
	st := nb.Stats()
	if st["b@mem"].State != Open || st["b@mem"].Rejected != 1 || st["c@mem"].State != Closed {
		t.Fatalf("stats %+v", st)
	}

	nw.Unblock("a", "b")
	nw.Unblock("b", "a")
	clk.Advance(10 * time.Second)
	testutil.Eventually(t, 10*time.Second, func() error {
		// The link may have died in the partition: the trial redials.
		_, err := nb.RPC(ctxFor(t, 2*time.Second), "b@mem", "count", nil)
		if err != nil {
			clk.Advance(10 * time.Second) // a failed trial reopened it
		}
		return err
	})
	// Reached by the first RPC and the trial only: never while open.
	if nb.Breaker("b@mem").State() != Closed || reached.Load() != 2 {
		t.Fatalf("state %v, reached %d times", nb.Breaker("b@mem").State(), reached.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) < 3 || changes[0] != "b@mem:closed>open" || changes[len(changes)-1] != "b@mem:half-open>closed" {
		t.Fatalf("changes %v", changes)
	}
}

// Errors that show the node answered — a failing function, an exited
// process, a name nobody holds — do not open its breaker; calls to local
// processes bypass the breakers.
func TestNodeBreakerCountsOnlyNodeFailures(t *testing.T) {
	nodes, _ := cluster(t, "a", "b")
	a, b := nodes[0], nodes[1]
	b.Register("fail", func(context.Context, any) (any, error) { return nil, errors.New("no") })
	nb, err := NewNodeBreakers(a, NodeBreakersConfig{Breaker: BreakerConfig{ConsecutiveFailures: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t, 10*time.Second)
	var rpcErr *node.RPCError
	if _, err := nb.RPC(ctx, "b@mem", "fail", nil); !errors.As(err, &rpcErr) {
		t.Fatalf("%v", err)
	}
	if _, err := nb.Call(ctx, proc.NodeName{Node: "b@mem", Name: "nobody"}, "x"); !errors.Is(err, proc.ErrNotRegistered) {
		t.Fatalf("%v", err)
	}
	if nb.Breaker("b@mem").State() != Closed {
		t.Fatal("the node's own errors opened its breaker")
	}
	// A remote process answers through the breaker; a local one bypasses.
	pid, _ := b.Runtime().Spawn(proc.HandlerFunc(func(*proc.Process, any) {}))
	if _, err := nb.Call(ctx, pid, "x"); !errors.Is(err, proc.ErrUnhandled) {
		t.Fatalf("%v", err)
	}
	local, _ := a.Runtime().Spawn(echoServer{}, proc.WithName("echo"))
	if v, err := Call[string](ctx, nb, local, "hi"); err != nil || v != "hi" {
		t.Fatalf("%q %v", v, err)
	}
	if v, err := Call[string](ctx, nb, proc.Name("echo"), "hi"); err != nil || v != "hi" {
		t.Fatalf("%q %v", v, err)
	}
	if _, ok := nb.Stats()["a@mem"]; ok {
		t.Fatal("a breaker was made for the local node")
	}
	if _, err := Call[int](ctx, nb, local, "hi"); err == nil {
		t.Fatal("an answer of the wrong type was accepted")
	}
	nb.Forget("b@mem")
	if _, ok := nb.Stats()["b@mem"]; ok {
		t.Fatal("Forget kept the breaker")
	}
}

type echoServer struct{ proc.Base }

func (echoServer) HandleCall(_ *proc.Process, _ proc.From, req any) (any, error) { return req, nil }

func TestNodeClassifier(t *testing.T) {
	for err, want := range map[error]Outcome{
		nil:                      Success,
		context.Canceled:         Ignore,
		node.ErrClosed:           Ignore,
		context.DeadlineExceeded: Failure,
		fmt.Errorf("x: %w", proc.ErrNoConnection): Failure,
		node.ErrUnknownNode:                       Failure,
		proc.ErrMailboxFull:                       Failure,
		&proc.ExitError{Reason: proc.ErrKilled}:   Success,
		errors.New("the function's own"):          Success,
	} {
		if got := NodeClassifier(err); got != want {
			t.Errorf("%v: %v, want %v", err, got, want)
		}
	}
}

package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
)

// gauge counts the calls in flight per node, held until released.
type gauge struct {
	mu       sync.Mutex
	in       map[string]int
	finished map[string]int
	total    int
	release  chan struct{}
}

func newGauge() *gauge {
	return &gauge{in: map[string]int{}, finished: map[string]int{}, release: make(chan struct{})}
}

func (g *gauge) enter(node string) {
	g.mu.Lock()
	g.in[node]++
	g.total++
	g.mu.Unlock()
}

func (g *gauge) leave(node string) {
	g.mu.Lock()
	g.in[node]--
	g.finished[node]++
	g.total--
	g.mu.Unlock()
}

func (g *gauge) snapshot() (int, map[string]int) {
	total, in, _ := g.state()
	return total, in
}

// state returns the calls in flight, in total and per node, and the calls
// finished per node.
func (g *gauge) state() (int, map[string]int, map[string]int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	in := make(map[string]int, len(g.in))
	for k, v := range g.in {
		in[k] = v
	}
	fin := make(map[string]int, len(g.finished))
	for k, v := range g.finished {
		fin[k] = v
	}
	return g.total, in, fin
}

// held registers on each node a function that waits for the gauge's
// release and answers "node:arg".
func held(nodes []*node.Node, g *gauge) {
	for _, n := range nodes {
		name := n.Name()
		n.Register("held", func(ctx context.Context, arg any) (any, error) {
			g.enter(name)
			defer g.leave(name)
			select {
			case <-g.release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return fmt.Sprintf("%s:%v", name, arg), nil
		})
	}
}

// The bounds hold at every moment, the slots stay full while work waits,
// and the results come back in the order of the requests.
func TestBulkRPCBounds(t *testing.T) {
	nodes, _ := cluster(t, "a", "b", "c")
	g := newGauge()
	held(nodes, g)
	var reqs []RPCRequest
	for i := range 30 {
		target := []string{"b@mem", "c@mem", "b@mem", "a@mem"}[i%4]
		reqs = append(reqs, RPCRequest{Node: target, Function: "held", Arg: i})
	}
	const concurrency, perNode = 4, 2
	done := make(chan []Result, 1)
	go func() {
		res, err := BulkRPC(ctxFor(t, 30*time.Second), nodes[0], reqs, BulkConfig{Concurrency: concurrency, PerNode: perNode})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	perTarget := map[string]int{}
	for _, r := range reqs {
		perTarget[r.Node]++
	}
	for range reqs {
		testutil.Eventually(t, 10*time.Second, func() error {
			total, per, fin := g.state()
			for n, k := range per {
				if k > perNode {
					t.Fatalf("%d calls in flight on %s", k, n)
				}
			}
			if total > concurrency {
				t.Fatalf("%d calls in flight", total)
			}
			// The slots fill as far as the work left on each node allows.
			want := 0
			for n, k := range perTarget {
				want += min(perNode, k-fin[n])
			}
			if want = min(want, concurrency); total < want {
				return fmt.Errorf("%d in flight, %d could be (finished %v)", total, want, fin)
			}
			return nil
		})
		g.release <- struct{}{}
	}
	res := <-done
	for i, r := range res {
		if want := fmt.Sprintf("%s:%d", reqs[i].Node, i); r.Err != nil || r.Value != want {
			t.Fatalf("result %d: %v %v, want %s", i, r.Value, r.Err, want)
		}
	}
}

// The context ends with calls in flight: those fail with it, the others
// are never sent.
func TestBulkRPCContextEnds(t *testing.T) {
	nodes, _ := cluster(t, "a", "b")
	g := newGauge()
	held(nodes, g)
	reqs := make([]RPCRequest, 10)
	for i := range reqs {
		reqs[i] = RPCRequest{Node: "b@mem", Function: "held", Arg: i}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []Result, 1)
	go func() {
		res, _ := BulkRPC(ctx, nodes[0], reqs, BulkConfig{Concurrency: 3})
		done <- res
	}()
	testutil.Eventually(t, 10*time.Second, func() error {
		if total, _ := g.snapshot(); total != 3 {
			return fmt.Errorf("%d in flight", total)
		}
		return nil
	})
	cancel()
	res := <-done
	for i, r := range res {
		switch {
		case i < 3 && !errors.Is(r.Err, context.Canceled):
			t.Fatalf("in-flight item %d: %v", i, r.Err)
		case i >= 3 && (!errors.Is(r.Err, ErrNotStarted) || !errors.Is(r.Err, context.Canceled)):
			t.Fatalf("item %d: %v", i, r.Err)
		}
	}
	// The remote functions of the items in flight are not cancelled (an
	// RPC carries its deadline to the callee, not a cancellation): they
	// end with their node.
}

// Behind breakers, the items for an unreachable node open its breaker and
// the rest of them fail fast; retries repeat what may pass.
func TestBulkWithBreakersAndRetry(t *testing.T) {
	nodes, _ := cluster(t, "a", "b")
	a := nodes[0]
	a.AddAddress("gone@mem", "gone:1") // nobody listens there
	nb, err := NewNodeBreakers(a, NodeBreakersConfig{Breaker: BreakerConfig{ConsecutiveFailures: 3, OpenTimeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	var reqs []RPCRequest
	for range 10 {
		reqs = append(reqs, RPCRequest{Node: "gone@mem", Function: "whoami"}, RPCRequest{Node: "b@mem", Function: "whoami"})
	}
	res, err := BulkRPC(ctxFor(t, 30*time.Second), a, reqs, BulkConfig{Concurrency: 1, Breakers: nb})
	if err != nil {
		t.Fatal(err)
	}
	var failed, open int
	for i, r := range res {
		if reqs[i].Node == "b@mem" {
			if r.Err != nil || r.Value != "b@mem" {
				t.Fatalf("b: %v %v", r.Value, r.Err)
			}
			continue
		}
		switch {
		case errors.Is(r.Err, ErrOpen):
			open++
		case errors.Is(r.Err, proc.ErrNoConnection):
			failed++
		default:
			t.Fatalf("gone: %v", r.Err)
		}
	}
	if failed != 3 || open != 7 {
		t.Fatalf("%d failed and %d failed fast, want 3 and 7", failed, open)
	}

	// Retried calls: each unreachable item is tried MaxAttempts times.
	calls, _ := BulkCall(ctxFor(t, 30*time.Second), a, []CallRequest{
		{To: proc.NodeName{Node: "gone@mem", Name: "svc"}, Req: 1},
		{To: proc.NodeName{Node: "b@mem", Name: "nobody"}, Req: 2},
	}, BulkConfig{Retry: &RetryPolicy{MaxAttempts: 3, Initial: time.Millisecond}})
	var re *RetryError
	if !errors.As(calls[0].Err, &re) || re.Attempts != 3 || !errors.Is(calls[0].Err, proc.ErrNoConnection) {
		t.Fatalf("unreachable: %v", calls[0].Err)
	}
	if !errors.As(calls[1].Err, &re) || re.Attempts != 1 || !errors.Is(calls[1].Err, proc.ErrNotRegistered) {
		t.Fatalf("not registered: %v", calls[1].Err)
	}
}

func TestBulkConfigValidate(t *testing.T) {
	nodes, _ := cluster(t, "a")
	for _, cfg := range []BulkConfig{{Concurrency: -1}, {PerNode: -1}, {Retry: &RetryPolicy{MaxAttempts: -1}}} {
		if _, err := BulkRPC(context.Background(), nodes[0], nil, cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	res, err := BulkRPC(context.Background(), nodes[0], nil, BulkConfig{})
	if err != nil || len(res) != 0 {
		t.Fatalf("%v %v", res, err)
	}
}

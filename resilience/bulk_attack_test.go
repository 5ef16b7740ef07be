package resilience

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

// A node dies in the middle of a batch, with calls to it in flight and
// more waiting: those in flight fail at once with a lost connection (not
// at the context's end), those not started fail fast behind its breaker
// once it opened, the freed slots go to the other node, and every item
// has exactly one result.
func TestBulkRPCNodeDiesMidBatch(t *testing.T) {
	nodes, _ := cluster(t, "a", "b", "c")
	g := newGauge()
	held(nodes[1:], g)
	nb, err := NewNodeBreakers(nodes[0], NodeBreakersConfig{Breaker: BreakerConfig{ConsecutiveFailures: 2, OpenTimeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	var reqs []RPCRequest
	for i := range 40 {
		reqs = append(reqs, RPCRequest{Node: []string{"b@mem", "c@mem"}[i%2], Function: "held", Arg: i})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan []Result, 1)
	start := time.Now()
	go func() {
		res, err := BulkRPC(ctx, nodes[0], reqs, BulkConfig{Concurrency: 6, PerNode: 3, Breakers: nb})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, per := g.snapshot(); per["c@mem"] != 3 || per["b@mem"] != 3 {
			return fmt.Errorf("in flight %v", per)
		}
		return nil
	})
	// c dies with three calls in flight.
	nodes[2].Close()
	ctxClose, cancelClose := context.WithTimeout(context.Background(), 5*time.Second)
	nodes[2].Runtime().Close(ctxClose)
	cancelClose()
	// b answers everything.
	go func() {
		for {
			select {
			case g.release <- struct{}{}:
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	var res []Result
	select {
	case res = <-done:
		done <- res // for the releaser
	case <-time.After(30 * time.Second):
		t.Fatal("BulkRPC still runs 30 s after a node died")
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Fatalf("BulkRPC took %v", el)
	}
	var lost, open, ok int
	for i, r := range res {
		switch {
		case reqs[i].Node == "b@mem":
			if want := fmt.Sprintf("b@mem:%d", i); r.Err != nil || r.Value != want {
				t.Fatalf("item %d: %v %v", i, r.Value, r.Err)
			}
			ok++
		case errors.Is(r.Err, ErrOpen):
			open++
		case errors.Is(r.Err, proc.ErrNoConnection):
			lost++
		default:
			t.Fatalf("item %d for the dead node: %v %v", i, r.Value, r.Err)
		}
	}
	if ok != 20 || lost+open != 20 || lost < 2 || open == 0 {
		t.Fatalf("%d ok, %d lost, %d failed fast", ok, lost, open)
	}
	if st := nb.Stats()["c@mem"]; st.State != Open {
		t.Fatalf("c's breaker %+v", st)
	}
}

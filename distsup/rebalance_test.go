package distsup

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

// TestRebalanceIsRateLimitedAndGraceful: after a node joins, rebalancing
// moves children to it until every node runs the mean, no more than
// PerRound per node per Interval, each with its state (a handoff, not a
// restart), without passing children back and forth; every child still
// runs once, none is lost.
func TestRebalanceIsRateLimitedAndGraceful(t *testing.T) {
	const (
		interval = 300 * time.Millisecond
		perRound = 2
		children = 30
	)
	tr := newTracker()
	h, ss := startSups(t, 2, Config{Rebalance: Rebalance{Interval: interval, PerRound: perRound}}, tr, nil)
	ms := h.Running()
	waitSupsComplete(t, h, ss)
	ctx := ctxT(t, 90*time.Second)
	var ids []string
	for i := range children {
		id := fmt.Sprint("r", i)
		ids = append(ids, id)
		if _, err := ss.get(ms[i%2].Name).StartChild(ctx, ChildSpec{ID: id, Kind: "worker"}); err != nil {
			t.Fatal(err)
		}
		// A state to carry: child i has counted i+1 bumps.
		for range i + 1 {
			if _, err := proc.Call[int](ctx, ms[0].Runtime, ss.get(ms[0].Name).Via(id), bump{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	handedOff := func() int {
		n := 0
		for _, m := range h.Running() {
			n += int(ss.get(m.Name).Stats().HandedOff.Load())
		}
		return n
	}
	// The two nodes even out first (rebalancing also evens the spread
	// the placement's bound allows), then stay put.
	testutil.Eventually(t, 30*time.Second, func() error {
		if n := ss.get(ms[0].Name).CountChildren().Nodes; n[ms[0].Name] != 15 || n[ms[1].Name] != 15 {
			return fmt.Errorf("loads %v", n)
		}
		return nil
	})
	// The move that completed the balance may still be finishing: then
	// nothing more moves.
	var base int
	testutil.Eventually(t, 10*time.Second, func() error {
		base = handedOff()
		time.Sleep(3 * interval)
		if n := handedOff(); n != base {
			return fmt.Errorf("%d moves between balanced nodes", n-base)
		}
		return nil
	})
	joined := time.Now()
	j := h.Add()
	// Sample the moves while they happen: each of the three nodes runs at
	// most one round per interval (and one already due when the node
	// joined), each round at most perRound moves.
	var (
		mu       sync.Mutex
		violated string
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			el := time.Since(joined)
			n := handedOff() - base
			if limit := 3 * perRound * (int(el/interval) + 2); n > limit {
				mu.Lock()
				violated = fmt.Sprintf("%d moves %v after the join, at most %d allowed", n, el, limit)
				mu.Unlock()
			}
		}
	})
	waitSupsComplete(t, h, ss)
	// Rebalancing ends with every node at the mean (ceil(30/3) = 10).
	testutil.Eventually(t, 60*time.Second, func() error {
		for _, id := range ids {
			if _, ok := ss.get(j.Name).WhereIs(id); !ok {
				return fmt.Errorf("%s not visible on the new node: %s", id, debugChild(h, ss, tr, id))
			}
		}
		for _, m := range h.Running() {
			if n := ss.get(m.Name).CountChildren().Nodes; n[j.Name] != 10 || n[ms[0].Name] != 10 || n[ms[1].Name] != 10 {
				return fmt.Errorf("%s sees loads %v", m.Name, n)
			}
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if violated != "" {
		t.Fatal(violated)
	}
	// Moves only narrow the spread: ten are needed, a few more may pass
	// a child on when two nodes filled the joiner at once, none cycle.
	if moved := handedOff() - base; moved > 20 {
		t.Fatalf("%d handoffs to balance 30 children over 3 nodes, want at most 20", moved)
	}
	testutil.Eventually(t, 20*time.Second, func() error { return exactlyOnce(h, ss, tr, ids) })
	// Each moved child kept its count: a handoff, not a restart.
	for i, id := range ids {
		n, err := proc.Call[int](ctx, j.Runtime, ss.get(j.Name).Via(id), getN{})
		if err != nil || n != i+1 {
			t.Fatalf("%s counts %d after the rebalance (%v), want %d", id, n, err, i+1)
		}
	}
	// Every handoff made was received (a move counts on both ends once
	// it is through).
	testutil.Eventually(t, 20*time.Second, func() error {
		received, made := 0, handedOff()
		for _, m := range h.Running() {
			received += int(ss.get(m.Name).Stats().Received.Load())
		}
		if received != made {
			return fmt.Errorf("%d handoffs received, %d made", received, made)
		}
		return nil
	})
	t.Logf("%d handoffs", handedOff())
}

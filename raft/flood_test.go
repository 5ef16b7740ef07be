package raft

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFloodStaysBounded floods one group with pipelined commands from many
// goroutines, faster than the engine can propose and write them. The host
// must refuse what does not fit (ErrOverloaded: not proposed) rather than
// queue without bound, keep applying, and keep answering other calls.
func TestFloodStaysBounded(t *testing.T) {
	tc := newTestCluster(t, 1, 22, Config{MaxPendingCommands: 512})
	name := tc.fk.Names()[0]
	c := tc.startGroup("g", []string{name})[name]
	tc.leader("g", []string{name})
	h := tc.host(name)
	g := h.Group("g")
	var accepted, answered, refused atomic.Int64
	var unexpected atomic.Pointer[error]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := g.Pipeline(addCmd(1), uint64(w)<<32|uint64(i), 5*time.Second, func(p Pipelined) { answered.Add(1) })
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, ErrOverloaded):
					refused.Add(1)
					runtime.Gosched()
				default:
					unexpected.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	var peak int64
	end := time.Now().Add(3 * time.Second)
	for time.Now().Before(end) {
		// The engine's own count: a command's room is returned before its
		// answer runs, so accepted minus answered may briefly exceed it.
		if inflight, _ := h.admit.inUse(); inflight > peak {
			peak = inflight
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t0 := time.Now()
		_, err := g.LocalQuery(ctx, func(Machine) (any, error) { return nil, nil })
		cancel()
		if err != nil {
			t.Fatalf("the engine does not answer a query during the flood: %v (after %v, %d applied)", err, time.Since(t0), c.value())
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if e := unexpected.Load(); e != nil {
		t.Fatalf("pipeline: %v", *e)
	}
	if c.value() < 1000 {
		t.Fatalf("%d commands applied in 3 s of flood", c.value())
	}
	if refused.Load() == 0 {
		t.Fatalf("no command refused: the flood was not faster than the engine (%d accepted)", accepted.Load())
	}
	if peak > 512 {
		t.Fatalf("%d commands in flight, bound 512", peak)
	}
	// A command that waits for room gets in once the flood is over.
	if _, err := tc.command(name, "g", addCmd(1)); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d accepted, %d refused, %d applied, peak %d in flight", accepted.Load(), refused.Load(), c.value(), peak)
	_ = fmt.Sprint
}

package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

// MultiCall and ABCast from many goroutines while the node closes: every
// goroutine they start is one Close waits for (the race detector checks
// that none is added once Close waits), and after Close they report
// ErrClosed or a lost connection, never hang.
func TestMultiCallAndABCastRaceClose(t *testing.T) {
	for round := range 4 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			nw := newNet(t)
			var nodes [3]*testNode
			for i, name := range []string{"a", "b", "c"} {
				nodes[i] = startNode(t, name+"@mem", nw.Endpoint(name), name+":1", nil)
				spawn(t, nodes[i].rt, echo{}, proc.WithName("svc"))
			}
			a := nodes[0].n
			for _, o := range nodes[1:] {
				if err := a.Connect(context.Background(), o.n.Name(), o.n.Addr()); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			start := make(chan struct{})
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for i := 0; ; i++ {
						var closed bool
						if (g+i)%2 == 0 {
							r := a.MultiCall(ctx, []string{"b@mem", "c@mem", "a@mem"}, "svc", "x")
							for _, b := range r.Bad {
								closed = closed || errors.Is(b.Err, ErrClosed)
							}
						} else {
							for _, b := range a.ABCast(ctx, []string{"b@mem", "c@mem"}, "svc", "x") {
								closed = closed || errors.Is(b.Err, ErrClosed)
							}
						}
						if closed || ctx.Err() != nil {
							return
						}
					}
				}()
			}
			close(start)
			time.Sleep(time.Duration(round) * 5 * time.Millisecond) // let the callers get going
			a.Close()
			wg.Wait()
			if ctx.Err() != nil {
				t.Fatal("callers did not see the node close")
			}
		})
	}
}

// A flood of ABCasts to a process that does not take them yet is held
// back by the receiver's flow control like any cast: the receiver's queued
// bytes stay near its MaxRemoteQueued instead of growing with the flood
// (16 MiB),
// and once the process runs every cast reported sent arrives.
func TestABCastIsHeldBackByFlowControl(t *testing.T) {
	const (
		count   = 16000
		size    = 1 << 10
		ceiling = 64 << 10
		// slack is what may be in flight on the link and its buffers
		// before the pause reaches the sender: far less than the flood.
		slack = 6 << 20
	)
	nw := newNet(t)
	b := startNode(t, "b@mem", nw.Endpoint("b"), "b:1", func(c *Config) { c.MaxRemoteQueued = ceiling })
	a := startNode(t, "a@mem", nw.Endpoint("a"), "a:1", nil)
	if err := a.n.Connect(context.Background(), b.n.Name(), b.n.Addr()); err != nil {
		t.Fatal(err)
	}
	g := &gated{gate: make(chan struct{})}
	spawn(t, b.rt, g, proc.WithName("sink"))
	stopQueued := peakSampler(b.n.RemoteQueued)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var sent, unsent int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := make([]byte, size)
			for range count / 4 {
				bad := a.n.ABCast(ctx, []string{"b@mem"}, "sink", msg)
				mu.Lock()
				if len(bad) == 0 {
					sent++
				} else {
					unsent++
				}
				mu.Unlock()
			}
		}()
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if a.n.Stats().SendsHeld.Load() == 0 {
			return fmt.Errorf("no cast held back; the receiver queues %d bytes", b.n.RemoteQueued())
		}
		return nil
	})
	if q := b.n.RemoteQueued(); q > ceiling+slack {
		t.Fatalf("the receiver queues %d KiB with a ceiling of %d KiB", q>>10, ceiling>>10)
	}
	close(g.gate)
	wg.Wait()
	peak := stopQueued()
	t.Logf("the receiver's queue peaked at %d KiB; %d casts held back", peak>>10, a.n.Stats().SendsHeld.Load())
	if peak > ceiling+slack {
		t.Fatalf("the receiver's queue peaked at %d KiB with a ceiling of %d KiB", peak>>10, ceiling>>10)
	}
	if unsent != 0 {
		t.Fatalf("%d casts unsent", unsent)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if got := g.n.Load(); got != sent {
			return fmt.Errorf("%d of %d casts handled (%d dropped by the peer)", got, sent, a.n.Stats().DroppedByPeer.Load())
		}
		return nil
	})
}

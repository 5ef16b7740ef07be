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

// Cast to the local node and Multicall from many goroutines while the node
// closes: every goroutine they start is one Close waits for (the race
// detector flags a goroutine added once Close waits), and after Close they
// report ErrClosed, never hang.
func TestCastAndMulticallRaceClose(t *testing.T) {
	for round := range 4 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			nw := newNet(t)
			a := startNode(t, "a@mem", nw.Endpoint("a"), "a:1", nil)
			b := startNode(t, "b@mem", nw.Endpoint("b"), "b:1", nil)
			for _, tn := range []*testNode{a, b} {
				if err := tn.n.Register("id", func(_ context.Context, arg any) (any, error) { return arg, nil }); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.n.Connect(context.Background(), "b@mem", b.n.Addr()); err != nil {
				t.Fatal(err)
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
					for i := 0; ctx.Err() == nil; i++ {
						if (g+i)%2 == 0 {
							if err := a.n.Cast("a@mem", "id", i); err != nil {
								if !errors.Is(err, ErrClosed) {
									t.Errorf("Cast after close: %v", err)
								}
								return
							}
							continue
						}
						closed := false
						for _, r := range a.n.Multicall(ctx, []string{"a@mem", "b@mem"}, "id", i) {
							closed = closed || errors.Is(r.Err, ErrClosed) || errors.Is(r.Err, proc.ErrNoConnection)
						}
						if closed {
							return
						}
					}
				}()
			}
			close(start)
			time.Sleep(time.Duration(round) * 5 * time.Millisecond) // let the callers get going
			a.n.Close()
			wg.Wait()
			if ctx.Err() != nil {
				t.Fatal("callers did not see the node close")
			}
		})
	}
}

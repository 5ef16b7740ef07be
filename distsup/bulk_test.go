package distsup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/clustertest"
	"github.com/grovedev/grove/internal/testutil"
)

// TestBulkJoinAndLeave: fifteen nodes join a five-node cluster at once,
// then ten leave at once (draining), while starts keep coming; no start
// times out, and every acknowledged child runs exactly once at the end.
func TestBulkJoinAndLeave(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("twenty nodes on real-time failure detection")
	}
	tr := newTracker()
	h, ss := startSups(t, 5, Config{Interval: 100 * time.Millisecond}, tr, func(c *clustertest.Config) { c.Tolerant = true })
	waitSupsComplete(t, h, ss)
	var (
		mu    sync.Mutex
		acked []string
		fails []error
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	initial := h.Running()
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m := initial[(i+w)%len(initial)]
				id := fmt.Sprintf("b%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := ss.get(m.Name).StartChild(ctx, ChildSpec{ID: id, Kind: "worker"})
				cancel()
				mu.Lock()
				if err == nil {
					acked = append(acked, id)
				} else {
					fails = append(fails, fmt.Errorf("%s from %s: %w", id, m.Name, err))
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	// More starts acknowledged than n, within a minute.
	atLeast := func(n int) {
		t.Helper()
		testutil.Eventually(t, 60*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(acked) < n {
				return fmt.Errorf("%d starts acknowledged", len(acked))
			}
			return nil
		})
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	atLeast(10)
	var joined []*clustertest.Member
	var jmu sync.Mutex
	var jwg sync.WaitGroup
	for range 15 {
		jwg.Go(func() {
			m := h.Add()
			jmu.Lock()
			joined = append(joined, m)
			jmu.Unlock()
		})
	}
	jwg.Wait()
	h.WaitConverged(120 * time.Second)
	atLeast(count() + 20)
	var lwg sync.WaitGroup
	leaveErrs := make(chan error, 10)
	for _, m := range joined[:10] {
		lwg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := h.Stop(ctx, m.Index); err != nil {
				leaveErrs <- fmt.Errorf("%s: %w", m.Name, err)
			}
		})
	}
	lwg.Wait()
	atLeast(count() + 20)
	close(stop)
	wg.Wait()
	close(leaveErrs)
	for err := range leaveErrs {
		t.Errorf("leave: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, err := range fails {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("start timed out: %v", err)
		} else {
			t.Logf("start failed: %v", err)
		}
	}
	// Acknowledged starts run once; a start that failed may run, but at
	// most once.
	testutil.Eventually(t, 60*time.Second, func() error {
		for _, id := range acked {
			if n := tr.count(id); n != 1 {
				return fmt.Errorf("acknowledged %s runs %d times", id, n)
			}
		}
		for id, n := range tr.running() {
			if n != 1 {
				return fmt.Errorf("%s runs %d times", id, n)
			}
		}
		return nil
	})
	t.Logf("%d starts acknowledged, %d failed, 20 nodes joined and 10 left", len(acked), len(fails))
}

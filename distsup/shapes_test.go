package distsup

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/internal/clustertest"
	"github.com/grovedev/grove/internal/testutil"
)

// TestEveryPartitionShape starts children from every node while each
// partition shape of the fault kit in turn holds long enough for
// membership to declare the other side dead (each side then restarts the
// other's children); after each heal every acknowledged start runs
// exactly once, nothing runs twice, and every node resolves every child
// to its one live process.
func TestEveryPartitionShape(t *testing.T) {
	if testing.Short() {
		t.Skip("fault scenario")
	}
	tr := newTracker()
	h, ss := startSups(t, 5, Config{}, tr, func(c *clustertest.Config) { c.Seed = 12 })
	waitSupsComplete(t, h, ss)
	hosts := h.Hosts()
	r := rand.New(rand.NewPCG(12, 12))
	shapes := []faultkit.Partition{
		faultkit.Halves(hosts),
		faultkit.RandomHalves(r, hosts),
		faultkit.Isolate(hosts, hosts[2]),
		faultkit.MajoritiesRing(hosts),
		faultkit.Bridge(hosts),
		faultkit.OneWay(hosts[0], hosts[1]),
	}
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		next  int
	)
	for _, p := range shapes {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ms := h.Running()
				mu.Lock()
				id := fmt.Sprint("x", next)
				next++
				m := ms[next%len(ms)]
				mu.Unlock()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := ss.get(m.Name).StartChild(ctx, ChildSpec{ID: id, Kind: "worker"})
				cancel()
				if err == nil || errors.Is(err, ErrAlreadyStarted) {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
		h.Network().Partition(p)
		time.Sleep(1500 * time.Millisecond) // the fault's hold, not a wait for a result
		h.Heal()
		close(stop)
		wg.Wait()
		h.WaitConverged(60 * time.Second)
		mu.Lock()
		ids := make([]string, 0, len(acked))
		for id := range acked {
			ids = append(ids, id)
		}
		mu.Unlock()
		testutil.Eventually(t, 60*time.Second, func() error {
			for _, id := range ids {
				if n := tr.count(id); n != 1 {
					return fmt.Errorf("acknowledged %s runs %d times: %s", id, n, debugChild(h, ss, tr, id))
				}
			}
			running := tr.running()
			for id, n := range running {
				if n != 1 {
					return fmt.Errorf("%s runs %d times", id, n)
				}
			}
			for _, m := range h.Running() {
				for id := range running {
					pid, ok := ss.get(m.Name).WhereIs(id)
					tr.mu.Lock()
					live := tr.live[id][pid]
					tr.mu.Unlock()
					if !ok || !live {
						return fmt.Errorf("%s resolves %s to %v (found %v), not its live process", m.Name, id, pid, ok)
					}
				}
			}
			return nil
		})
		t.Logf("%s: %d acknowledged children run once each", p, len(ids))
	}
	var dups uint64
	for _, m := range h.Running() {
		dups += ss.get(m.Name).Stats().Duplicates.Load()
	}
	if dups == 0 {
		t.Fatal("no duplicate arose: no side restarted the other's children")
	}
	t.Logf("%d duplicates stopped after the heals", dups)
}

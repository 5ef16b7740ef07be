package distsup

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/internal/clustertest"
	"github.com/grovedev/grove/internal/testutil"
)

// scenarioSeeds are replayed by the default run; GROVE_DISTSUP_SEEDS=N
// adds N fresh ones, GROVE_SEED replays one.
var scenarioSeeds = []uint64{1, 2}

// scenarioDuration is how long a schedule of faults runs: 4 s by default,
// 10 s when GROVE_DISTSUP_SEEDS asks for a sweep.
var scenarioDuration = func() time.Duration {
	if os.Getenv("GROVE_DISTSUP_SEEDS") != "" {
		return 10 * time.Second
	}
	return 4 * time.Second
}()

func seeds(t *testing.T) []uint64 {
	if s := os.Getenv(faultkit.SeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return []uint64{v}
	}
	out := append([]uint64(nil), scenarioSeeds...)
	if n, _ := strconv.Atoi(os.Getenv("GROVE_DISTSUP_SEEDS")); n > 0 {
		base := uint64(time.Now().UnixNano())
		for i := range n {
			out = append(out, base+uint64(i))
		}
	}
	return out
}

// TestPartitionDuplicatesSettle: both sides of a partition restart the
// other side's children; after the heal each runs exactly once.
func TestPartitionDuplicatesSettle(t *testing.T) {
	tr := newTracker()
	h, ss := startSups(t, 3, Config{}, tr, nil)
	ms := h.Running()
	waitSupsComplete(t, h, ss)
	ctx := ctxT(t, 60*time.Second)
	var ids []string
	for i := range 30 {
		id := fmt.Sprint("p", i)
		ids = append(ids, id)
		if _, err := ss.get(ms[0].Name).StartChild(ctx, ChildSpec{ID: id, Kind: "worker"}); err != nil {
			t.Fatal(err)
		}
	}
	h.Partition([]int{0, 1}, []int{2})
	h.WaitState(30*time.Second, ms[:2], 2, cluster.StateDead)
	h.WaitState(30*time.Second, ms[2:], 0, cluster.StateDead)
	// Each side runs every child.
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, id := range ids {
			if n := tr.count(id); n != 2 {
				return fmt.Errorf("%s runs %d times during the partition", id, n)
			}
		}
		return nil
	})
	h.Heal()
	testutil.Eventually(t, 60*time.Second, func() error { return exactlyOnce(h, ss, tr, ids) })
}

// TestScenarioExactlyOnceAfterHeal starts children from random nodes
// under a seeded schedule of partitions (every shape), pauses, resets and
// kills with restarts; after the heal every acknowledged start runs
// exactly once, and nothing else runs.
func TestScenarioExactlyOnceAfterHeal(t *testing.T) {
	if testing.Short() {
		t.Skip("fault scenario")
	}
	for _, seed := range seeds(t) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Logf("replay with %s=%d", faultkit.SeedEnv, seed)
			tr := newTracker()
			h, ss := startSups(t, 5, Config{}, tr, func(c *clustertest.Config) { c.Seed = seed })
			waitSupsComplete(t, h, ss)
			steps := faultkit.Schedule(faultkit.NemesisConfig{
				Seed: seed, Nodes: h.Hosts(), Duration: scenarioDuration, Hold: 3 * time.Second, Quiet: 300 * time.Millisecond,
				Faults: []faultkit.Fault{faultkit.FaultPartition, faultkit.FaultPartition, faultkit.FaultPause, faultkit.FaultReset, faultkit.FaultKill},
			})
			var (
				mu    sync.Mutex
				acked = map[string]bool{}
				stop  = make(chan struct{})
				wg    sync.WaitGroup
			)
			wg.Go(func() {
				r := rand.New(rand.NewPCG(seed, 7))
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					ms := h.Running()
					if len(ms) == 0 {
						continue
					}
					m := ms[r.IntN(len(ms))]
					id := fmt.Sprint("s", i)
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
			h.RunSchedule(context.Background(), steps, t.Logf)
			close(stop)
			wg.Wait()
			for i := range 5 {
				if h.Member(i) == nil {
					h.Restart(i)
				}
			}
			h.WaitConverged(60 * time.Second)
			mu.Lock()
			var ids []string
			for id := range acked {
				ids = append(ids, id)
			}
			mu.Unlock()
			// A start that was not acknowledged may or may not run; the
			// acknowledged ones must, once each.
			testutil.Eventually(t, 90*time.Second, func() error {
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
				// Every node resolves every running child to its one live
				// process.
				for _, m := range h.Running() {
					s := ss.get(m.Name)
					for id := range running {
						pid, ok := s.WhereIs(id)
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
			var dups uint64
			for _, m := range h.Running() {
				dups += ss.get(m.Name).Stats().Duplicates.Load()
			}
			t.Logf("%d acknowledged starts, %d duplicates stopped", len(ids), dups)
		})
	}
}

func debugChild(h *clustertest.Harness, ss *sups, tr *tracker, id string) string {
	tr.mu.Lock()
	out := fmt.Sprintf("live %v;", tr.live[id])
	tr.mu.Unlock()
	for _, m := range h.Running() {
		s := ss.get(m.Name)
		out += fmt.Sprintf(" %s: contenders %v complete %v;", m.Name, s.m.Contenders(id), s.m.Complete())
	}
	return out
}

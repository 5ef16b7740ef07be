package names

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/internal/clustertest"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

// scenarioSeeds are the seeds the default run replays; GROVE_NAMES_SEEDS=N
// adds N fresh ones (logged), GROVE_SEED replays one.
var scenarioSeeds = []uint64{1, 2}

// scenarioDuration is how long a schedule of faults runs: 4 s by default,
// 10 s when GROVE_NAMES_SEEDS asks for a sweep.
var scenarioDuration = func() time.Duration {
	if os.Getenv("GROVE_NAMES_SEEDS") != "" {
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
	if n, _ := strconv.Atoi(os.Getenv("GROVE_NAMES_SEEDS")); n > 0 {
		base := uint64(time.Now().UnixNano())
		for i := range n {
			out = append(out, base+uint64(i))
		}
	}
	return out
}

// TestScenarioOneHolderAfterHeal runs registrations, exits and
// unregistrations on five nodes under a seeded schedule of every partition
// shape, pauses, connection resets and kills with restarts; after the heal
// every key maps, on every node, to exactly one live process — and no
// other live process still holds it.
func TestScenarioOneHolderAfterHeal(t *testing.T) {
	if testing.Short() {
		t.Skip("fault scenario")
	}
	for _, seed := range seeds(t) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Logf("replay with %s=%d", faultkit.SeedEnv, seed)
			runNamesScenario(t, seed)
		})
	}
}

func runNamesScenario(t *testing.T, seed uint64) {
	h, rs := startNames(t, 5, Config{}, func(c *clustertest.Config) { c.Seed = seed })
	steps := faultkit.Schedule(faultkit.NemesisConfig{
		Seed: seed, Nodes: h.Hosts(), Duration: scenarioDuration, Hold: 3 * time.Second, Quiet: 300 * time.Millisecond,
		Faults: []faultkit.Fault{faultkit.FaultPartition, faultkit.FaultPartition, faultkit.FaultPause, faultkit.FaultReset, faultkit.FaultKill},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { namesWorkload(h, rs, seed, stop) })
	h.RunSchedule(ctx, steps, t.Logf)
	close(stop)
	wg.Wait()
	// Restart whatever the schedule left dead, then wait for the verdict.
	for i := range 5 {
		if h.Member(i) == nil {
			h.Restart(i)
		}
	}
	h.WaitConverged(60 * time.Second)
	testutil.Eventually(t, 60*time.Second, func() error { return oneHolderEach(h, rs) })
	var lost uint64
	for _, m := range h.Running() {
		lost += rs.get(m.Name).Stats().ConflictsLost
	}
	t.Logf("conflicts settled on the running nodes: %d", lost)
}

// namesWorkload registers keys of a small pool from random nodes, and
// ends or unregisters some holders, until stop.
func namesWorkload(h *clustertest.Harness, rs *regs, seed uint64, stop chan struct{}) {
	r := rand.New(rand.NewPCG(seed, 42))
	var mine []proc.PID
	for {
		select {
		case <-stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
		ms := h.Running()
		if len(ms) == 0 {
			continue
		}
		m := ms[r.IntN(len(ms))]
		reg := rs.get(m.Name)
		switch r.IntN(4) {
		case 0, 1:
			pid, err := m.Runtime.Spawn(echo{})
			if err != nil {
				continue
			}
			_ = reg.Register(pid, fmt.Sprint("key", r.IntN(20)), nil)
			mine = append(mine, pid)
		case 2:
			if len(mine) > 0 {
				pid := mine[r.IntN(len(mine))]
				if o := h.Member(indexOf(pid.Node)); o != nil {
					o.Runtime.Exit(pid, proc.ErrKill)
				}
			}
		case 3:
			if len(mine) > 0 {
				pid := mine[r.IntN(len(mine))]
				if o := h.Member(indexOf(pid.Node)); o != nil {
					rs.get(o.Name).Unregister(pid, fmt.Sprint("key", r.IntN(20)))
				}
			}
		}
	}
}

func indexOf(node string) int {
	var i int
	fmt.Sscanf(node, "n%d@", &i)
	return i
}

// oneHolderEach checks the invariant: for every key, the live processes
// whose own node holds an entry for it number at most one, and every node
// shows exactly that one.
func oneHolderEach(h *clustertest.Harness, rs *regs) error {
	ms := h.Running()
	holders := map[string]map[proc.PID]bool{}
	for _, m := range ms {
		for _, e := range rs.get(m.Name).m.Own() {
			if m.Runtime.Alive(e.PID) {
				if holders[e.Key] == nil {
					holders[e.Key] = map[proc.PID]bool{}
				}
				holders[e.Key][e.PID] = true
			}
		}
	}
	for k, hs := range holders {
		if len(hs) > 1 {
			return fmt.Errorf("key %s held by %d live processes: %v", k, len(hs), hs)
		}
	}
	for _, m := range ms {
		reg := rs.get(m.Name)
		if !reg.Complete() {
			return fmt.Errorf("%s not complete", m.Name)
		}
		seen := map[string]bool{}
		for _, e := range reg.Select(func(Entry) bool { return true }) {
			seen[e.Key] = true
			if !holders[e.Key][e.PID] {
				return fmt.Errorf("%s shows %s held by %v, live holders %v", m.Name, e.Key, e.PID, holders[e.Key])
			}
		}
		for k := range holders {
			if !seen[k] {
				return fmt.Errorf("%s does not show %s (held by %v)", m.Name, k, holders[k])
			}
		}
	}
	return nil
}

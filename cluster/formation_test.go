package cluster

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/node"
)

// TestFormationWithDefaults starts five members, each joining through the
// first, one after the other or four at once, with the library's default
// configuration (DefaultLANConfig: push-pull every 30 s, gossip every
// 200 ms; node defaults), and requires every member to see all five alive
// within 2 s of the first start. GROVE_FORMATION_TRIALS sets the number of
// trials (default 4).
func TestFormationWithDefaults(t *testing.T) {
	trials := 4
	if v, err := strconv.Atoi(os.Getenv("GROVE_FORMATION_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	var worst time.Duration
	for trial := range trials {
		h := newHarness(t, func(int) Config { return Config{} }) // zero: DefaultLANConfig
		h.nodeMod = func(c *node.Config) {
			c.Heartbeat, c.HeartbeatTimeout, c.ConnectTimeout, c.ReconnectMin, c.ReconnectMax = 0, 0, 0, 0, 0
		}
		base := 100 * trial
		started := time.Now()
		ms := []*tmember{h.start(base)}
		if trial%2 == 0 {
			for i := 1; i < 5; i++ {
				ms = append(ms, h.start(base+i, base))
			}
		} else {
			// All four at once: each may miss the others in its first
			// exchange with the seed.
			var mu sync.Mutex
			var wg sync.WaitGroup
			for i := 1; i < 5; i++ {
				wg.Go(func() {
					m := h.start(base+i, base)
					mu.Lock()
					ms = append(ms, m)
					mu.Unlock()
				})
			}
			wg.Wait()
		}
		var want []int
		for i := range 5 {
			want = append(want, base+i)
		}
		deadline := 2 * time.Second
		if testing.Short() || raceEnabled {
			deadline = 4 * time.Second // the same bound, with room for the race detector's slowdown
		}
		testutil.Eventually(t, deadline, func() error {
			for _, m := range ms {
				got := states(m.c)
				for _, i := range want {
					if got[name(i)] != StateAlive {
						return fmt.Errorf("trial %d: %s sees %v", trial, m.c.Name(), got)
					}
				}
			}
			return nil
		})
		took := time.Since(started)
		worst = max(worst, took)
		t.Logf("trial %d: five members formed in %v", trial, took.Round(time.Millisecond))
		for _, m := range ms {
			m.stop()
		}
	}
	t.Logf("worst of %d trials: %v", trials, worst.Round(time.Millisecond))
}

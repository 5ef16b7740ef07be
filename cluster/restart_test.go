package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/node"
)

// TestSeedRestartMergesAtOnce: the seed of four members is killed and
// started again as the first node is, without seeds, under the default
// configuration (a state exchange only every 30 s). The links its peers
// redial bring it the cluster at once; meanwhile it never claims a quorum
// it does not have, and its peers never show its old life alive.
func TestSeedRestartMergesAtOnce(t *testing.T) {
	h := newHarness(t, func(int) Config { return Config{} })
	h.nodeMod = func(c *node.Config) {
		c.Heartbeat, c.HeartbeatTimeout, c.ConnectTimeout, c.ReconnectMin, c.ReconnectMax = 0, 0, 0, 0, 0
	}
	ms := startCluster(t, h, 4)
	waitStates(t, 10*time.Second, ms, allAlive(0, 1, 2, 3))
	old, _ := ms[1].c.Member(name(0))
	recs := make([]*recorder, 4)
	for i := 1; i < 4; i++ {
		recs[i] = &recorder{}
		defer ms[i].c.Subscribe(recs[i].add)()
	}

	h.kill(0)
	restarted := time.Now()
	seed := h.start(0) // the same command: no seeds
	peers := ms[1:]
	var merged time.Duration
	heard := false
	testutil.Eventually(t, 5*time.Second, func() error {
		// Alone and linked to nobody, it is a cluster of one; once it has
		// heard of others, never a quorum over members not heard from.
		seed.c.mu.Lock()
		r, k := seed.c.mu.t.counts()
		listed := len(seed.c.mu.t.list())
		seed.c.mu.Unlock()
		heard = heard || k > 1
		if heard && hasQuorum(r, k) && r < 3 {
			t.Fatalf("the restarted seed claims a quorum with %d reachable of %d counted (%d listed)", r, k, listed)
		}
		if got := states(seed.c); len(got) != 4 || got[name(1)] != StateAlive || got[name(2)] != StateAlive || got[name(3)] != StateAlive {
			return fmt.Errorf("the restarted seed sees %v", got)
		}
		for _, p := range peers {
			if m, _ := p.c.Member(name(0)); m.State != StateAlive || m.Creation <= old.Creation {
				return fmt.Errorf("%s sees the seed %v, creation %d (old %d)", p.c.Name(), m.State, m.Creation, old.Creation)
			}
		}
		if merged == 0 {
			merged = time.Since(restarted)
		}
		return nil
	})
	t.Logf("the restarted seed and its peers agree %v after the restart", merged.Round(time.Millisecond))
	if merged > 2*time.Second {
		t.Fatalf("merging took %v", merged)
	}
	if !seed.c.HasQuorum() {
		t.Fatal("no quorum once merged")
	}
	// The peers never showed the old life alive after it died.
	for i := 1; i < 4; i++ {
		recs[i].mu.Lock()
		for _, e := range recs[i].evs {
			if e.Member.Name == name(0) && e.Member.Creation == old.Creation && e.Member.State == StateAlive {
				t.Errorf("%s announced the old life alive: %v", ms[i].c.Name(), e.Kind)
			}
		}
		recs[i].mu.Unlock()
	}
}

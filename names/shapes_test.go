package names

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/internal/clustertest"
	"github.com/grovedev/grove/internal/testutil"
)

// partitionShapes are every shape of the fault kit's partitions over
// hosts (five of them), random halves drawn with seed.
func partitionShapes(hosts []string, seed uint64) []faultkit.Partition {
	r := rand.New(rand.NewPCG(seed, seed))
	return []faultkit.Partition{
		faultkit.Halves(hosts),
		faultkit.RandomHalves(r, hosts),
		faultkit.Isolate(hosts, hosts[2]),
		faultkit.MajoritiesRing(hosts),
		faultkit.Bridge(hosts),
		faultkit.OneWay(hosts[0], hosts[1]),
	}
}

// TestEveryPartitionShape registers, ends and unregisters names from
// every node while each partition shape in turn holds long enough for
// membership to declare the other side dead; after each heal every key
// maps, on every node, to exactly one live process.
func TestEveryPartitionShape(t *testing.T) {
	if testing.Short() {
		t.Skip("fault scenario")
	}
	h, rs := startNames(t, 5, Config{}, func(c *clustertest.Config) { c.Seed = 12 })
	waitComplete(t, rs, h.Running())
	for i, p := range partitionShapes(h.Hosts(), 12) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { namesWorkload(h, rs, uint64(i), stop) })
		h.Network().Partition(p)
		time.Sleep(1500 * time.Millisecond) // the fault's hold, not a wait for a result
		h.Heal()
		close(stop)
		wg.Wait()
		h.WaitConverged(60 * time.Second)
		testutil.Eventually(t, 60*time.Second, func() error { return oneHolderEach(h, rs) })
		t.Logf("%s: one holder per key after the heal", p)
	}
	var lost uint64
	for _, m := range h.Running() {
		lost += rs.get(m.Name).Stats().ConflictsLost
	}
	if lost == 0 {
		t.Fatal("no conflict arose: the partitions did not split registrations")
	}
	t.Logf("%d conflicts settled", lost)
}

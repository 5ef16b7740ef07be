package faultkit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/internal/testutil"
)

// TestMembershipUnderPartition: the kit's partitions cut gossip as they cut
// links: an isolated member is declared dead by the majority and loses its
// quorum; after the heal it is back; a graceful Stop is seen as left.
func TestMembershipUnderPartition(t *testing.T) {
	mcfg := cluster.DefaultLocalConfig()
	mcfg.ProbeInterval, mcfg.ProbeTimeout, mcfg.RejoinInterval = 200*time.Millisecond, 100*time.Millisecond, 300*time.Millisecond
	c, err := NewCluster(context.Background(), ClusterConfig{Size: 5, Seed: 7, Membership: &mcfg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	names := c.Names()
	state := func(of, who string) cluster.State {
		m, _ := c.Membership(of).Member(who)
		return m.State
	}
	all := func(want int) error {
		for _, n := range names {
			if m := c.Membership(n); m != nil && len(m.Reachable()) != want {
				return fmt.Errorf("%s reaches %v", n, m.Reachable())
			}
		}
		return nil
	}
	testutil.Eventually(t, 10*time.Second, func() error { return all(5) })

	c.Network().Partition(Isolate(names, names[0]))
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, n := range names[1:] {
			if st := state(n, names[0]); st != cluster.StateDead {
				return fmt.Errorf("%s sees %s %v", n, names[0], st)
			}
		}
		if c.Membership(names[0]).HasQuorum() {
			return fmt.Errorf("the isolated member has a quorum")
		}
		return nil
	})
	c.Network().Heal()
	testutil.Eventually(t, 20*time.Second, func() error { return all(5) })

	if err := c.Stop(context.Background(), names[4]); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, n := range names[:4] {
			if st := state(n, names[4]); st != cluster.StateLeft {
				return fmt.Errorf("%s sees %s %v", n, names[4], st)
			}
		}
		return nil
	})
}

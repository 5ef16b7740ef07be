package faultkit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/faultkit"
)

// waitFor polls cond for up to 20 s.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

// Membership on the fault kit: each node runs a cluster member, a crash is
// detected, and a restart under the same name rejoins.
func ExampleClusterConfig_membership() {
	ctx := context.Background()
	mcfg := cluster.DefaultLocalConfig()
	mcfg.ProbeInterval, mcfg.ProbeTimeout = 200*time.Millisecond, 100*time.Millisecond
	c, err := faultkit.NewCluster(ctx, faultkit.ClusterConfig{Size: 3, Seed: 1, Membership: &mcfg})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	n1 := c.Membership("n1@faultkit")
	waitFor(func() bool { return len(n1.Reachable()) == 3 })
	fmt.Println("reachable:", n1.Reachable())

	before, _ := n1.Member("n3@faultkit")
	c.Kill("n3@faultkit")
	waitFor(func() bool { m, _ := n1.Member("n3@faultkit"); return m.State == cluster.StateDead })
	fmt.Println("after the kill n3 is dead; quorum:", n1.HasQuorum())

	c.Restart(ctx, "n3@faultkit")
	waitFor(func() bool {
		m, _ := n1.Member("n3@faultkit")
		return m.State == cluster.StateAlive && m.Creation > before.Creation
	})
	fmt.Println("restarted, n3 is alive again in a new incarnation; reachable:", len(n1.Reachable()))
	// Output:
	// reachable: [n1@faultkit n2@faultkit n3@faultkit]
	// after the kill n3 is dead; quorum: true
	// restarted, n3 is alive again in a new incarnation; reachable: 3
}

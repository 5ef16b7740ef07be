package presence_test

import (
	"context"
	"fmt"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/presence"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/pubsub"
)

// Two users on two nodes of a chat room; each node lists both, and a
// subscriber receives the diff when one leaves.
func Example() {
	c, _ := faultkit.NewCluster(context.Background(), faultkit.ClusterConfig{Size: 2})
	defer c.Close()
	trackers := map[string]*presence.Tracker{}
	for _, n := range c.Names() {
		ps, _ := pubsub.Start(c.Node(n), pubsub.Config{})
		defer ps.Close()
		tr, _ := presence.Start(c.Node(n), ps, presence.Config{})
		defer tr.Close()
		trackers[n] = tr
	}
	a, b := c.Names()[0], c.Names()[1]
	session := func(node string) proc.PID {
		pid, _ := c.Runtime(node).Spawn(proc.HandlerFunc(func(*proc.Process, any) {}))
		return pid
	}
	ann, bob := session(a), session(b)
	trackers[a].Track(ann, "room:lobby", "ann", "online")
	trackers[b].Track(bob, "room:lobby", "bob", "online")
	for trackers[a].Count("room:lobby") < 2 {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("a lists", trackers[a].Count("room:lobby"), "presences")

	diffs := make(chan presence.Diff, 1)
	trackers[a].SubscribeFunc("room:lobby", func(m *pubsub.Message) {
		if d, ok := m.Payload.(presence.Diff); ok {
			diffs <- d
		}
	})
	c.Runtime(b).Exit(bob, proc.ErrKill) // bob's session ends on b
	d := <-diffs
	fmt.Println("left:", d.Leaves[0].Key, "on", d.Leaves[0].PID.Node)
	// Output:
	// a lists 2 presences
	// left: bob on n2@faultkit
}

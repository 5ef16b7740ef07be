package pubsub_test

import (
	"context"
	"fmt"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/pubsub"
)

// A broadcast on one node reaches a process subscribed on another.
func Example() {
	c, _ := faultkit.NewCluster(context.Background(), faultkit.ClusterConfig{Size: 2})
	defer c.Close()
	a, b := c.Names()[0], c.Names()[1]
	psA, _ := pubsub.Start(c.Node(a), pubsub.Config{})
	defer psA.Close()
	psB, _ := pubsub.Start(c.Node(b), pubsub.Config{})
	defer psB.Close()

	got := make(chan string, 1)
	listener, _ := c.Runtime(b).Spawn(proc.HandlerFunc(func(_ *proc.Process, msg any) {
		if m, ok := msg.(*pubsub.Message); ok {
			got <- fmt.Sprintf("%s on %s from %s", m.Payload, m.Topic, m.Origin)
		}
	}))
	psB.Subscribe(listener, "room:lobby")

	for len(psA.Nodes()) == 0 { // until a and b have found each other
		time.Sleep(time.Millisecond)
	}
	psA.Broadcast(context.Background(), "room:lobby", "hello")
	fmt.Println(<-got)
	// Output: hello on room:lobby from n1@faultkit
}

// A channel subscriber with a small buffer that keeps the newest messages,
// and learns how many it lost.
func ExamplePubSub_SubscribeChan() {
	rt, _ := proc.New(proc.Config{Node: "a@host"})
	defer rt.Close(context.Background())
	ps, _ := pubsub.StartLocal(rt, pubsub.Config{})
	defer ps.Close()

	sub, _ := ps.SubscribeChan("prices", pubsub.WithBuffer(2, pubsub.DropOldest))
	for _, p := range []int{100, 101, 102, 103, 104} {
		ps.Broadcast(context.Background(), "prices", p) // nobody is reading yet
	}
	var received, dropped uint64
	for m := range sub.C() {
		received++
		dropped += m.Dropped // reported on the message after the gap
		if m.Payload == 104 {
			break
		}
	}
	fmt.Println("received + dropped:", received+dropped)
	fmt.Println("counted:", sub.Stats().Dropped == dropped)
	// Output:
	// received + dropped: 5
	// counted: true
}

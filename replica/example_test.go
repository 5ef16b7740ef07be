package replica_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/grovedev/grove/crdt"
	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/replica"
)

// waitFor polls cond until it holds or five seconds pass.
func waitFor(cond func() bool) bool {
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			return false
		case <-tick.C:
		}
	}
	return true
}

// cluster starts two connected nodes in this process with the replica
// message types registered in their codecs.
func cluster() (*faultkit.Cluster, []string) {
	c, err := faultkit.NewCluster(context.Background(), faultkit.ClusterConfig{Size: 2, Register: replica.RegisterTypes})
	if err != nil {
		panic(err)
	}
	names := c.Names()
	waitFor(func() bool { return len(c.Node(names[0]).Nodes()) == 1 && len(c.Node(names[1]).Nodes()) == 1 })
	return c, names
}

// A counter incremented on two nodes converges on both.
func ExampleNewCounter() {
	c, names := cluster()
	defer c.Close()
	cfg := replica.Config{Interval: 10 * time.Millisecond}
	a, _ := replica.NewCounter(c.Node(names[0]), "visits", cfg)
	defer a.Close()
	b, _ := replica.NewCounter(c.Node(names[1]), "visits", cfg)
	defer b.Close()

	a.Add(3) // local: acknowledged at once
	b.Add(4)
	b.Add(-2)
	waitFor(func() bool { return a.Value() == 5 && b.Value() == 5 })
	fmt.Println(a.Value(), b.Value())
	// Output: 5 5
}

// A map's change events arrive in order on every replica.
func ExampleNewMap() {
	c, names := cluster()
	defer c.Close()
	cfg := replica.Config{Interval: 10 * time.Millisecond}
	a, _ := replica.NewMap[string, int](c.Node(names[0]), "cart", cfg)
	defer a.Close()
	b, _ := replica.NewMap[string, int](c.Node(names[1]), "cart", cfg)
	defer b.Close()

	events := make(chan replica.Event, 10)
	cancel := b.Subscribe(func(e replica.Event) { events <- e })
	defer cancel()
	next := func() replica.Event {
		select {
		case e := <-events:
			return e
		case <-time.After(5 * time.Second):
			return replica.Event{}
		}
	}

	a.Set("apples", 3)
	fmt.Println(next())
	a.Set("apples", 5)
	fmt.Println(next())
	a.Remove("apples")
	fmt.Println(next())
	// Output:
	// cart added apples=3
	// cart updated apples=5
	// cart removed apples=<nil>
}

// Any CRDT of package crdt replicates through New, Update and Read; here an
// add-wins set where a remove on one node and a concurrent add on the other
// keep the element.
func ExampleNew() {
	c, names := cluster()
	defer c.Close()
	cfg := replica.Config{Interval: 10 * time.Millisecond}
	a, _ := replica.New(c.Node(names[0]), "tags", crdt.NewORSet[string](), cfg)
	defer a.Close()
	b, _ := replica.New(c.Node(names[1]), "tags", crdt.NewORSet[string](), cfg)
	defer b.Close()

	elems := func(r *replica.Replica) (es []string) {
		r.Read(func(s crdt.State) { es = s.(*crdt.ORSet[string]).Elements() })
		slices.Sort(es)
		return es
	}
	a.Update(func(s crdt.State) crdt.State { return s.(*crdt.ORSet[string]).Add(a.ID(), "go") })
	waitFor(func() bool { return len(elems(b)) == 1 })

	a.Update(func(s crdt.State) crdt.State { return s.(*crdt.ORSet[string]).Remove("go") })
	b.Update(func(s crdt.State) crdt.State { return s.(*crdt.ORSet[string]).Add(b.ID(), "go") }) // concurrent
	b.Update(func(s crdt.State) crdt.State { return s.(*crdt.ORSet[string]).Add(b.ID(), "crdt") })
	waitFor(func() bool { return slices.Equal(elems(a), elems(b)) && len(elems(a)) == 2 })
	fmt.Println(elems(a), elems(b))
	// Output: [crdt go] [crdt go]
}

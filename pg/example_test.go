package pg_test

import (
	"context"
	"fmt"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/pg"
	"github.com/grovedev/grove/proc"
)

// Processes on two nodes join one group; each node lists them all.
func Example() {
	c, _ := faultkit.NewCluster(context.Background(), faultkit.ClusterConfig{Size: 2})
	defer c.Close()
	a, b := c.Names()[0], c.Names()[1]
	sa, _ := pg.Start(c.Node(a), pg.Config{})
	defer sa.Close()
	sb, _ := pg.Start(c.Node(b), pg.Config{})
	defer sb.Close()

	worker := func(node string) proc.PID {
		pid, _ := c.Runtime(node).Spawn(proc.HandlerFunc(func(*proc.Process, any) {}))
		return pid
	}
	sa.Join("workers", worker(a), worker(a))
	sb.Join("workers", worker(b))

	for sa.Count("workers") < 3 || sb.Count("workers") < 3 {
		time.Sleep(time.Millisecond) // b's join travels to a, and a's to b
	}
	fmt.Println(len(sa.Members("workers")), len(sa.LocalMembers("workers")), len(sb.LocalMembers("workers")))
	// Output: 3 2 1
}

// A monitor starts from the current members and then receives every change.
func ExampleScope_Watch() {
	rt, _ := proc.New(proc.Config{Node: "a@host"})
	defer rt.Close(context.Background())
	s, _ := pg.StartLocal(rt, pg.Config{})
	defer s.Close()
	p1, _ := rt.Spawn(proc.HandlerFunc(func(*proc.Process, any) {}))
	p2, _ := rt.Spawn(proc.HandlerFunc(func(*proc.Process, any) {}))
	s.Join("g", p1)

	events := make(chan pg.Event, 4)
	current, cancel, _ := s.Watch("g", func(e pg.Event) { events <- e })
	defer cancel()
	fmt.Println("members:", len(current))
	s.Join("g", p2)
	rt.Exit(p1, proc.ErrKill)
	for range 2 {
		e := <-events
		fmt.Println(e.Kind, len(e.PIDs))
	}
	// Output:
	// members: 1
	// join 1
	// leave 1
}

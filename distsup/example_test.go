package distsup_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/distsup"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport/memnet"
)

// counter is a child that counts the calls it answers and hands its count
// off when it moves.
type counter struct {
	proc.Base
	n int
}

func (c *counter) HandleCall(p *proc.Process, _ proc.From, _ any) (any, error) {
	c.n++
	return fmt.Sprintf("%d from %s", c.n, p.Runtime().Node()), nil
}

func (c *counter) BeginHandoff(*proc.Process) (any, error) { return c.n, nil }

func (c *counter) EndHandoff(_ *proc.Process, state any) error {
	c.n = state.(int)
	return nil
}

// clusterMember starts a node with membership on host h of an in-memory
// network.
func clusterMember(nw *memnet.Network, h int, seeds ...string) (*proc.Runtime, *cluster.Cluster, func()) {
	name := fmt.Sprintf("n%d@host%d", h, h)
	ip := fmt.Sprintf("10.0.0.%d", h)
	ep := nw.Endpoint(fmt.Sprintf("host%d", h))
	quiet := slog.New(slog.DiscardHandler)
	reg, _ := codec.NewRegistry(codec.Config{})
	if err := distsup.RegisterTypes(reg); err != nil {
		panic(err)
	}
	rt, _ := proc.New(proc.Config{Node: name, Logger: quiet})
	nd, err := node.Start(context.Background(), rt, node.Config{
		Name: name, Listen: ip + ":4370", Cookie: []byte("secret"), Transport: ep, Codec: reg, Logger: quiet,
	})
	if err != nil {
		panic(err)
	}
	cfg := cluster.DefaultLocalConfig()
	cfg.Bind, cfg.Transport, cfg.Seeds, cfg.Logger = ip+":7946", ep, seeds, quiet
	c, err := cluster.Start(context.Background(), nd, cfg)
	if err != nil {
		panic(err)
	}
	return rt, c, func() {
		c.Close()
		nd.Close()
		rt.Close(context.Background())
	}
}

// member starts a node with membership and the supervisor "jobs" on host
// h of an in-memory network.
func member(nw *memnet.Network, h int, seeds ...string) (*proc.Runtime, *distsup.Supervisor, func()) {
	rt, c, stop := clusterMember(nw, h, seeds...)
	sup, err := distsup.Start(c, distsup.Config{Name: "jobs"})
	if err != nil {
		panic(err)
	}
	sup.Register("counter", func(string, any) (proc.Behavior, error) { return &counter{}, nil })
	return rt, sup, func() {
		sup.Close()
		stop()
	}
}

func Example() {
	nw := memnet.New(memnet.Config{})
	defer nw.Close()
	rt1, sup1, stop1 := member(nw, 1)
	defer stop1()
	_, sup2, stop2 := member(nw, 2, "10.0.0.1:7946")
	defer stop2()
	sups := map[string]*distsup.Supervisor{"n1@host1": sup1, "n2@host2": sup2}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(sup1.Nodes()) < 2 || len(sup2.Nodes()) < 2 {
		time.Sleep(10 * time.Millisecond)
	}

	pid, err := sup1.StartChild(ctx, distsup.ChildSpec{ID: "job:1", Kind: "counter"})
	fmt.Println("started:", err)
	reply, _ := proc.Call[string](ctx, rt1, sup1.Via("job:1"), "hi")
	fmt.Println(reply[:1])

	// Starting it again returns the running child.
	again, err := sup2.StartChild(ctx, distsup.ChildSpec{ID: "job:1", Kind: "counter"})
	fmt.Println(again == pid, errors.Is(err, distsup.ErrAlreadyStarted))

	// Draining its node moves it, with its count, to the other node.
	if err := sups[pid.Node].Drain(ctx); err != nil {
		panic(err)
	}
	reply, _ = proc.Call[string](ctx, rt1, sup1.Via("job:1"), "hi")
	moved, _ := sup1.WhereIs("job:1")
	fmt.Println(reply[:1], moved.Node != pid.Node)
	// Output:
	// started: <nil>
	// 1
	// true true
	// 2 true
}

// A singleton runs once in the cluster, wherever the placement puts it;
// every node that runs NewSingleton of the same name keeps it running, and
// it moves (with its state) when its node drains or leaves, or restarts
// elsewhere when its node dies.
func ExampleNewSingleton() {
	nw := memnet.New(memnet.Config{})
	defer nw.Close()
	rt1, c1, stop1 := clusterMember(nw, 1)
	defer stop1()
	_, c2, stop2 := clusterMember(nw, 2, "10.0.0.1:7946")
	defer stop2()
	newLeader := func() proc.Behavior { return &counter{} }
	cfg := distsup.SingletonConfig{Check: 50 * time.Millisecond}
	s1, err := distsup.NewSingleton(c1, "leader", newLeader, cfg)
	if err != nil {
		panic(err)
	}
	defer s1.Close()
	s2, err := distsup.NewSingleton(c2, "leader", newLeader, cfg)
	if err != nil {
		panic(err)
	}
	defer s2.Close()
	singles := map[string]*distsup.Singleton{"n1@host1": s1, "n2@host2": s2}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		p1, ok1 := s1.WhereIs()
		p2, ok2 := s2.WhereIs()
		if ok1 && ok2 && p1 == p2 && len(s1.Supervisor().Nodes()) == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	reply, _ := proc.Call[string](ctx, rt1, s1.Via(), "hi")
	fmt.Println(reply[:1])

	// Its node drains: it moves to the other node, count and all.
	was, _ := s1.WhereIs()
	if err := singles[was.Node].Drain(ctx); err != nil {
		panic(err)
	}
	reply, _ = proc.Call[string](ctx, rt1, s1.Via(), "hi")
	now, _ := s1.WhereIs()
	fmt.Println(reply[:1], now.Node != was.Node)
	// Output:
	// 1
	// 2 true
}

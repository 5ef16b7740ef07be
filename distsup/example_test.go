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

// member starts a node with membership and the supervisor "jobs" on host
// h of an in-memory network.
func member(nw *memnet.Network, h int, seeds ...string) (*proc.Runtime, *distsup.Supervisor, func()) {
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
	sup, err := distsup.Start(c, distsup.Config{Name: "jobs"})
	if err != nil {
		panic(err)
	}
	sup.Register("counter", func(string, any) (proc.Behavior, error) { return &counter{}, nil })
	return rt, sup, func() {
		sup.Close()
		c.Close()
		nd.Close()
		rt.Close(context.Background())
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

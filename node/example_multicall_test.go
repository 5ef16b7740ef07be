package node_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport/memnet"
)

// config answers with the node's setting for a key.
type config struct {
	proc.Base
	region string
}

func (c config) HandleCall(_ *proc.Process, _ proc.From, req any) (any, error) {
	return c.region, nil
}

func (c config) HandleCast(_ *proc.Process, msg any) { fmt.Println("reload on", c.region) }

// startNode starts a node on the memory network nw, running "config".
func startNode(nw *memnet.Network, name, region string) *node.Node {
	quiet := slog.New(slog.DiscardHandler)
	rt, _ := proc.New(proc.Config{Node: name + "@mem", Logger: quiet})
	n, _ := node.Start(context.Background(), rt, node.Config{
		Name: name + "@mem", Listen: name + ":1", Cookie: []byte("secret"),
		Transport: nw.Endpoint(name), Logger: quiet,
	})
	rt.Spawn(config{region: region}, proc.WithName("config"))
	return n
}

func ExampleMultiCall() {
	nw := memnet.New(memnet.Config{})
	defer nw.Close()
	a := startNode(nw, "a", "eu")
	b := startNode(nw, "b", "us")
	defer func() {
		for _, n := range []*node.Node{a, b} {
			n.Close()
			n.Runtime().Close(context.Background())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.Connect(ctx, "b@mem", "b:1")

	res := node.MultiCall[string](ctx, a, []string{"a@mem", "b@mem", "gone@mem"}, "config", "region")
	for _, r := range res.Replies {
		fmt.Println(r.Node, "answered", r.Value)
	}
	for _, bad := range res.Bad {
		fmt.Println(bad.Node, "is bad:", bad.Err)
	}
	// Output:
	// a@mem answered eu
	// b@mem answered us
	// gone@mem is bad: noconnection: node: address of node unknown: gone@mem
}

func ExampleNode_ABCast() {
	nw := memnet.New(memnet.Config{})
	defer nw.Close()
	a := startNode(nw, "a", "eu")
	defer func() {
		a.Close()
		a.Runtime().Close(context.Background())
	}()
	bad := a.ABCast(context.Background(), []string{"a@mem", "gone@mem"}, "config", "reload")
	// A call after the cast is handled after it.
	proc.Call[string](context.Background(), a.Runtime(), proc.Name("config"), "region")
	fmt.Println(len(bad), "not sent:", bad[0].Node)
	// Output:
	// reload on eu
	// 1 not sent: gone@mem
}

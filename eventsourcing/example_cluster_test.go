package eventsourcing_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/eventsourcing"
	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/memstore"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport/memnet"
)

// clusterMember starts one node of a cluster on nw with an application
// whose counters run on the keyed processes of the cluster.
func clusterMember(nw *memnet.Network, store eventstore.Store, h int, seeds ...string) (*eventsourcing.App, *eventsourcing.ClusterHost, func()) {
	name, ip := fmt.Sprintf("n%d@host%d", h, h), fmt.Sprintf("10.0.0.%d", h)
	ep := nw.Endpoint(fmt.Sprintf("host%d", h))
	quiet := slog.New(slog.DiscardHandler)
	reg, _ := codec.NewRegistry(codec.Config{})
	if err := eventsourcing.RegisterTypes(reg); err != nil { // the host's messages
		panic(err)
	}
	codec.MustRegister[Add](reg, "example.Add") // commands cross the network
	rt, _ := proc.New(proc.Config{Node: name, Logger: quiet})
	nd, err := node.Start(context.Background(), rt, node.Config{Name: name, Listen: ip + ":4370", Cookie: []byte("secret"), Transport: ep, Codec: reg, Logger: quiet})
	if err != nil {
		panic(err)
	}
	cfg := cluster.DefaultLocalConfig()
	cfg.Bind, cfg.Transport, cfg.Seeds, cfg.Logger = ip+":7946", ep, seeds, quiet
	c, err := cluster.Start(context.Background(), nd, cfg)
	if err != nil {
		panic(err)
	}
	types := eventsourcing.NewTypes()
	eventsourcing.Register[Added](types, "Added")
	host, _ := eventsourcing.NewClusterHost(c, eventsourcing.ClusterHostConfig{Store: store, Types: types})
	app, _ := eventsourcing.New(eventsourcing.Config{Store: store, Types: types, Host: host})
	counters := eventsourcing.Kind{Name: "counter", New: func(string) eventsourcing.Aggregate { return &Counter{} }, Lifespan: time.Minute}
	eventsourcing.Route(app, counters, func(c Add) string { return c.ID })
	return app, host, func() {
		host.Close()
		c.Close()
		nd.Close()
		rt.Close(context.Background())
	}
}

// Two nodes share a store; each counter runs on one of them, and commands
// reach it from either.
func ExampleClusterHost() {
	nw := memnet.New(memnet.Config{})
	defer nw.Close()
	store := memstore.New()
	defer store.Close()
	a, ha, stopA := clusterMember(nw, store, 1)
	defer stopA()
	b, hb, stopB := clusterMember(nw, store, 2, "10.0.0.1:7946")
	defer stopB()
	for { // until both nodes place the counter on the same node
		oa, _ := ha.Owner("counter", "c1")
		ob, _ := hb.Owner("counter", "c1")
		if oa == ob && oa != "" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx := context.Background()
	a.Dispatch(ctx, Add{ID: "c1", N: 5})
	res, _ := b.Dispatch(ctx, Add{ID: "c1", N: 3}, eventsourcing.ReturnState())
	fmt.Println("version", res.Version, "value", res.Aggregate.(*Counter).N)
	runs := ha.Stats("counter").Activated.Load() + hb.Stats("counter").Activated.Load()
	fmt.Println("instances started:", runs)
	// Output:
	// version 2 value 8
	// instances started: 1
}

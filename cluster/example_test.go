package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport/memnet"
)

// member starts a runtime, a node and a cluster member on host h of an
// in-memory network. IP-shaped addresses stand for the hosts.
func member(nw *memnet.Network, h int, region string, seeds ...string) (*cluster.Cluster, func()) {
	name := fmt.Sprintf("n%d@host%d", h, h)
	ip := fmt.Sprintf("10.0.0.%d", h)
	ep := nw.Endpoint(fmt.Sprintf("host%d", h))
	quiet := slog.New(slog.DiscardHandler)
	rt, _ := proc.New(proc.Config{Node: name, Logger: quiet})
	nd, err := node.Start(context.Background(), rt, node.Config{
		Name: name, Listen: ip + ":4370", Cookie: []byte("secret"), Transport: ep, Logger: quiet,
	})
	if err != nil {
		panic(err)
	}
	cfg := cluster.DefaultLocalConfig()
	cfg.Bind, cfg.Transport, cfg.Seeds, cfg.Logger = ip+":7946", ep, seeds, quiet
	cfg.Meta = cluster.Meta{Region: region}
	cfg.SecretKey = cluster.KeyFromSecret([]byte("secret"))
	c, err := cluster.Start(context.Background(), nd, cfg)
	if err != nil {
		panic(err)
	}
	return c, func() {
		c.Close()
		nd.Close()
		rt.Close(context.Background())
	}
}

func Example() {
	nw := memnet.New(memnet.Config{})
	defer nw.Close()

	a, stopA := member(nw, 1, "eu")
	defer stopA()
	joined := make(chan string, 10)
	cancel := a.Subscribe(func(e cluster.Event) {
		if e.Kind == cluster.EventJoined {
			joined <- e.Member.Name
		}
	})
	defer cancel()
	_, stopB := member(nw, 2, "us", a.GossipAddr())
	defer stopB()
	c, stopC := member(nw, 3, "eu", a.GossipAddr())
	defer stopC()
	for range 2 {
		<-joined
	}
	for _, m := range a.Members() {
		fmt.Println(m.Name, m.State, m.Meta.Region)
	}
	fmt.Println("quorum:", a.HasQuorum())

	left := make(chan cluster.Event, 1)
	defer a.Subscribe(func(e cluster.Event) {
		if e.Kind == cluster.EventLeft {
			left <- e
		}
	})()
	ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	c.Leave(ctx)
	e := <-left
	fmt.Println(e.Member.Name, e.Member.State)
	// Output:
	// n1@host1 alive eu
	// n2@host2 alive us
	// n3@host3 alive eu
	// quorum: true
	// n3@host3 left
}

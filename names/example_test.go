package names_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/names"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport/memnet"
)

// member starts a runtime, a node, membership and a names registry on host
// h of an in-memory network.
func member(nw *memnet.Network, h int, seeds ...string) (*proc.Runtime, *names.Registry, func()) {
	name := fmt.Sprintf("n%d@host%d", h, h)
	ip := fmt.Sprintf("10.0.0.%d", h)
	ep := nw.Endpoint(fmt.Sprintf("host%d", h))
	quiet := slog.New(slog.DiscardHandler)
	reg, _ := codec.NewRegistry(codec.Config{})
	if err := names.RegisterTypes(reg); err != nil {
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
	r, err := names.New(c, names.Config{})
	if err != nil {
		panic(err)
	}
	return rt, r, func() {
		r.Close()
		c.Close()
		nd.Close()
		rt.Close(context.Background())
	}
}

type greeter struct{ proc.Base }

func (greeter) HandleCall(p *proc.Process, _ proc.From, req any) (any, error) {
	return fmt.Sprintf("hello %v from %s", req, p.Runtime().Node()), nil
}

func Example() {
	nw := memnet.New(memnet.Config{})
	defer nw.Close()
	rt1, reg1, stop1 := member(nw, 1)
	defer stop1()
	rt2, reg2, stop2 := member(nw, 2, "10.0.0.1:7946")
	defer stop2()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A joining node answers lookups as complete once it has every entry.
	if err := reg2.WaitComplete(ctx); err != nil {
		panic(err)
	}

	pid, _ := rt1.Spawn(greeter{})
	if err := reg1.Register(pid, "session:42", nil); err != nil {
		panic(err)
	}
	_ = reg1.Sync(ctx) // every member has it now

	// From the other node, the name is a destination like a PID.
	reply, err := proc.Call[string](ctx, rt2, reg2.Via("session:42"), "ada")
	fmt.Println(reply, err)

	// A second registration of the name is refused everywhere.
	other, _ := rt2.Spawn(greeter{})
	err = reg2.Register(other, "session:42", nil)
	fmt.Println(errors.Is(err, names.ErrAlreadyRegistered))

	// The name vanishes with its process.
	rt1.Exit(pid, proc.ErrKill)
	for {
		if _, ok := reg2.WhereIs("session:42"); !ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	fmt.Println(reg2.Lookup("session:42"))
	// Output:
	// hello ada from n1@host1 <nil>
	// true
	// []
}

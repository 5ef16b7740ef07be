package entity_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/entity"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport/memnet"
)

// session is a keyed process: one per user, started by its first message.
type session struct {
	proc.Base
	user string
	seen int
}

func (s *session) HandleCall(p *proc.Process, _ proc.From, req any) (any, error) {
	s.seen++
	return fmt.Sprintf("%s has sent %d", s.user, s.seen), nil
}

func member(nw *memnet.Network, h int, seeds ...string) (*entity.Region, func()) {
	name := fmt.Sprintf("n%d@host%d", h, h)
	ip := fmt.Sprintf("10.0.0.%d", h)
	ep := nw.Endpoint(fmt.Sprintf("host%d", h))
	quiet := slog.New(slog.DiscardHandler)
	reg, _ := codec.NewRegistry(codec.Config{})
	if err := entity.RegisterTypes(reg); err != nil {
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
	sessions, err := entity.Start(c, entity.Config{
		Kind:        "session",
		New:         func(key string) (proc.Behavior, error) { return &session{user: key}, nil },
		IdleTimeout: time.Minute,
	})
	if err != nil {
		panic(err)
	}
	return sessions, func() {
		sessions.Close()
		c.Close()
		nd.Close()
		rt.Close(context.Background())
	}
}

func Example() {
	nw := memnet.New(memnet.Config{})
	defer nw.Close()
	a, stopA := member(nw, 1)
	defer stopA()
	b, stopB := member(nw, 2, "10.0.0.1:7946")
	defer stopB()
	for {
		oa, _ := a.Owner("ada")
		ob, _ := b.Owner("ada")
		if oa == ob && len(oa) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// From either node, the same process answers for a key.
	r1, _ := entity.Call[string](ctx, a.Entity("ada"), "hello")
	r2, _ := entity.Call[string](ctx, b.Entity("ada"), "hello")
	fmt.Println(r1)
	fmt.Println(r2)
	// Output:
	// ada has sent 1
	// ada has sent 2
}

package lease_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/lease"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/raft"
)

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, _ := os.MkdirTemp("", "lease-example")
	defer os.RemoveAll(dir)
	reg, _ := codec.NewRegistry(codec.Config{})
	raft.RegisterTypes(reg)
	rt, _ := proc.New(proc.Config{Node: "a@127.0.0.1"})
	defer rt.Close(ctx)
	n, err := node.Start(ctx, rt, node.Config{Name: "a@127.0.0.1", Listen: "127.0.0.1:0", Cookie: []byte("secret"), Codec: reg})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	h, _ := raft.Start(n, raft.Config{DataDir: dir, TickInterval: 10 * time.Millisecond})
	defer h.Close()
	s, _ := lease.Open(ctx, h, lease.Config{Members: []string{"a@127.0.0.1"}})

	var first *lease.Lease
	for { // the one-member group elects itself first
		if first, err = s.Acquire(ctx, "scheduler", "worker-1", time.Minute); !errors.Is(err, raft.ErrNoLeader) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = s.Acquire(ctx, "scheduler", "worker-2", time.Minute)
	fmt.Println("worker-2 refused:", errors.Is(err, lease.ErrHeld))
	first.Release(ctx)
	second, _ := s.Acquire(ctx, "scheduler", "worker-2", time.Minute)
	fmt.Println("fencing token grew:", second.Token() > first.Token())
	// Output:
	// worker-2 refused: true
	// fencing token grew: true
}

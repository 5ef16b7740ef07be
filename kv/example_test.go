package kv_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/kv"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/raft"
)

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, _ := os.MkdirTemp("", "kv-example")
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
	s, err := kv.Open(ctx, h, kv.Config{Members: []string{"a@127.0.0.1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	var v uint64
	for { // the one-member group elects itself first
		if v, err = s.Put(ctx, "color", []byte("blue")); !errors.Is(err, raft.ErrNoLeader) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = s.CompareAndPut(ctx, "color", []byte("red"), v+1)
	var conflict *kv.ConflictError
	fmt.Println("stale compare-and-set refused:", errors.As(err, &conflict) && conflict.Version == v)
	if _, err := s.CompareAndPut(ctx, "color", []byte("red"), v); err != nil {
		fmt.Println(err)
	}
	it, _ := s.Get(ctx, "color", kv.Linearizable)
	fmt.Println(string(it.Value), it.Version > v)
	// Output:
	// stale compare-and-set refused: true
	// red true
}

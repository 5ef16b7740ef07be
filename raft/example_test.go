package raft_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/raft"
)

// register is a replicated string register: "set V" commands, the reply
// is the previous value.
type register struct{ v string }

func (r *register) Apply(_ uint64, cmd []byte) (any, []raft.Effect) {
	old := r.v
	r.v = string(cmd)
	return old, nil
}
func (r *register) Snapshot() ([]byte, error) { return []byte(r.v), nil }
func (r *register) Restore(b []byte) error    { r.v = string(b); return nil }

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, _ := os.MkdirTemp("", "raft-example")
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

	h, err := raft.Start(n, raft.Config{DataDir: dir, TickInterval: 10 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	g, err := h.StartGroup(ctx, raft.GroupConfig{Name: "config", Members: []string{"a@127.0.0.1"}, Machine: &register{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := 1; i <= 3; i++ {
		for {
			res, err := g.Command(ctx, []byte("v"+strconv.Itoa(i)))
			if err != nil { // no leader yet: the group elects itself first
				time.Sleep(10 * time.Millisecond)
				continue
			}
			fmt.Printf("set v%d, was %q\n", i, res.Reply)
			break
		}
	}
	v, _ := g.ConsistentQuery(ctx, func(m raft.Machine) (any, error) { return m.(*register).v, nil })
	fmt.Println("now", v)
	// Output:
	// set v1, was ""
	// set v2, was "v1"
	// set v3, was "v2"
	// now v3
}

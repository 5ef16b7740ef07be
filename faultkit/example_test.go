package faultkit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/proc"
)

// A one-way partition: a's bytes stall, b's still flow; after the heal the
// stalled bytes arrive.
func ExampleOneWay() {
	ctx := context.Background()
	nw := faultkit.NewNetwork(faultkit.Config{Seed: 1})
	defer nw.Close()
	ln, _ := nw.Endpoint("b").Listen(ctx, "b:1")
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); accepted <- c }()
	ca, _ := nw.Endpoint("a").Dial(ctx, "b:1")
	cb := <-accepted

	nw.Partition(faultkit.OneWay("a", "b"))
	ca.Write([]byte("hi b"))
	cb.Write([]byte("hi a"))
	buf := make([]byte, 4)
	io.ReadFull(ca, buf)
	fmt.Printf("a heard %q\n", buf)

	nw.Heal()
	io.ReadFull(cb, buf)
	fmt.Printf("after heal b heard %q\n", buf)
	// Output:
	// a heard "hi a"
	// after heal b heard "hi b"
}

func ExampleMajoritiesRing() {
	p := faultkit.MajoritiesRing([]string{"a", "b", "c", "d", "e"})
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		var hears []string
		for _, m := range []string{"a", "b", "c", "d", "e"} {
			if !p.Cuts(m, n) {
				hears = append(hears, m)
			}
		}
		fmt.Println(n, "hears", hears)
	}
	// Output:
	// a hears [a b e]
	// b hears [a b c]
	// c hears [b c d]
	// d hears [c d e]
	// e hears [a d e]
}

// The schedule of a nemesis is a function of its seed.
func ExampleSchedule() {
	steps := faultkit.Schedule(faultkit.NemesisConfig{
		Seed:     42,
		Nodes:    []string{"n1", "n2", "n3"},
		Faults:   []faultkit.Fault{faultkit.FaultPartition, faultkit.FaultPause},
		Duration: time.Second,
	})
	for _, s := range steps[:4] {
		fmt.Println(s)
	}
	// Output:
	// +51ms start pause n1
	// +212ms undo pause n1
	// +353ms start partition halves {n1} | {n2,n3}
	// +576ms undo partition halves {n1} | {n2,n3}
}

// A cluster of two nodes; cutting one off makes a call to it fail with
// ErrNoConnection.
func ExampleCluster() {
	ctx := context.Background()
	c, err := faultkit.NewCluster(ctx, faultkit.ClusterConfig{Names: []string{"api@sim", "db@sim"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Node("db@sim").Register("double", func(_ context.Context, arg any) (any, error) {
		return arg.(int64) * 2, nil
	})
	v, err := c.Node("api@sim").RPC(ctx, "db@sim", "double", int64(21))
	fmt.Println(v, err)

	c.Network().Partition(faultkit.Isolate(c.Names(), "db@sim"))
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = c.Node("api@sim").RPC(cctx, "db@sim", "double", int64(1))
	fmt.Println(errors.Is(err, proc.ErrNoConnection))
	// Output:
	// 42 <nil>
	// true
}

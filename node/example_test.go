package node_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport/memnet"
)

// startExampleNode starts a runtime and a node on an in-memory network.
func startExampleNode(nw *memnet.Network, name, addr string) (*proc.Runtime, *node.Node) {
	quiet := slog.New(slog.DiscardHandler)
	rt, err := proc.New(proc.Config{Node: name, Logger: quiet})
	if err != nil {
		panic(err)
	}
	n, err := node.Start(context.Background(), rt, node.Config{
		Name: name, Listen: addr, Cookie: []byte("example cookie"),
		Transport: nw.Endpoint(addr), Logger: quiet,
	})
	if err != nil {
		panic(err)
	}
	return rt, n
}

// SendAck tells the sender whether its message was queued: here the
// receiver's mailbox holds one message and the process is busy with
// another, so the second send is refused.
func ExampleNode_SendAck() {
	ctx := context.Background()
	nw := memnet.New(memnet.Config{})
	defer nw.Close()
	rtA, a := startExampleNode(nw, "a@mem", "a:1")
	rtB, b := startExampleNode(nw, "b@mem", "b:1")
	defer func() { a.Close(); b.Close(); rtA.Close(ctx); rtB.Close(ctx) }()
	if err := a.Connect(ctx, "b@mem", "b:1"); err != nil {
		panic(err)
	}

	busy := make(chan struct{})
	release := make(chan struct{})
	worker, _ := rtB.Spawn(proc.HandlerFunc(func(_ *proc.Process, msg any) {
		if msg == "work" {
			close(busy)
			<-release
		}
	}), proc.WithMailboxBound(1))

	fmt.Println(a.SendAck(ctx, proc.PID{}, worker, "work"))
	<-busy
	fmt.Println(a.SendAck(ctx, proc.PID{}, worker, "queued"))
	err := a.SendAck(ctx, proc.PID{}, worker, "one too many")
	fmt.Println(errors.Is(err, proc.ErrMailboxFull))
	close(release)
	// Output:
	// <nil>
	// <nil>
	// true
}

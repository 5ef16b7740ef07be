package pubsub

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/node"
)

// A broadcast held back by a receiving node's flow control gives up when
// its context ends, naming that node with the context's error, instead of
// waiting for the node to catch up.
func TestBroadcastContextUnderFlowControl(t *testing.T) {
	c, err := faultkit.NewCluster(context.Background(), faultkit.ClusterConfig{
		Size: 2, Seed: 31, Register: registerNote,
		Node: func(_ string, cfg *node.Config) { cfg.MaxRemoteQueued = 4 << 10 },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	names := c.Names()
	release := make(chan struct{})
	stuck := DispatcherFunc(func(*Message, []*Subscription) { <-release })
	cfg := Config{Dispatchers: map[string]Dispatcher{"stuck": stuck}}
	a, err := Start(c.Node(names[0]), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Start(c.Node(names[1]), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	defer close(release)
	if _, err := b.SubscribeFunc("t", func(*Message) {}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if len(a.Nodes()) != 1 || len(b.Nodes()) != 1 {
			return errorf("not meshed")
		}
		return nil
	})
	// b's server is stuck in the first frame; the next ones wait in its
	// mailbox until the link is paused and Broadcast is held.
	big := note{Sender: strings.Repeat("x", 1024)}
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		start := time.Now()
		err := a.Broadcast(ctx, "t", big, Via("stuck"))
		cancel()
		if err != nil {
			var be *BroadcastError
			if !errors.As(err, &be) || !errors.Is(be.Nodes[names[1]], context.DeadlineExceeded) {
				t.Fatalf("held broadcast: %v", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("returned %v after its deadline", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never held back")
		}
	}
	// A context already done sends nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sent := a.Stats().FramesSent.Load()
	if err := a.Broadcast(ctx, "t", big); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled broadcast: %v", err)
	}
	if err := a.DirectBroadcast(ctx, names[1], "t", big); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled direct broadcast: %v", err)
	}
	if a.Stats().FramesSent.Load() != sent {
		t.Fatal("a cancelled broadcast sent a frame")
	}
}

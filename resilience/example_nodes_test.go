package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/resilience"
	"github.com/grovedev/grove/transport/memnet"
)

// A breaker per remote node: RPCs to a node that cannot be reached fail
// twice, then fail fast without trying, while another node is unaffected.
func ExampleNodeBreakers() {
	nw := memnet.New(memnet.Config{})
	defer nw.Close()
	quiet := slog.New(slog.DiscardHandler)
	var nodes []*node.Node
	for _, name := range []string{"a", "b"} {
		rt, _ := proc.New(proc.Config{Node: name + "@mem", Logger: quiet})
		n, _ := node.Start(context.Background(), rt, node.Config{
			Name: name + "@mem", Listen: name + ":1", Cookie: []byte("secret"), Transport: nw.Endpoint(name), Logger: quiet,
		})
		n.Register("ping", func(context.Context, any) (any, error) { return "pong", nil })
		defer rt.Close(context.Background())
		defer n.Close()
		nodes = append(nodes, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nodes[0].AddAddress("b@mem", "b:1")
	nodes[0].AddAddress("c@mem", "c:1") // nobody listens there

	nb, _ := resilience.NewNodeBreakers(nodes[0], resilience.NodeBreakersConfig{
		Breaker: resilience.BreakerConfig{ConsecutiveFailures: 2, OpenTimeout: time.Minute, Clock: clocktest.New(time.Unix(0, 0))},
		OnStateChange: func(node string, from, to resilience.State) {
			fmt.Println(node, from, "->", to)
		},
	})
	for range 3 {
		_, err := nb.RPC(ctx, "c@mem", "ping", nil)
		fmt.Println("c:", errors.Is(err, proc.ErrNoConnection), errors.Is(err, resilience.ErrOpen))
	}
	v, err := resilience.RPC[string](ctx, nb, "b@mem", "ping", nil)
	fmt.Println("b:", v, err)
	// Output:
	// c: true false
	// c@mem closed -> open
	// c: true false
	// c: false true
	// b: pong <nil>
}

// Retry runs an idempotent operation again after errors that may pass,
// with exponential backoff and jitter between attempts.
func ExampleRetry() {
	attempts := 0
	err := resilience.Retry(context.Background(), resilience.RetryPolicy{MaxAttempts: 4, Initial: time.Millisecond, Max: 10 * time.Millisecond},
		func(ctx context.Context) error {
			attempts++
			if attempts == 1 {
				return fmt.Errorf("send: %w", proc.ErrMailboxFull) // may pass: retried
			}
			return nil
		})
	fmt.Println(err, attempts)
	// Output:
	// <nil> 2
}

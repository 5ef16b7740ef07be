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

func ExampleBreaker() {
	clk := clocktest.New(time.Unix(0, 0))
	b, _ := resilience.NewBreaker(resilience.BreakerConfig{
		ConsecutiveFailures: 2,
		OpenTimeout:         10 * time.Second,
		Clock:               clk,
		OnStateChange:       func(from, to resilience.State) { fmt.Println(from, "->", to) },
	})
	down := errors.New("connection refused")
	b.Do(func() error { return down })
	b.Do(func() error { return down })
	err := b.Do(func() error { panic("not called while open") })
	fmt.Println(errors.Is(err, resilience.ErrOpen))

	clk.Advance(10 * time.Second)
	fmt.Println(b.State())
	b.Do(func() error { return nil }) // the trial call succeeds
	// Output:
	// closed -> open
	// true
	// open -> half-open
	// half-open
	// half-open -> closed
}

func ExampleRetryValue() {
	attempts := 0
	v, err := resilience.RetryValue(context.Background(), resilience.RetryPolicy{MaxAttempts: 5, Initial: time.Millisecond},
		func(ctx context.Context) (string, error) {
			if attempts++; attempts < 3 {
				return "", fmt.Errorf("dial: %w", proc.ErrNoConnection) // may pass: retried
			}
			return "done", nil
		})
	fmt.Println(v, err, attempts)

	_, err = resilience.RetryValue(context.Background(), resilience.RetryPolicy{},
		func(ctx context.Context) (string, error) { return "", errors.New("bad request") })
	fmt.Println(err)
	// Output:
	// done <nil> 3
	// resilience: gave up after 1 attempts: bad request
}

func ExampleBulkRPC() {
	nw := memnet.New(memnet.Config{})
	defer nw.Close()
	quiet := slog.New(slog.DiscardHandler)
	var nodes []*node.Node
	for _, name := range []string{"a", "b"} {
		rt, _ := proc.New(proc.Config{Node: name + "@mem", Logger: quiet})
		n, _ := node.Start(context.Background(), rt, node.Config{
			Name: name + "@mem", Listen: name + ":1", Cookie: []byte("secret"), Transport: nw.Endpoint(name), Logger: quiet,
		})
		n.Register("square", func(_ context.Context, arg any) (any, error) {
			x, ok := arg.(int64) // integers arrive as int64 from other nodes
			if !ok {
				x = int64(arg.(int))
			}
			return x * x, nil
		})
		defer rt.Close(context.Background())
		defer n.Close()
		nodes = append(nodes, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nodes[0].Connect(ctx, "b@mem", "b:1")

	reqs := []resilience.RPCRequest{
		{Node: "a@mem", Function: "square", Arg: 3},
		{Node: "b@mem", Function: "square", Arg: 4},
		{Node: "c@mem", Function: "square", Arg: 5},
		{Node: "b@mem", Function: "cube", Arg: 6},
	}
	results, _ := resilience.BulkRPC(ctx, nodes[0], reqs, resilience.BulkConfig{Concurrency: 2, PerNode: 1})
	for i, r := range results {
		fmt.Println(reqs[i].Node, r.Value, r.Err != nil)
	}
	// Output:
	// a@mem 9 false
	// b@mem 16 false
	// c@mem <nil> true
	// b@mem <nil> true
}

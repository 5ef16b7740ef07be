// Command cart is a shopping cart that stays available through a network
// partition: three nodes (in one process, on the fault kit's in-memory
// network) share a replicated map of item → quantity. The network is cut
// in two, shoppers on both sides keep editing the cart, and after the heal
// every node converges on the same cart without any coordination.
//
//	go run ./examples/cart
package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/replica"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cart:", err)
		os.Exit(1)
	}
}

// cart is one node's replica of the shared cart.
type cart = replica.Map[string, int]

func run(ctx context.Context, w io.Writer) error {
	c, err := faultkit.NewCluster(ctx, faultkit.ClusterConfig{
		Names:    []string{"eu@shop", "us@shop", "asia@shop"},
		Register: replica.RegisterTypes,
	})
	if err != nil {
		return err
	}
	defer c.Close()

	carts := map[string]*cart{}
	for _, name := range c.Names() {
		m, err := replica.NewMap[string, int](c.Node(name), "cart:alice", replica.Config{Interval: 20 * time.Millisecond})
		if err != nil {
			return err
		}
		defer m.Close()
		carts[name] = m
	}
	show := func(title string) {
		fmt.Fprintf(w, "%s\n", title)
		for _, name := range c.Names() {
			fmt.Fprintf(w, "  %-10s %s\n", name, format(carts[name].All()))
		}
	}

	if err := carts["eu@shop"].Set("book", 1); err != nil {
		return err
	}
	if err := converge(ctx, carts); err != nil {
		return err
	}
	show("Alice puts a book in her cart (on eu):")

	c.Network().Partition(faultkit.Isolate(c.Names(), "eu@shop"))
	for _, e := range []struct {
		node, item string
		n          int
	}{{"eu@shop", "pen", 3}, {"us@shop", "book", 2}, {"asia@shop", "mug", 1}} {
		// Writes are local: each side accepts them at once.
		if err := carts[e.node].Set(e.item, e.n); err != nil {
			return err
		}
	}
	show("The network splits eu from us and asia; both sides keep taking edits:")

	c.Network().Heal()
	if err := converge(ctx, carts); err != nil {
		return err
	}
	show("After the heal every node has every edit:")
	return nil
}

// converge waits until every replica holds the same cart.
func converge(ctx context.Context, carts map[string]*cart) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var views []string
		for _, m := range carts {
			views = append(views, format(m.All()))
		}
		slices.Sort(views)
		if views[0] == views[len(views)-1] {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replicas did not converge: %v", views)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func format(items map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(items)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, items[k]))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/replica"
)

// replicas shows a replicated counter taking writes on both sides of a
// partition and converging after the heal.
func (d *demo) replicas(ctx context.Context) error {
	d.title("6. Writes on both sides of a partition converge after the heal")
	c, err := faultkit.NewCluster(ctx, faultkit.ClusterConfig{
		Names:    []string{"r1@demo", "r2@demo", "r3@demo"},
		Register: replica.RegisterTypes,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	names := c.Names()
	counters := make([]*replica.Counter, len(names))
	for i, name := range names {
		if counters[i], err = replica.NewCounter(c.Node(name), "page-views", replica.Config{Interval: 20 * time.Millisecond}); err != nil {
			return err
		}
		defer counters[i].Close()
	}
	values := func() string {
		s := ""
		for i, name := range names {
			s += fmt.Sprintf(" %s=%d", name, counters[i].Value())
		}
		return s
	}
	d.say("three nodes replicate a page-view counter (a CRDT: writes are local, merges need no coordination)")

	c.Network().Partition(faultkit.Isolate(names, "r1@demo"))
	d.say("the network splits r1 from r2 and r3")
	for range 5 {
		if err := counters[0].Add(1); err != nil {
			return err
		}
	}
	for range 7 {
		if err := counters[2].Add(1); err != nil {
			return err
		}
	}
	d.say("r1 counts 5 views and r3 counts 7, each at once, during the partition:%s", values())

	c.Network().Heal()
	healed := time.Now()
	if err := d.poll(ctx, func() bool {
		for _, ctr := range counters {
			if ctr.Value() != 12 {
				return false
			}
		}
		return true
	}); err != nil {
		return fmt.Errorf("demo: the counters did not converge:%s: %w", values(), err)
	}
	d.say("after the heal every node holds 12, %v later:%s", time.Since(healed).Round(time.Millisecond), values())
	return nil
}

package replica

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/grovedev/grove/faultkit"
)

// benchNode starts a one-node cluster: local updates, no peers.
func benchNode(b *testing.B) *faultkit.Cluster {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := faultkit.NewCluster(ctx, faultkit.ClusterConfig{Size: 1, Register: RegisterTypes})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkLocalUpdate measures local writes per type: the cost of the
// mutator, encoding the delta and logging it.
func BenchmarkLocalUpdate(b *testing.B) {
	b.Run("Counter", func(b *testing.B) {
		c := benchNode(b)
		r, err := NewCounter(c.Node(c.Names()[0]), "c", Config{})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		for b.Loop() {
			if err := r.Add(1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Set", func(b *testing.B) {
		c := benchNode(b)
		r, err := NewSet[int](c.Node(c.Names()[0]), "s", Config{})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		i := 0
		for b.Loop() {
			if err := r.Add(i % 10000); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Map", func(b *testing.B) {
		c := benchNode(b)
		r, err := NewMap[string, int](c.Node(c.Names()[0]), "m", Config{})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		keys := make([]string, 10000)
		for i := range keys {
			keys[i] = fmt.Sprint("k", i)
		}
		i := 0
		for b.Loop() {
			if err := r.Set(keys[i%len(keys)], i); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

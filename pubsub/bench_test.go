package pubsub

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/grovedev/grove/proc"
)

// One broadcast until every subscriber of the node has it, for process
// subscribers (each wakes up to handle it) and function subscribers.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{10_000, 300_000} {
		b.Run(fmt.Sprintf("process/%d", n), func(b *testing.B) {
			rt := newRuntime(b, "a@bench")
			ps, err := StartLocal(rt, Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer ps.Close()
			var got atomic.Int64
			done := make(chan struct{}, 1)
			target := int64(n)
			sub := proc.HandlerFunc(func(_ *proc.Process, msg any) {
				if got.Add(1)%target == 0 {
					done <- struct{}{}
				}
			})
			for range n {
				pid, _ := rt.Spawn(sub)
				ps.Subscribe(pid, "t")
			}
			b.ResetTimer()
			for b.Loop() {
				ps.Broadcast(context.Background(), "t", 1)
				<-done
			}
		})
		b.Run(fmt.Sprintf("inline/%d", n), func(b *testing.B) {
			rt := newRuntime(b, "a@bench")
			ps, err := StartLocal(rt, Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer ps.Close()
			var got atomic.Int64
			for range n {
				ps.SubscribeFunc("t", func(*Message) { got.Add(1) }, Inline())
			}
			b.ResetTimer()
			for b.Loop() {
				ps.Broadcast(context.Background(), "t", 1)
			}
			if got.Load()%int64(n) != 0 {
				b.Fatal(got.Load())
			}
		})
	}
}

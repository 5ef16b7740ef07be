package presence

import (
	"fmt"
	"sync"
	"testing"
)

// List of 100,000 presences while another goroutine updates them.
func BenchmarkList100k(b *testing.B) {
	rt, tr := newLocal(b)
	const n = 100_000
	changes := make([]Change, n)
	for i := range changes {
		changes[i] = Change{Op: Track, PID: spawnIdle(b, rt), Topic: "big", Key: fmt.Sprint(i), Meta: i}
	}
	if err := tr.Apply(changes...); err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c := changes[i%n]
			tr.Update(c.PID, "big", c.Key, i)
		}
	})
	b.ResetTimer()
	for b.Loop() {
		if l := tr.List("big"); len(l) != n {
			b.Fatal(len(l))
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
}

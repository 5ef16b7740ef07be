package resilience

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestSchedulerBounds runs the bulk scheduler with random keys, bounds and
// completion orders and checks: the bounds are never exceeded, every item
// starts exactly once, the item started is always the first in order whose
// node is below its bound, and nothing is left while a slot is free.
func TestSchedulerBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 60).Draw(t, "items")
		keys := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf("n%d", rapid.IntRange(0, 4).Draw(t, "key"))
		}
		limit := rapid.IntRange(1, 8).Draw(t, "limit")
		perKey := rapid.IntRange(0, 3).Draw(t, "perKey")
		s := newScheduler(keys, limit, perKey)
		started := make([]bool, n)
		var inflight []int
		per := map[string]int{}
		for {
			i, ok := s.take()
			if ok {
				if started[i] {
					t.Fatalf("item %d started twice", i)
				}
				// The first eligible item in order.
				for j := range i {
					if !started[j] && (perKey == 0 || per[keys[j]] < perKey) {
						t.Fatalf("item %d started before eligible item %d", i, j)
					}
				}
				started[i] = true
				inflight = append(inflight, i)
				per[keys[i]]++
				if len(inflight) > limit || (perKey > 0 && per[keys[i]] > perKey) {
					t.Fatalf("bounds exceeded: %d in flight, %d on %s", len(inflight), per[keys[i]], keys[i])
				}
				if rapid.Bool().Draw(t, "more") {
					continue
				}
			}
			if len(inflight) == 0 {
				break
			}
			k := rapid.IntRange(0, len(inflight)-1).Draw(t, "finish")
			done := inflight[k]
			inflight = slices.Delete(inflight, k, k+1)
			per[keys[done]]--
			s.done(done)
		}
		for i, ok := range started {
			if !ok {
				t.Fatalf("item %d never started", i)
			}
		}
		if r := s.remaining(); len(r) != 0 {
			t.Fatalf("remaining %v", r)
		}
	})
}

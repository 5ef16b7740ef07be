package shrinkmap_test

import (
	"fmt"
	"testing"

	"github.com/grovedev/grove/internal/shrinkmap"
)

func TestShrinkKeepsEntriesAndRebuildsAtAQuarter(t *testing.T) {
	m := map[int]int{}
	peak := 0
	for i := range 4096 {
		m[i] = i
		peak = max(peak, len(m))
	}
	rebuilds := 0
	for i := range 4096 {
		delete(m, i)
		before := fmt.Sprintf("%p", m)
		m, peak = shrinkmap.Shrink(m, peak)
		if fmt.Sprintf("%p", m) != before {
			rebuilds++
			if len(m) != 4096-i-1 || peak != len(m) {
				t.Fatalf("after %d deletions: len %d, peak %d", i+1, len(m), peak)
			}
		}
		for j := i + 1; j < i+3 && j < 4096; j++ {
			if m[j] != j {
				t.Fatalf("entry %d lost", j)
			}
		}
	}
	if rebuilds != 2 { // at 1024 entries left, then at 256; the peak is then below MinPeak
		t.Fatalf("%d rebuilds", rebuilds)
	}
}

func ExampleShrink() {
	m := map[string]int{}
	peak := 0
	for i := range 10_000 {
		m[fmt.Sprint(i)] = i
		peak = max(peak, len(m))
	}
	for i := range 9_000 {
		delete(m, fmt.Sprint(i))
		m, peak = shrinkmap.Shrink(m, peak)
	}
	fmt.Println(len(m), peak)
	// Output: 1000 2500
}

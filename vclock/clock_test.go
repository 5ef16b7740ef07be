package vclock

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// event is one event in the naive model: the n-th event of a node.
type event struct {
	node string
	n    uint64
}

// history is the naive model of a replica's causal past: the set of events
// it has seen.
type history map[event]bool

func subset(a, b history) bool {
	for e := range a {
		if !b[e] {
			return false
		}
	}
	return true
}

func modelOrder(a, b history) Ordering {
	ab, ba := subset(a, b), subset(b, a)
	switch {
	case ab && ba:
		return Equal
	case ab:
		return Before
	case ba:
		return After
	default:
		return Concurrent
	}
}

// TestCompareMatchesHistories drives replicas through local events and
// message receipts and checks that comparing their vector clocks agrees with
// comparing the sets of events they have seen.
func TestCompareMatchesHistories(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const n = 4
		nodes := []string{"a", "b", "c", "d"}
		clocks := make([]Clock, n)
		hist := make([]history, n)
		for i := range hist {
			hist[i] = history{}
		}
		steps := rapid.IntRange(0, 40).Draw(t, "steps")
		for range steps {
			i := rapid.IntRange(0, n-1).Draw(t, "i")
			if rapid.Bool().Draw(t, "local") {
				c := clocks[i].Increment(nodes[i])
				hist[i][event{nodes[i], c}] = true
				continue
			}
			j := rapid.IntRange(0, n-1).Draw(t, "from")
			clocks[i].Merge(clocks[j])
			for e := range hist[j] {
				hist[i][e] = true
			}
		}
		for i := range n {
			for j := range n {
				got, want := clocks[i].Compare(clocks[j]), modelOrder(hist[i], hist[j])
				if got != want {
					t.Fatalf("Compare(%v, %v) = %v, model says %v", clocks[i], clocks[j], got, want)
				}
				if d := clocks[i].Dominates(clocks[j]); d != (want == Equal || want == After) {
					t.Fatalf("Dominates(%v, %v) = %v, model says %v", clocks[i], clocks[j], d, want)
				}
			}
		}
	})
}

func TestMergeIsLeastUpperBound(t *testing.T) {
	gen := rapid.MapOf(rapid.SampledFrom([]string{"a", "b", "c"}), rapid.Uint64Range(0, 5))
	rapid.Check(t, func(t *rapid.T) {
		a, b := Clock(gen.Draw(t, "a")), Clock(gen.Draw(t, "b"))
		m := a.Copy()
		m.Merge(b)
		if !m.Dominates(a) || !m.Dominates(b) {
			t.Fatalf("merge %v of %v and %v does not dominate both", m, a, b)
		}
		for n, v := range m {
			if v != max(a[n], b[n]) {
				t.Fatalf("merge[%s] = %d, want %d", n, v, max(a[n], b[n]))
			}
		}
		m2 := b.Copy()
		m2.Merge(a)
		if m.Compare(m2) != Equal {
			t.Fatalf("merge not commutative: %v vs %v", m, m2)
		}
		if got, want := a.Compare(b), invert(b.Compare(a)); got != want {
			t.Fatalf("Compare not antisymmetric: %v vs %v", got, want)
		}
	})
}

func invert(o Ordering) Ordering {
	switch o {
	case Before:
		return After
	case After:
		return Before
	}
	return o
}

func TestZeroCountersAreAbsent(t *testing.T) {
	a := Clock{"x": 0, "y": 1}
	b := Clock{"y": 1}
	if a.Compare(b) != Equal || b.Compare(a) != Equal {
		t.Fatalf("zero counter changed the order: %v %v", a.Compare(b), b.Compare(a))
	}
	var nilClock Clock
	if nilClock.Compare(Clock{}) != Equal {
		t.Fatal("nil clock not equal to empty clock")
	}
	if got := nilClock.Increment("x"); got != 1 {
		t.Fatalf("Increment on nil clock = %d, want 1", got)
	}
}

func TestCopyIsIndependent(t *testing.T) {
	a := Clock{"x": 1}
	b := a.Copy()
	b.Increment("x")
	if a.Get("x") != 1 {
		t.Fatal("Copy shares storage")
	}
}

func TestResolveConcurrent(t *testing.T) {
	concat := func(x, y string) string {
		if x > y {
			x, y = y, x
		}
		return x + "+" + y
	}
	old := Versioned[string]{"old", Clock{"a": 1}}
	newer := Versioned[string]{"new", Clock{"a": 2}}
	other := Versioned[string]{"other", Clock{"a": 1, "b": 1}}
	tests := []struct {
		a, b      Versioned[string]
		wantValue string
		wantClock Clock
	}{
		{old, newer, "new", Clock{"a": 2}},
		{newer, old, "new", Clock{"a": 2}},
		{old, old, "old", Clock{"a": 1}},
		{newer, other, "new+other", Clock{"a": 2, "b": 1}},
		{other, newer, "new+other", Clock{"a": 2, "b": 1}},
	}
	for i, tt := range tests {
		got := ResolveConcurrent(tt.a, tt.b, concat)
		if got.Value != tt.wantValue || got.Clock.Compare(tt.wantClock) != Equal {
			t.Errorf("case %d: got %v %v, want %v %v", i, got.Value, got.Clock, tt.wantValue, tt.wantClock)
		}
	}
	got := ResolveConcurrent(old, newer, concat)
	got.Clock.Increment("a")
	if newer.Clock.Get("a") != 2 {
		t.Error("result clock shares storage with an input")
	}
}

func TestOrderingString(t *testing.T) {
	for o, want := range map[Ordering]string{Equal: "Equal", Before: "Before", After: "After", Concurrent: "Concurrent"} {
		if fmt.Sprint(o) != want {
			t.Errorf("%d.String() = %q, want %q", int(o), o.String(), want)
		}
	}
}

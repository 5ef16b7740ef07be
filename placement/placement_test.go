package placement

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/grovedev/grove/cluster"
)

func genCands(t *rapid.T) []Candidate {
	n := rapid.IntRange(1, 8).Draw(t, "n")
	var out []Candidate
	for i := range n {
		out = append(out, Candidate{
			Name: fmt.Sprintf("n%d@h", i),
			Meta: cluster.Meta{Region: rapid.SampledFrom([]string{"eu", "us"}).Draw(t, "region"), Roles: []string{rapid.SampledFrom([]string{"api", "db"}).Draw(t, "role")}},
			Load: rapid.IntRange(0, 50).Draw(t, "load"),
		})
	}
	return out
}

var strategies = map[string]Strategy{
	"bounded":     BoundedLoad{},
	"bounded1":    BoundedLoad{Factor: 1},
	"leastloaded": LeastLoaded{},
	"pinned":      Pinned{Region: "eu"},
	"pinnedrole":  Pinned{Role: "db", Then: LeastLoaded{}},
}

// TestPropertyDeterministic: the same key and candidates in any order give
// the same node, and it is one of the candidates (matching the pin).
func TestPropertyDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cands := genCands(t)
		key := rapid.String().Draw(t, "key")
		perm := rapid.Permutation(cands).Draw(t, "perm")
		for name, s := range strategies {
			a, errA := s.Place(key, cands)
			b, errB := s.Place(key, perm)
			if a != b || (errA == nil) != (errB == nil) {
				t.Fatalf("%s: %q,%v vs %q,%v for a permutation", name, a, errA, b, errB)
			}
			if errA != nil {
				if !errors.Is(errA, ErrNoCandidate) {
					t.Fatalf("%s: %v", name, errA)
				}
				continue
			}
			i := slices.IndexFunc(cands, func(c Candidate) bool { return c.Name == a })
			if i < 0 {
				t.Fatalf("%s chose %q, not a candidate", name, a)
			}
			if p, ok := s.(Pinned); ok && !p.Matches(cands[i].Meta) {
				t.Fatalf("%s chose %q, which does not match", name, a)
			}
		}
	})
}

// TestPropertyBoundedLoad: placing keys one after the other never loads a
// node beyond ceil(Factor × keys / nodes).
func TestPropertyBoundedLoad(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 10).Draw(t, "nodes")
		keys := rapid.IntRange(1, 300).Draw(t, "keys")
		factor := rapid.Float64Range(1, 2).Draw(t, "factor")
		cands := make([]Candidate, n)
		for i := range cands {
			cands[i].Name = fmt.Sprint("n", i)
		}
		s := BoundedLoad{Factor: factor}
		for k := range keys {
			name, err := s.Place(fmt.Sprint("key", k), cands)
			if err != nil {
				t.Fatal(err)
			}
			cands[slices.IndexFunc(cands, func(c Candidate) bool { return c.Name == name })].Load++
		}
		bound := int(math.Ceil(factor * float64(keys) / float64(n)))
		for _, c := range cands {
			if c.Load > bound {
				t.Fatalf("%s has %d keys, bound %d (%d keys, %d nodes, factor %.2f)", c.Name, c.Load, bound, keys, n, factor)
			}
		}
	})
}

// TestPropertyMinimalDisruption: with equal loads, removing a node that a
// key does not go to never moves the key.
func TestPropertyMinimalDisruption(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 10).Draw(t, "nodes")
		cands := make([]Candidate, n)
		for i := range cands {
			cands[i].Name = fmt.Sprint("n", i)
		}
		key := rapid.String().Draw(t, "key")
		chosen, _ := BoundedLoad{}.Place(key, cands)
		drop := rapid.IntRange(0, n-1).Draw(t, "drop")
		if cands[drop].Name == chosen {
			return
		}
		rest := slices.Delete(slices.Clone(cands), drop, drop+1)
		if again, _ := (BoundedLoad{}).Place(key, rest); again != chosen {
			t.Fatalf("removing %s moved %q from %s to %s", cands[drop].Name, key, chosen, again)
		}
	})
}

func TestLeastLoadedPicksTheLighterOfTwo(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cands := genCands(t)
		key := rapid.String().Draw(t, "key")
		got, _ := LeastLoaded{}.Place(key, cands)
		// The choice is never heavier than the other of its two.
		var load int
		for _, c := range cands {
			if c.Name == got {
				load = c.Load
			}
		}
		heavier := 0
		for _, c := range cands {
			if c.Load < load {
				heavier++
			}
		}
		if len(cands) == 2 && heavier > 0 {
			t.Fatalf("with two candidates chose the heavier: %v -> %s", cands, got)
		}
	})
}

func TestSpread(t *testing.T) {
	cands := []Candidate{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}
	counts := map[string]int{}
	for k := range 4000 {
		n, _ := BoundedLoad{}.Place(fmt.Sprint("k", k), cands)
		counts[n]++
	}
	for n, c := range counts {
		if c < 800 || c > 1200 {
			t.Fatalf("zero-load rendezvous spread is uneven: %s has %d of 4000 (%v)", n, c, counts)
		}
	}
}

func TestErrors(t *testing.T) {
	if _, err := (BoundedLoad{}).Place("k", nil); !errors.Is(err, ErrNoCandidate) {
		t.Fatal(err)
	}
	if _, err := (BoundedLoad{Factor: 0.5}).Place("k", []Candidate{{Name: "a"}}); err == nil {
		t.Fatal("factor below 1 accepted")
	}
	if _, err := (Pinned{Region: "mars"}).Place("k", []Candidate{{Name: "a"}}); !errors.Is(err, ErrNoCandidate) {
		t.Fatal(err)
	}
}

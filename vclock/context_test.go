package vclock

import (
	"testing"

	"pgregory.net/rapid"
)

var (
	genNode = rapid.SampledFrom([]string{"a", "b", "c"})
	genDot  = rapid.Custom(func(t *rapid.T) Dot {
		return Dot{Node: genNode.Draw(t, "node"), Counter: rapid.Uint64Range(1, 12).Draw(t, "counter")}
	})
)

// checkCompact fails unless cc is in normal form: no cloud dot is covered by
// or contiguous with the version vector.
func checkCompact(t *rapid.T, cc *CausalContext) {
	t.Helper()
	for d := range cc.cloud {
		if d.Counter <= cc.vv[d.Node]+1 {
			t.Fatalf("context not compact: cloud dot %v with vv %v", d, cc.vv)
		}
	}
}

// checkModel fails unless cc holds exactly the dots of the naive model.
func checkModel(t *rapid.T, cc *CausalContext, model map[Dot]bool) {
	t.Helper()
	checkCompact(t, cc)
	for _, n := range []string{"a", "b", "c"} {
		var m uint64
		for c := uint64(1); c <= 30; c++ {
			d := Dot{Node: n, Counter: c}
			if cc.Contains(d) != model[d] {
				t.Fatalf("Contains(%v) = %v, model %v", d, cc.Contains(d), model[d])
			}
			if model[d] {
				m = c
			}
		}
		if cc.Max(n) != m {
			t.Fatalf("Max(%s) = %d, model %d", n, cc.Max(n), m)
		}
	}
}

func TestCausalContextMatchesSetModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var cc CausalContext
		model := map[Dot]bool{}
		steps := rapid.IntRange(0, 40).Draw(t, "steps")
		for range steps {
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0:
				d := genDot.Draw(t, "dot")
				cc.Add(d)
				model[d] = true
			case 1:
				n := genNode.Draw(t, "node")
				d := cc.Next(n)
				if model[d] {
					t.Fatalf("Next(%s) = %v, already present", n, d)
				}
				for e := range model {
					if e.Node == n && e.Counter >= d.Counter {
						t.Fatalf("Next(%s) = %v, not past %v", n, d, e)
					}
				}
				model[d] = true
			case 2:
				other := NewCausalContext(nil, rapid.SliceOf(genDot).Draw(t, "other"))
				for _, d := range other.Cloud() {
					model[d] = true
				}
				for n, v := range other.VersionVector() {
					for c := uint64(1); c <= v; c++ {
						model[Dot{Node: n, Counter: c}] = true
					}
				}
				cc.Merge(other)
			}
			checkModel(t, &cc, model)
		}
		rebuilt := NewCausalContext(cc.VersionVector(), cc.Cloud())
		if !rebuilt.Equal(&cc) || !cc.Clone().Equal(&cc) {
			t.Fatal("rebuilding from VersionVector and Cloud changed the context")
		}
	})
}

func TestCausalContextMergeIsJoin(t *testing.T) {
	gen := rapid.Custom(func(t *rapid.T) *CausalContext {
		return NewCausalContext(nil, rapid.SliceOf(genDot).Draw(t, "dots"))
	})
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := gen.Draw(t, "a"), gen.Draw(t, "b"), gen.Draw(t, "c")
		ab := a.Clone()
		ab.Merge(b)
		ba := b.Clone()
		ba.Merge(a)
		if !ab.Equal(ba) {
			t.Fatal("Merge is not commutative")
		}
		abc1 := ab.Clone()
		abc1.Merge(c)
		bc := b.Clone()
		bc.Merge(c)
		abc2 := a.Clone()
		abc2.Merge(bc)
		if !abc1.Equal(abc2) {
			t.Fatal("Merge is not associative")
		}
		aa := a.Clone()
		aa.Merge(a)
		if !aa.Equal(a) {
			t.Fatal("Merge is not idempotent")
		}
	})
}

func TestStabilizeFoldsCloud(t *testing.T) {
	cc := NewCausalContext(Clock{"a": 1}, []Dot{{"a", 3}, {"a", 5}, {"b", 2}})
	cc.Stabilize(Clock{"a": 3})
	if got := cc.Cloud(); len(got) != 2 || got[0] != (Dot{"a", 5}) || got[1] != (Dot{"b", 2}) {
		t.Fatalf("cloud after Stabilize = %v", got)
	}
	if cc.VersionVector().Get("a") != 3 {
		t.Fatalf("vv after Stabilize = %v", cc.VersionVector())
	}
	if !cc.Contains(Dot{"a", 2}) || cc.Contains(Dot{"a", 4}) {
		t.Fatal("Stabilize changed the wrong dots")
	}
}

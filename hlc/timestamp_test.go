package hlc

import (
	"testing"

	"pgregory.net/rapid"
)

var genStamp = rapid.Custom(func(t *rapid.T) Stamp {
	return Stamp{
		TS:   Timestamp{WallNanos: rapid.Int64Range(0, 3).Draw(t, "wall"), Logical: rapid.Uint32Range(0, 3).Draw(t, "logical")},
		Node: rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "node"),
	}
})

func TestStampOrderIsTotal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := genStamp.Draw(t, "a"), genStamp.Draw(t, "b"), genStamp.Draw(t, "c")
		if a.Compare(b) != -b.Compare(a) {
			t.Fatalf("Compare not antisymmetric for %v, %v", a, b)
		}
		if (a.Compare(b) == 0) != (a == b) {
			t.Fatalf("Compare(%v, %v) = 0 for different stamps", a, b)
		}
		if a.Compare(b) <= 0 && b.Compare(c) <= 0 && a.Compare(c) > 0 {
			t.Fatalf("Compare not transitive for %v, %v, %v", a, b, c)
		}
		want := a.TS.WallNanos < b.TS.WallNanos ||
			(a.TS.WallNanos == b.TS.WallNanos && a.TS.Logical < b.TS.Logical) ||
			(a.TS == b.TS && a.Node < b.Node)
		if (a.Compare(b) < 0) != want {
			t.Fatalf("Compare(%v, %v) = %d, lexicographic order says %v", a, b, a.Compare(b), want)
		}
	})
}

func TestLWWPicksGreaterStampInEitherOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := Tagged[string]{Value: "a", Stamp: genStamp.Draw(t, "a")}
		b := Tagged[string]{Value: "b", Stamp: genStamp.Draw(t, "b")}
		if a.Stamp == b.Stamp {
			b.Value = "a"
		}
		x, y := LWW(a, b), LWW(b, a)
		if x != y {
			t.Fatalf("LWW depends on argument order: %v vs %v", x, y)
		}
		if x.Stamp.Compare(a.Stamp) < 0 || x.Stamp.Compare(b.Stamp) < 0 {
			t.Fatalf("LWW(%v, %v) = %v, not the last write", a, b, x)
		}
	})
}

package crdt

import (
	"strconv"
	"testing"

	"github.com/grovedev/grove/hlc"
)

// The benchmarks measure local updates (mutator plus delta) on a replica
// that already holds some state, cycling through a fixed set of keys.

const benchKeys = 1024

// sink keeps the deltas alive, as a replication service would send them.
var sink State

var benchKeyNames = func() []string {
	ks := make([]string, benchKeys)
	for i := range ks {
		ks[i] = "key-" + strconv.Itoa(i)
	}
	return ks
}()

func BenchmarkUpdateGCounter(b *testing.B) {
	c := NewGCounter()
	for i := 0; b.Loop(); i++ {
		sink = c.Increment(nodes[i%3], 1)
	}
}

func BenchmarkUpdatePNCounter(b *testing.B) {
	c := NewPNCounter()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			sink = c.Increment(nodes[i%3], 1)
		} else {
			sink = c.Decrement(nodes[i%3], 1)
		}
	}
}

func BenchmarkUpdateGSet(b *testing.B) {
	s := NewGSet[string]()
	for i := 0; b.Loop(); i++ {
		sink = s.Add(benchKeyNames[i%benchKeys])
	}
}

func BenchmarkUpdateTwoPSet(b *testing.B) {
	s := NewTwoPSet[string]()
	for i := 0; b.Loop(); i++ {
		if i%4 == 3 {
			sink = s.Remove(benchKeyNames[i%benchKeys])
		} else {
			sink = s.Add(benchKeyNames[i%benchKeys])
		}
	}
}

func BenchmarkUpdateORSet(b *testing.B) {
	s := NewORSet[string]()
	for i := 0; b.Loop(); i++ {
		if i%4 == 3 {
			sink = s.Remove(benchKeyNames[i%benchKeys])
		} else {
			sink = s.Add("n1", benchKeyNames[i%benchKeys])
		}
	}
}

func BenchmarkUpdateLWWRegister(b *testing.B) {
	r := NewLWWRegister[int]()
	for i := 0; b.Loop(); i++ {
		sink = r.Set("n1", i, hlc.Timestamp{WallNanos: int64(i)})
	}
}

func BenchmarkUpdateMVRegister(b *testing.B) {
	r := NewMVRegister[int]()
	for i := 0; b.Loop(); i++ {
		sink = r.Write("n1", i)
	}
}

func BenchmarkUpdateEWFlag(b *testing.B) {
	x := NewEWFlag()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			sink = x.Enable("n1")
		} else {
			sink = x.Disable()
		}
	}
}

func BenchmarkUpdateDWFlag(b *testing.B) {
	x := NewDWFlag()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			sink = x.Disable("n1")
		} else {
			sink = x.Enable()
		}
	}
}

func BenchmarkUpdateAWLWWMap(b *testing.B) {
	m := NewAWLWWMap[string, int]()
	for i := 0; b.Loop(); i++ {
		if i%4 == 3 {
			sink = m.Remove(benchKeyNames[i%benchKeys])
		} else {
			sink = m.Set("n1", benchKeyNames[i%benchKeys], i, hlc.Timestamp{WallNanos: int64(i)})
		}
	}
}

func BenchmarkUpdateORMap(b *testing.B) {
	m := NewORMap[string, *ORSet[string]]()
	for i := 0; b.Loop(); i++ {
		k := benchKeyNames[i%benchKeys]
		if i%4 == 3 {
			sink = m.Remove(k)
			continue
		}
		sink = m.Update(k, func(s *ORSet[string]) *ORSet[string] { return s.Add("n1", "member") })
	}
}

// BenchmarkMergeORSetDelta measures applying one add delta to a replica
// holding benchKeys elements: the receiving side of delta replication.
func BenchmarkMergeORSetDelta(b *testing.B) {
	src, dst := NewORSet[string](), NewORSet[string]()
	for _, k := range benchKeyNames {
		dst.Merge(src.Add("n1", k))
	}
	deltas := make([]*ORSet[string], benchKeys)
	for i, k := range benchKeyNames {
		deltas[i] = src.Add("n1", k)
	}
	for i := 0; b.Loop(); i++ {
		dst.Merge(deltas[i%benchKeys])
	}
}

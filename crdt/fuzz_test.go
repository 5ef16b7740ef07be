package crdt

import (
	"testing"

	"github.com/grovedev/grove/hlc"
)

// fuzzDecode checks that decoding arbitrary bytes as T never panics, and
// that whatever decodes re-encodes to a state that decodes to the same
// bytes again (the decoder only accepts valid states).
func fuzzDecode[T crdtType[T]](f *testing.F, empty func() T, seeds ...T) {
	for _, s := range seeds {
		data, err := s.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		v := empty()
		if err := v.UnmarshalBinary(data); err != nil {
			return
		}
		again, err := v.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding a decoded state: %v", err)
		}
		w := empty()
		if err := w.UnmarshalBinary(again); err != nil {
			t.Fatalf("decoding a re-encoded state: %v", err)
		}
		third, err := w.MarshalBinary()
		if err != nil || string(third) != string(again) {
			t.Fatalf("encoding not stable after decode: %x vs %x (%v)", again, third, err)
		}
		// A decoded state must be usable as a replica.
		c := v.Clone()
		c.Merge(w)
		c.GC(nil)
	})
}

func ts(wall int64) hlc.Timestamp { return hlc.Timestamp{WallNanos: wall} }

func FuzzGCounterUnmarshal(f *testing.F) {
	a := NewGCounter()
	a.Increment("n1", 3)
	a.Increment("n2", 5)
	fuzzDecode(f, NewGCounter, a, a.Increment("n1", 1))
}

func FuzzPNCounterUnmarshal(f *testing.F) {
	a := NewPNCounter()
	a.Increment("n1", 3)
	a.Decrement("n2", 5)
	fuzzDecode(f, NewPNCounter, a, a.Decrement("n1", 1))
}

func FuzzGSetUnmarshal(f *testing.F) {
	a := NewGSet[string]()
	a.Add("x")
	fuzzDecode(f, NewGSet[string], a, a.Add("y"))
}

func FuzzTwoPSetUnmarshal(f *testing.F) {
	a := NewTwoPSet[string]()
	a.Add("x")
	a.Add("y")
	fuzzDecode(f, NewTwoPSet[string], a, a.Remove("x"))
}

func FuzzORSetUnmarshal(f *testing.F) {
	a, b := NewORSet[string](), NewORSet[string]()
	a.Add("n1", "x")
	b.Merge(a.Add("n1", "y"))
	b.Add("n2", "x")
	d := b.Remove("y")
	a.Merge(b)
	fuzzDecode(f, NewORSet[string], a, b, d)
}

func FuzzORSetAnyUnmarshal(f *testing.F) {
	a := NewORSet[any]()
	a.Add("n1", "x")
	a.Add("n1", uint64(7))
	fuzzDecode(f, NewORSet[any], a)
}

func FuzzLWWRegisterUnmarshal(f *testing.F) {
	a := NewLWWRegister[string]()
	d := a.Set("n1", "v", ts(5))
	fuzzDecode(f, NewLWWRegister[string], a, d, NewLWWRegister[string]())
}

func FuzzMVRegisterUnmarshal(f *testing.F) {
	a, b := NewMVRegister[string](), NewMVRegister[string]()
	a.Write("n1", "x")
	b.Write("n2", "y")
	a.Merge(b)
	fuzzDecode(f, NewMVRegister[string], a, b.Reset())
}

func FuzzEWFlagUnmarshal(f *testing.F) {
	a, b := NewEWFlag(), NewEWFlag()
	a.Enable("n1")
	b.Enable("n2")
	a.Merge(b)
	fuzzDecode(f, NewEWFlag, a, b.Disable())
}

func FuzzDWFlagUnmarshal(f *testing.F) {
	a, b := NewDWFlag(), NewDWFlag()
	a.Disable("n1")
	b.Disable("n2")
	a.Merge(b)
	fuzzDecode(f, NewDWFlag, a, b.Enable())
}

func FuzzAWLWWMapUnmarshal(f *testing.F) {
	a, b := NewAWLWWMap[string, int](), NewAWLWWMap[string, int]()
	a.Set("n1", "k", 1, ts(1))
	b.Set("n2", "k", 2, ts(2))
	b.Set("n2", "j", 3, ts(3))
	a.Merge(b)
	fuzzDecode(f, NewAWLWWMap[string, int], a, b.Remove("j"))
}

func FuzzORMapUnmarshal(f *testing.F) {
	type inner = ORMap[string, *MVRegister[int]]
	a := NewORMap[string, *inner]()
	a.Update("x", func(m *inner) *inner {
		return m.Update("y", func(r *MVRegister[int]) *MVRegister[int] { return r.Write("n1", 1) })
	})
	d := a.Update("z", func(m *inner) *inner {
		return m.Update("y", func(r *MVRegister[int]) *MVRegister[int] { return r.Write("n2", 2) })
	})
	fuzzDecode(f, NewORMap[string, *inner], a, d, a.Remove("x"))
}

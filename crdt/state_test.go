package crdt

import (
	"errors"
	"testing"

	"github.com/grovedev/grove/hlc"
)

// allTypes returns one non-empty value of every type.
func allTypes() []State {
	gc := NewGCounter()
	gc.Increment("n1", 1)
	pn := NewPNCounter()
	pn.Decrement("n1", 1)
	gs := NewGSet[string]()
	gs.Add("x")
	tp := NewTwoPSet[string]()
	tp.Add("x")
	tp.Remove("y")
	or := NewORSet[string]()
	or.Add("n1", "x")
	lww := NewLWWRegister[string]()
	lww.Set("n1", "v", hlc.Timestamp{WallNanos: 1})
	mv := NewMVRegister[string]()
	mv.Write("n1", "v")
	ew := NewEWFlag()
	ew.Enable("n1")
	dw := NewDWFlag()
	dw.Disable("n1")
	aw := NewAWLWWMap[string, int]()
	aw.Set("n1", "k", 1, hlc.Timestamp{WallNanos: 1})
	om := NewORMap[string, *EWFlag]()
	om.Update("k", func(f *EWFlag) *EWFlag { return f.Enable("n1") })
	return []State{gc, pn, gs, tp, or, lww, mv, ew, dw, aw, om}
}

func TestJoinRejectsOtherTypes(t *testing.T) {
	all := allTypes()
	names := map[string]bool{}
	for i, a := range all {
		names[a.TypeName()] = true
		for j, b := range all {
			err := a.Join(b)
			if i == j {
				if err != nil {
					t.Errorf("%T.Join(same type): %v", a, err)
				}
				continue
			}
			var tm *TypeMismatchError
			if !errors.Is(err, ErrTypeMismatch) || !errors.As(err, &tm) {
				t.Errorf("%T.Join(%T) = %v, want a TypeMismatchError", a, b, err)
			}
		}
		if err := a.Join(nil); !errors.Is(err, ErrTypeMismatch) {
			t.Errorf("%T.Join(nil) = %v", a, err)
		}
	}
	if len(names) != len(all) {
		t.Errorf("type names are not distinct: %v", names)
	}
	// Same generic type, other type arguments.
	if err := NewORSet[string]().Join(NewORSet[int]()); !errors.Is(err, ErrTypeMismatch) {
		t.Errorf("ORSet[string].Join(ORSet[int]) = %v", err)
	}
}

// TestDecodeRejectsOtherTypes decodes every type's encoding as every other
// type: the type codes must make each fail, leaving the receiver as it was.
func TestDecodeRejectsOtherTypes(t *testing.T) {
	all := allTypes()
	for i, a := range all {
		data, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		for j, b := range allTypes() {
			before, _ := b.MarshalBinary()
			err := b.UnmarshalBinary(data)
			after, _ := b.MarshalBinary()
			if i == j {
				if err != nil {
					t.Errorf("%T: decoding its own encoding: %v", b, err)
				}
				continue
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%T.UnmarshalBinary(%T encoding) = %v, want ErrMalformed", b, a, err)
			}
			if string(before) != string(after) {
				t.Errorf("%T changed by a failed decode", b)
			}
		}
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	if err := r.Register("hits", func() State { return NewGCounter() }); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("hits", func() State { return NewGCounter() }); !errors.Is(err, ErrDuplicateType) {
		t.Fatalf("duplicate Register = %v", err)
	}
	if _, err := r.New("nope"); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("New(unknown) = %v", err)
	}
	c := NewGCounter()
	c.Increment("n1", 4)
	data, _ := c.MarshalBinary()
	s, err := r.Decode("hits", data)
	if err != nil {
		t.Fatal(err)
	}
	if s.(*GCounter).Value() != 4 {
		t.Fatalf("decoded value %d", s.(*GCounter).Value())
	}
	if _, err := r.Decode("hits", []byte{0xff}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Decode(garbage) = %v", err)
	}
	if got := r.Names(); len(got) != 1 || got[0] != "hits" {
		t.Fatalf("Names = %v", got)
	}
}

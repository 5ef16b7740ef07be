package crdt

import (
	"errors"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

func mustEncode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := encMode.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// orsetBytes encodes an ORSet[E] wire form with the given context and
// entries.
func orsetBytes[E any](t *testing.T, wc wireContext, entries []orsetEntry[E]) []byte {
	t.Helper()
	return mustEncode(t, wireCausal{Code: codeORSet, Context: wc, Store: mustEncode(t, entries)})
}

func TestDecodeRejectsInvalidStates(t *testing.T) {
	ctx := wireContext{Nodes: []string{"a", "b"}, VV: []uint64{2, 0}, Cloud: []wireDot{{Node: 1, Counter: 5}}}
	dot := func(n uint32, c uint64) []wireDot { return []wireDot{{Node: n, Counter: c}} }
	good := orsetBytes(t, ctx, []orsetEntry[string]{{Elem: "x", Dots: dot(0, 1)}, {Elem: "y", Dots: dot(1, 5)}})
	tests := map[string][]byte{
		"empty input":        {},
		"not an array":       {0x01},
		"trailing bytes":     append(append([]byte{}, good...), 0x00),
		"truncated":          good[:len(good)-1],
		"dot not in context": orsetBytes(t, ctx, []orsetEntry[string]{{Elem: "x", Dots: dot(0, 3)}}),
		"dot twice":          orsetBytes(t, ctx, []orsetEntry[string]{{Elem: "x", Dots: dot(0, 1)}, {Elem: "y", Dots: dot(0, 1)}}),
		"element twice":      orsetBytes(t, ctx, []orsetEntry[string]{{Elem: "x", Dots: dot(0, 1)}, {Elem: "x", Dots: dot(0, 2)}}),
		"element no dots":    orsetBytes(t, ctx, []orsetEntry[string]{{Elem: "x"}}),
		"zero counter":       orsetBytes(t, ctx, []orsetEntry[string]{{Elem: "x", Dots: dot(0, 0)}}),
		"huge cloud counter": orsetBytes(t, wireContext{Nodes: []string{"a"}, VV: []uint64{0}, Cloud: dot(0, 1<<63)}, []orsetEntry[string]{}),
		"huge vv counter":    orsetBytes(t, wireContext{Nodes: []string{"a"}, VV: []uint64{1 << 63}}, []orsetEntry[string]{}),
		"node out of range":  orsetBytes(t, ctx, []orsetEntry[string]{{Elem: "x", Dots: dot(7, 1)}}),
		"element wrong type": orsetBytes(t, ctx, []orsetEntry[int]{{Elem: 1, Dots: dot(0, 1)}}),
		"unsorted nodes": orsetBytes(t, wireContext{Nodes: []string{"b", "a"}, VV: []uint64{1, 1}},
			[]orsetEntry[string]{}),
		"vv length":         orsetBytes(t, wireContext{Nodes: []string{"a"}, VV: []uint64{1, 1}}, []orsetEntry[string]{}),
		"indefinite length": {0x9f, 0x05, 0xff},
		"tag":               {0xc1, 0x00},
		"too deep":          deepArray(MaxNesting + 1),
		"huge length claim": {0x9b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00},
	}
	s := NewORSet[string]()
	if err := s.UnmarshalBinary(good); err != nil {
		t.Fatalf("valid encoding rejected: %v", err)
	}
	if !s.Contains("x") || !s.Contains("y") || s.Len() != 2 {
		t.Fatalf("decoded %v", s.Elements())
	}
	for name, data := range tests {
		s := NewORSet[string]()
		s.Add("n1", "keep")
		if err := s.UnmarshalBinary(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
		if !s.Contains("keep") || s.Len() != 1 {
			t.Errorf("%s: failed decode changed the receiver", name)
		}
	}
}

func deepArray(depth int) []byte {
	b := make([]byte, 0, depth+1)
	for range depth {
		b = append(b, 0x81)
	}
	return append(b, 0x00)
}

// TestDecodeUncomparableElement: an ORSet[any] whose element decodes to a
// slice must fail, not panic when the slice is used as a map key.
func TestDecodeUncomparableElement(t *testing.T) {
	ctx := wireContext{Nodes: []string{"a"}, VV: []uint64{1}}
	for _, elem := range []any{[]any{1, 2}, map[string]int{"k": 1}} {
		data := mustEncode(t, wireCausal{Code: codeORSet, Context: ctx, Store: mustEncode(t, []orsetEntry[any]{
			{Elem: elem, Dots: []wireDot{{Node: 0, Counter: 1}}},
		})})
		if err := NewORSet[any]().UnmarshalBinary(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("element %v: err = %v, want ErrMalformed", elem, err)
		}
		g := mustEncode(t, wireSet{Code: codeGSet, Elems: []cbor.RawMessage{mustEncode(t, elem)}})
		if err := NewGSet[any]().UnmarshalBinary(g); !errors.Is(err, ErrMalformed) {
			t.Errorf("gset element %v: err = %v, want ErrMalformed", elem, err)
		}
	}
}

func TestEncodingIsCompact(t *testing.T) {
	s := NewORSet[string]()
	for _, e := range []string{"a", "b", "c", "d"} {
		s.Add("node-with-a-long-name", e)
	}
	data, _ := s.MarshalBinary()
	// The node id is written once, in the node table, not per dot.
	if len(data) > 60 {
		t.Fatalf("4-element set encodes to %d bytes: %x", len(data), data)
	}
}

func TestDecodeRejectsInvalidKeySets(t *testing.T) {
	ctx := wireContext{Nodes: []string{"a"}, VV: []uint64{1}}
	store := mustEncode(t, []orsetEntry[string]{{Elem: "x", Dots: []wireDot{{Node: 0, Counter: 1}}}})
	outside := mustEncode(t, wireCausal{Code: codeORSet, Context: ctx, Store: store,
		Touched: mustEncode(t, []cbor.RawMessage{mustEncode(t, "y")})})
	if err := NewORSet[string]().UnmarshalBinary(outside); !errors.Is(err, ErrMalformed) {
		t.Errorf("delta entry outside its key set: err = %v", err)
	}
	inside := mustEncode(t, wireCausal{Code: codeORSet, Context: ctx, Store: store,
		Touched: mustEncode(t, []cbor.RawMessage{mustEncode(t, "x"), mustEncode(t, "y")})})
	if err := NewORSet[string]().UnmarshalBinary(inside); err != nil {
		t.Errorf("valid delta rejected: %v", err)
	}
	flag := mustEncode(t, wireCausal{Code: codeEWFlag, Context: ctx, Store: mustEncode(t, []wireDot{}),
		Touched: mustEncode(t, []cbor.RawMessage{})})
	if err := NewEWFlag().UnmarshalBinary(flag); !errors.Is(err, ErrMalformed) {
		t.Errorf("key set on a flag: err = %v", err)
	}
}

package crdt

import (
	"iter"
	"maps"
	"slices"

	"github.com/fxamacker/cbor/v2"
	"github.com/grovedev/grove/vclock"
)

// GSet is a grow-only set: elements can be added, never removed.
//
// The zero value is an empty set ready to use. A GSet is not safe for
// concurrent use.
type GSet[E comparable] struct {
	elems map[E]struct{}
}

// NewGSet returns an empty set.
func NewGSet[E comparable]() *GSet[E] { return &GSet[E]{} }

// Add adds e and returns the delta.
func (s *GSet[E]) Add(e E) *GSet[E] {
	if s.elems == nil {
		s.elems = make(map[E]struct{})
	}
	s.elems[e] = struct{}{}
	return &GSet[E]{elems: map[E]struct{}{e: {}}}
}

// Contains reports whether e is in the set.
func (s *GSet[E]) Contains(e E) bool {
	_, ok := s.elems[e]
	return ok
}

// Len returns the number of elements.
func (s *GSet[E]) Len() int { return len(s.elems) }

// All returns the elements, in no particular order.
func (s *GSet[E]) All() iter.Seq[E] { return maps.Keys(s.elems) }

// Elements returns the elements in a new slice, in no particular order.
func (s *GSet[E]) Elements() []E { return slices.Collect(s.All()) }

// Merge joins other, a full state or a delta, into s.
func (s *GSet[E]) Merge(other *GSet[E]) {
	for e := range other.elems {
		if s.elems == nil {
			s.elems = make(map[E]struct{}, len(other.elems))
		}
		s.elems[e] = struct{}{}
	}
}

// Join merges other into s; other must be a *GSet[E].
func (s *GSet[E]) Join(other State) error { return joinAs(s, other) }

// Clone returns an independent copy of s.
func (s *GSet[E]) Clone() *GSet[E] { return &GSet[E]{elems: maps.Clone(s.elems)} }

// TypeName returns "gset".
func (s *GSet[E]) TypeName() string { return "gset" }

// GC does nothing: a GSet has no metadata beyond its elements.
func (s *GSet[E]) GC(vclock.Clock) {}

// wireSet is the encoding of a GSet: its elements, each encoded, in
// bytewise order.
type wireSet struct {
	_     struct{} `cbor:",toarray"`
	Code  uint8
	Elems []cbor.RawMessage
}

// MarshalBinary encodes s.
func (s *GSet[E]) MarshalBinary() ([]byte, error) {
	elems, err := encodeSorted(slices.Collect(maps.Keys(s.elems)))
	if err != nil {
		return nil, err
	}
	return encMode.Marshal(wireSet{Code: codeGSet, Elems: elems})
}

// UnmarshalBinary replaces s with the decoded state.
func (s *GSet[E]) UnmarshalBinary(data []byte) error {
	var w wireSet
	if err := decode(data, &w); err != nil {
		return err
	}
	if w.Code != codeGSet {
		return malformed("type code %d, want %d", w.Code, codeGSet)
	}
	elems, err := decodeElems[E](w.Elems)
	if err != nil {
		return err
	}
	s.elems = elems
	return nil
}

// decodeElems decodes a set of distinct elements.
func decodeElems[E comparable](raws []cbor.RawMessage) (map[E]struct{}, error) {
	elems := make(map[E]struct{}, len(raws))
	for _, raw := range raws {
		var e E
		if err := decode(raw, &e); err != nil {
			return nil, err
		}
		if err := checkKey(e); err != nil {
			return nil, err
		}
		if _, dup := elems[e]; dup {
			return nil, malformed("element %v appears twice", e)
		}
		elems[e] = struct{}{}
	}
	return elems, nil
}

package crdt

import (
	"iter"
	"maps"
	"slices"

	"github.com/fxamacker/cbor/v2"
	"github.com/grovedev/grove/vclock"
)

// TwoPSet is a two-phase set: an element can be added and then removed,
// and once removed it can never be added again (remove wins, for ever).
//
// Cost: a removed element stays in the state as a tombstone for the life
// of the set, and GC cannot drop it, since an add of the element that is
// still in flight (or replayed) would otherwise bring it back. Prefer ORSet
// unless removals must be permanent.
//
// The zero value is an empty set ready to use. A TwoPSet is not safe for
// concurrent use.
type TwoPSet[E comparable] struct {
	added   map[E]struct{} // never holds a removed element
	removed map[E]struct{}
}

// NewTwoPSet returns an empty set.
func NewTwoPSet[E comparable]() *TwoPSet[E] { return &TwoPSet[E]{} }

// Add adds e and returns the delta. Adding an element that was removed
// has no effect.
func (s *TwoPSet[E]) Add(e E) *TwoPSet[E] {
	d := &TwoPSet[E]{added: map[E]struct{}{e: {}}}
	s.Merge(d)
	return d
}

// Remove removes e for ever and returns the delta. Removing an element not
// yet added keeps it from ever being added.
func (s *TwoPSet[E]) Remove(e E) *TwoPSet[E] {
	d := &TwoPSet[E]{removed: map[E]struct{}{e: {}}}
	s.Merge(d)
	return d
}

// Contains reports whether e was added and not removed.
func (s *TwoPSet[E]) Contains(e E) bool {
	_, ok := s.added[e]
	return ok
}

// Removed reports whether e has a tombstone.
func (s *TwoPSet[E]) Removed(e E) bool {
	_, ok := s.removed[e]
	return ok
}

// Len returns the number of elements (not counting tombstones).
func (s *TwoPSet[E]) Len() int { return len(s.added) }

// All returns the elements, in no particular order.
func (s *TwoPSet[E]) All() iter.Seq[E] { return maps.Keys(s.added) }

// Elements returns the elements in a new slice, in no particular order.
func (s *TwoPSet[E]) Elements() []E { return slices.Collect(s.All()) }

// Merge joins other, a full state or a delta, into s.
func (s *TwoPSet[E]) Merge(other *TwoPSet[E]) {
	for e := range other.removed {
		if s.removed == nil {
			s.removed = make(map[E]struct{}, len(other.removed))
		}
		s.removed[e] = struct{}{}
		delete(s.added, e)
	}
	for e := range other.added {
		if _, gone := s.removed[e]; gone {
			continue
		}
		if s.added == nil {
			s.added = make(map[E]struct{}, len(other.added))
		}
		s.added[e] = struct{}{}
	}
}

// Join merges other into s; other must be a *TwoPSet[E].
func (s *TwoPSet[E]) Join(other State) error { return joinAs(s, other) }

// Clone returns an independent copy of s.
func (s *TwoPSet[E]) Clone() *TwoPSet[E] {
	return &TwoPSet[E]{added: maps.Clone(s.added), removed: maps.Clone(s.removed)}
}

// TypeName returns "2pset".
func (s *TwoPSet[E]) TypeName() string { return "2pset" }

// GC does nothing: tombstones must stay (see the type's documentation).
func (s *TwoPSet[E]) GC(vclock.Clock) {}

// wireTwoPSet is the encoding of a TwoPSet.
type wireTwoPSet struct {
	_       struct{} `cbor:",toarray"`
	Code    uint8
	Added   []cbor.RawMessage
	Removed []cbor.RawMessage
}

// MarshalBinary encodes s.
func (s *TwoPSet[E]) MarshalBinary() ([]byte, error) {
	added, err := encodeSorted(slices.Collect(maps.Keys(s.added)))
	if err != nil {
		return nil, err
	}
	removed, err := encodeSorted(slices.Collect(maps.Keys(s.removed)))
	if err != nil {
		return nil, err
	}
	return encMode.Marshal(wireTwoPSet{Code: codeTwoPSet, Added: added, Removed: removed})
}

// UnmarshalBinary replaces s with the decoded state.
func (s *TwoPSet[E]) UnmarshalBinary(data []byte) error {
	var w wireTwoPSet
	if err := decode(data, &w); err != nil {
		return err
	}
	if w.Code != codeTwoPSet {
		return malformed("type code %d, want %d", w.Code, codeTwoPSet)
	}
	added, err := decodeElems[E](w.Added)
	if err != nil {
		return err
	}
	removed, err := decodeElems[E](w.Removed)
	if err != nil {
		return err
	}
	for e := range added {
		if _, ok := removed[e]; ok {
			return malformed("element %v both added and removed", e)
		}
	}
	s.added, s.removed = added, removed
	return nil
}

package crdt

import (
	"iter"
	"maps"
	"slices"

	"github.com/fxamacker/cbor/v2"
	"github.com/grovedev/grove/vclock"
)

// ORSet is an add-wins observed-remove set: a remove takes away the adds it
// has seen, and an add concurrent with a remove survives it. Each element
// keeps the dots of its unobserved-by-removers adds; a removed element
// leaves no tombstone, only its dots in the causal context.
//
// The zero value is an empty set ready to use. An ORSet is not safe for
// concurrent use.
type ORSet[E comparable] struct {
	entries map[E]dotSet
	cc      *vclock.CausalContext
}

var _ Causal[*ORSet[string]] = (*ORSet[string])(nil)

// NewORSet returns an empty set.
func NewORSet[E comparable]() *ORSet[E] { return &ORSet[E]{} }

func (s *ORSet[E]) ctx() *vclock.CausalContext {
	if s.cc == nil {
		s.cc = new(vclock.CausalContext)
	}
	return s.cc
}

// Add adds e on behalf of replica node and returns the delta. The add
// replaces the dots of every add of e this replica has seen.
func (s *ORSet[E]) Add(node string, e E) *ORSet[E] {
	d := s.ctx().Next(node)
	dc := new(vclock.CausalContext)
	dc.Add(d)
	s.entries[e].addTo(dc)
	if s.entries == nil {
		s.entries = make(map[E]dotSet)
	}
	s.entries[e] = singleDot(d)
	return &ORSet[E]{entries: map[E]dotSet{e: singleDot(d)}, cc: dc}
}

// Remove removes e, undoing every add of e this replica has seen, and
// returns the delta. Removing an absent element returns an empty delta.
func (s *ORSet[E]) Remove(e E) *ORSet[E] {
	dc := new(vclock.CausalContext)
	s.entries[e].addTo(dc)
	delete(s.entries, e)
	return &ORSet[E]{cc: dc}
}

// Clear removes every element and returns the delta.
func (s *ORSet[E]) Clear() *ORSet[E] {
	dc := new(vclock.CausalContext)
	s.addDots(dc)
	clear(s.entries)
	return &ORSet[E]{cc: dc}
}

// Contains reports whether e is in the set.
func (s *ORSet[E]) Contains(e E) bool {
	_, ok := s.entries[e]
	return ok
}

// Len returns the number of elements.
func (s *ORSet[E]) Len() int { return len(s.entries) }

// All returns the elements, in no particular order.
func (s *ORSet[E]) All() iter.Seq[E] { return maps.Keys(s.entries) }

// Elements returns the elements in a new slice, in no particular order.
func (s *ORSet[E]) Elements() []E { return slices.Collect(s.All()) }

// Merge joins other, a full state or a delta, into s.
func (s *ORSet[E]) Merge(other *ORSet[E]) {
	s.joinStore(other, orEmpty(s.cc), orEmpty(other.cc))
	s.ctx().Merge(other.cc)
}

// Join merges other into s; other must be an *ORSet[E].
func (s *ORSet[E]) Join(other State) error { return joinAs(s, other) }

// Clone returns an independent copy of s.
func (s *ORSet[E]) Clone() *ORSet[E] { return s.cloneStore(orEmpty(s.cc).Clone()) }

// Context returns a copy of the causal context.
func (s *ORSet[E]) Context() *vclock.CausalContext { return orEmpty(s.cc).Clone() }

// TypeName returns "orset".
func (s *ORSet[E]) TypeName() string { return "orset" }

// GC compacts the causal context against the stability frontier. An ORSet
// keeps no tombstones, so there is nothing else to drop.
func (s *ORSet[E]) GC(stable vclock.Clock) { s.ctx().Stabilize(stable) }

// MarshalBinary encodes s.
func (s *ORSet[E]) MarshalBinary() ([]byte, error) { return marshalCausal(codeORSet, s, s.cc) }

// UnmarshalBinary replaces s with the decoded state.
func (s *ORSet[E]) UnmarshalBinary(data []byte) error {
	v, err := unmarshalCausal[*ORSet[E]](codeORSet, data)
	if err == nil {
		*s = *v
	}
	return err
}

func (*ORSet[E]) empty() *ORSet[E] { return &ORSet[E]{} }

func (s *ORSet[E]) shareContext(cc *vclock.CausalContext) { s.cc = cc }

func (s *ORSet[E]) joinStore(other *ORSet[E], sc, oc *vclock.CausalContext) {
	for e, ds := range s.entries {
		if ds = joinDotFun(ds, sc, other.entries[e], oc); len(ds) == 0 {
			delete(s.entries, e)
		} else {
			s.entries[e] = ds
		}
	}
	for e, ods := range other.entries {
		if _, ok := s.entries[e]; ok {
			continue
		}
		if ds := joinDotFun(nil, sc, ods, oc); len(ds) > 0 {
			if s.entries == nil {
				s.entries = make(map[E]dotSet)
			}
			s.entries[e] = ds
		}
	}
}

func (s *ORSet[E]) isBottom() bool { return len(s.entries) == 0 }

func (s *ORSet[E]) addDots(cc *vclock.CausalContext) {
	for _, ds := range s.entries {
		ds.addTo(cc)
	}
}

func (s *ORSet[E]) cloneStore(cc *vclock.CausalContext) *ORSet[E] {
	out := &ORSet[E]{cc: cc}
	if len(s.entries) > 0 {
		out.entries = make(map[E]dotSet, len(s.entries))
		for e, ds := range s.entries {
			out.entries[e] = maps.Clone(ds)
		}
	}
	return out
}

// orsetEntry is an element and its dots on the wire.
type orsetEntry[E any] struct {
	_    struct{} `cbor:",toarray"`
	Elem E
	Dots []wireDot
}

func (s *ORSet[E]) encodeStore(enc *dotEncoder) (any, error) {
	entries := make([]orsetEntry[E], 0, len(s.entries))
	for e, ds := range s.entries {
		entries = append(entries, orsetEntry[E]{Elem: e, Dots: encodeDotSet(enc, ds)})
	}
	return encodeSorted(entries)
}

func (s *ORSet[E]) decodeStore(dec *dotDecoder, raw cbor.RawMessage) error {
	var entries []orsetEntry[E]
	if err := decode(raw, &entries); err != nil {
		return err
	}
	s.entries = make(map[E]dotSet, len(entries))
	for _, w := range entries {
		if err := checkKey(w.Elem); err != nil {
			return err
		}
		if _, dup := s.entries[w.Elem]; dup {
			return malformed("element %v appears twice", w.Elem)
		}
		if len(w.Dots) == 0 {
			return malformed("element %v without dots", w.Elem)
		}
		ds, err := decodeDotSet(dec, w.Dots)
		if err != nil {
			return err
		}
		s.entries[w.Elem] = ds
	}
	return nil
}

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
	touched touchSet[E] // nil for a full state
}

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
	return &ORSet[E]{entries: map[E]dotSet{e: singleDot(d)}, cc: dc, touched: touch(e)}
}

// Remove removes e, undoing every add of e this replica has seen, and
// returns the delta. Removing an absent element returns an empty delta.
func (s *ORSet[E]) Remove(e E) *ORSet[E] {
	dc := new(vclock.CausalContext)
	s.entries[e].addTo(dc)
	delete(s.entries, e)
	return &ORSet[E]{cc: dc, touched: touch(e)}
}

// Clear removes every element and returns the delta.
func (s *ORSet[E]) Clear() *ORSet[E] {
	dc := new(vclock.CausalContext)
	s.addDots(dc)
	touched := touch(s.Elements()...)
	clear(s.entries)
	return &ORSet[E]{cc: dc, touched: touched}
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

// Merge joins other, a full state or a delta, into s. Joining a delta
// costs the size of the delta, not of s.
func (s *ORSet[E]) Merge(other *ORSet[E]) {
	sc, oc := orEmpty(s.cc), orEmpty(other.cc)
	if other.touched == nil {
		s.joinStore(other, sc, oc)
	} else {
		for e := range other.touched {
			s.joinKey(e, other, sc, oc)
		}
	}
	s.touched = s.touched.merge(other.touched)
	s.ctx().Merge(other.cc)
}

// Join merges other into s; other must be an *ORSet[E].
func (s *ORSet[E]) Join(other State) error { return joinAs(s, other) }

// Clone returns an independent copy of s.
func (s *ORSet[E]) Clone() *ORSet[E] {
	c := s.cloneStore(orEmpty(s.cc).Clone())
	c.touched = maps.Clone(s.touched)
	return c
}

// Context returns a copy of the causal context.
func (s *ORSet[E]) Context() *vclock.CausalContext { return orEmpty(s.cc).Clone() }

// TypeName returns "orset".
func (s *ORSet[E]) TypeName() string { return "orset" }

// GC compacts the causal context against the stability frontier. An ORSet
// keeps no tombstones, so there is nothing else to drop.
func (s *ORSet[E]) GC(stable vclock.Clock) { s.ctx().Stabilize(stable) }

// MarshalBinary encodes s.
func (s *ORSet[E]) MarshalBinary() ([]byte, error) {
	touched, err := s.touched.encode()
	if err != nil {
		return nil, err
	}
	return marshalCausal(codeORSet, s, s.cc, touched)
}

// UnmarshalBinary replaces s with the decoded state.
func (s *ORSet[E]) UnmarshalBinary(data []byte) error {
	v, raw, err := unmarshalCausal[*ORSet[E]](codeORSet, data, true)
	if err != nil {
		return err
	}
	if v.touched, err = decodeTouched[E](raw); err != nil {
		return err
	}
	if err := checkCovers(v.touched, v.entries); err != nil {
		return err
	}
	*s = *v
	return nil
}

func (*ORSet[E]) empty() *ORSet[E] { return &ORSet[E]{} }

func (s *ORSet[E]) shareContext(cc *vclock.CausalContext) { s.cc = cc }

func (s *ORSet[E]) joinStore(other *ORSet[E], sc, oc *vclock.CausalContext) {
	for e := range s.entries {
		s.joinKey(e, other, sc, oc)
	}
	for e := range other.entries {
		if _, ok := s.entries[e]; !ok {
			s.joinKey(e, other, sc, oc)
		}
	}
}

// joinKey joins other's dots for e into s's.
func (s *ORSet[E]) joinKey(e E, other *ORSet[E], sc, oc *vclock.CausalContext) {
	ds := joinDotFun(s.entries[e], sc, other.entries[e], oc)
	switch {
	case len(ds) > 0 && s.entries == nil:
		s.entries = map[E]dotSet{e: ds}
	case len(ds) > 0:
		s.entries[e] = ds
	default:
		delete(s.entries, e)
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

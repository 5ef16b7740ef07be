package crdt

import (
	"iter"
	"maps"

	"github.com/fxamacker/cbor/v2"
	"github.com/grovedev/grove/vclock"
)

// ORMap is an observed-remove map whose values are causal CRDTs (ORSet,
// MVRegister, EWFlag, DWFlag, AWLWWMap or ORMap itself). The values share
// the map's causal context and are joined key by key. A key is present
// while its value holds a dot: Remove takes away every update of the key
// the remover has seen, and an update concurrent with a Remove survives it
// (update wins). A removed key leaves no tombstone.
//
// V is the pointer type of the values, as in
// ORMap[string, *ORSet[string]]. The zero value is an empty map ready to
// use. An ORMap is not safe for concurrent use.
type ORMap[K comparable, V Causal[V]] struct {
	entries map[K]V
	cc      *vclock.CausalContext
	touched touchSet[K] // nil for a full state
}

// NewORMap returns an empty map.
func NewORMap[K comparable, V Causal[V]]() *ORMap[K, V] { return &ORMap[K, V]{} }

func (m *ORMap[K, V]) ctx() *vclock.CausalContext {
	if m.cc == nil {
		m.cc = new(vclock.CausalContext)
		for _, v := range m.entries {
			v.shareContext(m.cc)
		}
	}
	return m.cc
}

// Update applies fn to the value of key k (an empty value if k is absent)
// and returns the delta of the map. fn must change the value only through
// its mutators, with this replica's node id, and return the delta they
// return; to make several changes, Merge their deltas and return the
// result. A nil delta means no change. If fn returns the value itself, the
// delta is a copy of the whole map: correct, but as large as the state.
//
//	m.Update("cart", func(s *crdt.ORSet[string]) *crdt.ORSet[string] {
//		return s.Add("n1", "apple")
//	})
func (m *ORMap[K, V]) Update(k K, fn func(V) V) *ORMap[K, V] {
	cc := m.ctx()
	v, ok := m.entries[k]
	if !ok {
		var zero V
		v = zero.empty()
		v.shareContext(cc)
	}
	d := fn(v)
	if v.isBottom() {
		delete(m.entries, k)
	} else if !ok {
		if m.entries == nil {
			m.entries = make(map[K]V)
		}
		m.entries[k] = v
	}
	delta := &ORMap[K, V]{cc: new(vclock.CausalContext), touched: touch(k)}
	if any(d) == nil || isNilPointer(d) {
		return delta
	}
	if any(d) == any(v) {
		return m.Clone()
	}
	delta.cc = d.Context()
	if !d.isBottom() {
		delta.entries = map[K]V{k: d.cloneStore(delta.cc)}
	}
	return delta
}

// Remove removes key k, undoing every update of it this replica has seen,
// and returns the delta.
func (m *ORMap[K, V]) Remove(k K) *ORMap[K, V] {
	dc := new(vclock.CausalContext)
	if v, ok := m.entries[k]; ok {
		v.addDots(dc)
		delete(m.entries, k)
	}
	return &ORMap[K, V]{cc: dc, touched: touch(k)}
}

// Get returns the value of key k. The value belongs to the map: read it,
// and change it only through Update.
func (m *ORMap[K, V]) Get(k K) (V, bool) {
	v, ok := m.entries[k]
	return v, ok
}

// Contains reports whether key k is present.
func (m *ORMap[K, V]) Contains(k K) bool {
	_, ok := m.entries[k]
	return ok
}

// Len returns the number of keys.
func (m *ORMap[K, V]) Len() int { return len(m.entries) }

// All returns the keys and values, in no particular order. The values
// belong to the map, as for Get.
func (m *ORMap[K, V]) All() iter.Seq2[K, V] { return maps.All(m.entries) }

// Merge joins other, a full state or a delta, into m. Joining a delta
// visits only the keys it touches (joining their values in full).
func (m *ORMap[K, V]) Merge(other *ORMap[K, V]) {
	sc, oc := m.ctx(), orEmpty(other.cc)
	if other.touched == nil {
		m.joinStore(other, sc, oc)
	} else {
		var zero V
		none := zero.empty()
		for k := range other.touched {
			m.joinKey(k, other, none, sc, oc)
		}
	}
	m.touched = m.touched.merge(other.touched)
	m.cc.Merge(other.cc)
}

// Join merges other into m; other must be an *ORMap[K, V].
func (m *ORMap[K, V]) Join(other State) error { return joinAs(m, other) }

// Clone returns an independent copy of m.
func (m *ORMap[K, V]) Clone() *ORMap[K, V] {
	c := m.cloneStore(orEmpty(m.cc).Clone())
	c.touched = maps.Clone(m.touched)
	return c
}

// Context returns a copy of the causal context.
func (m *ORMap[K, V]) Context() *vclock.CausalContext { return orEmpty(m.cc).Clone() }

// TypeName returns "ormap".
func (m *ORMap[K, V]) TypeName() string { return "ormap" }

// GC compacts the causal context, which the values share, against the
// stability frontier.
func (m *ORMap[K, V]) GC(stable vclock.Clock) { m.ctx().Stabilize(stable) }

// MarshalBinary encodes m.
func (m *ORMap[K, V]) MarshalBinary() ([]byte, error) {
	touched, err := m.touched.encode()
	if err != nil {
		return nil, err
	}
	return marshalCausal(codeORMap, m, m.cc, touched)
}

// UnmarshalBinary replaces m with the decoded state.
func (m *ORMap[K, V]) UnmarshalBinary(data []byte) error {
	v, raw, err := unmarshalCausal[*ORMap[K, V]](codeORMap, data, true)
	if err != nil {
		return err
	}
	if v.touched, err = decodeTouched[K](raw); err != nil {
		return err
	}
	if err := checkCovers(v.touched, v.entries); err != nil {
		return err
	}
	*m = *v
	return nil
}

func (*ORMap[K, V]) empty() *ORMap[K, V] { return &ORMap[K, V]{} }

func (m *ORMap[K, V]) shareContext(cc *vclock.CausalContext) {
	m.cc = cc
	for _, v := range m.entries {
		v.shareContext(cc)
	}
}

func (m *ORMap[K, V]) joinStore(other *ORMap[K, V], sc, oc *vclock.CausalContext) {
	var zero V
	none := zero.empty()
	for k := range m.entries {
		m.joinKey(k, other, none, sc, oc)
	}
	for k := range other.entries {
		if _, ok := m.entries[k]; !ok {
			m.joinKey(k, other, none, sc, oc)
		}
	}
}

// joinKey joins other's value of k into m's. none is an empty value that
// stands for the value of a key a side lacks; it is never changed.
func (m *ORMap[K, V]) joinKey(k K, other *ORMap[K, V], none V, sc, oc *vclock.CausalContext) {
	ov, ok := other.entries[k]
	if !ok {
		ov = none
	}
	v, ok := m.entries[k]
	if !ok {
		var zero V
		v = zero.empty()
		v.shareContext(m.cc)
	}
	v.joinStore(ov, sc, oc)
	switch {
	case v.isBottom():
		delete(m.entries, k)
	case !ok && m.entries == nil:
		m.entries = map[K]V{k: v}
	case !ok:
		m.entries[k] = v
	}
}

func (m *ORMap[K, V]) isBottom() bool { return len(m.entries) == 0 }

func (m *ORMap[K, V]) addDots(cc *vclock.CausalContext) {
	for _, v := range m.entries {
		v.addDots(cc)
	}
}

func (m *ORMap[K, V]) cloneStore(cc *vclock.CausalContext) *ORMap[K, V] {
	out := &ORMap[K, V]{cc: cc}
	if len(m.entries) > 0 {
		out.entries = make(map[K]V, len(m.entries))
		for k, v := range m.entries {
			out.entries[k] = v.cloneStore(cc)
		}
	}
	return out
}

// ormapEntry is a key and its value's store on the wire.
type ormapEntry[K any] struct {
	_     struct{} `cbor:",toarray"`
	Key   K
	Store cbor.RawMessage
}

func (m *ORMap[K, V]) encodeStore(enc *dotEncoder) (any, error) {
	entries := make([]ormapEntry[K], 0, len(m.entries))
	for k, v := range m.entries {
		store, err := v.encodeStore(enc)
		if err != nil {
			return nil, err
		}
		raw, err := encMode.Marshal(store)
		if err != nil {
			return nil, err
		}
		entries = append(entries, ormapEntry[K]{Key: k, Store: raw})
	}
	return encodeSorted(entries)
}

func (m *ORMap[K, V]) decodeStore(dec *dotDecoder, raw cbor.RawMessage) error {
	var entries []ormapEntry[K]
	if err := decode(raw, &entries); err != nil {
		return err
	}
	var zero V
	m.entries = make(map[K]V, len(entries))
	for _, w := range entries {
		if err := checkKey(w.Key); err != nil {
			return err
		}
		if _, dup := m.entries[w.Key]; dup {
			return malformed("key %v appears twice", w.Key)
		}
		v := zero.empty()
		v.shareContext(dec.cc)
		if err := v.decodeStore(dec, w.Store); err != nil {
			return err
		}
		if v.isBottom() {
			return malformed("key %v with an empty value", w.Key)
		}
		m.entries[w.Key] = v
	}
	return nil
}

package crdt

import (
	"iter"
	"maps"

	"github.com/fxamacker/cbor/v2"
	"github.com/grovedev/grove/hlc"
	"github.com/grovedev/grove/vclock"
)

// AWLWWMap is an add-wins last-write-wins map, the common replicated
// key-value map: a Set concurrent with a Remove of the same key wins, and
// of concurrent Sets the one with the greater hybrid logical clock stamp
// (timestamp, then writer's node id) is read. Each key keeps the dots of
// the writes not yet overwritten by a writer that saw them; a removed key
// leaves no tombstone.
//
// The zero value is an empty map ready to use. An AWLWWMap is not safe for
// concurrent use.
type AWLWWMap[K comparable, V any] struct {
	entries map[K]dotFun[lwwValue[V]]
	cc      *vclock.CausalContext
	touched touchSet[K] // nil for a full state
}

// lwwValue is a value with the timestamp of its write, encoded as an
// array [value, wall, logical].
type lwwValue[V any] struct {
	_       struct{} `cbor:",toarray"`
	Value   V
	Wall    int64
	Logical uint32
}

func (w lwwValue[V]) ts() hlc.Timestamp { return hlc.Timestamp{WallNanos: w.Wall, Logical: w.Logical} }

// NewAWLWWMap returns an empty map.
func NewAWLWWMap[K comparable, V any]() *AWLWWMap[K, V] { return &AWLWWMap[K, V]{} }

func (m *AWLWWMap[K, V]) ctx() *vclock.CausalContext {
	if m.cc == nil {
		m.cc = new(vclock.CausalContext)
	}
	return m.cc
}

// Set sets key k to v on behalf of replica node, at ts (from node's
// hlc.Clock), replacing every write of k this replica has seen, and returns
// the delta.
func (m *AWLWWMap[K, V]) Set(node string, k K, v V, ts hlc.Timestamp) *AWLWWMap[K, V] {
	d := m.ctx().Next(node)
	dc := new(vclock.CausalContext)
	dc.Add(d)
	m.entries[k].addTo(dc)
	if m.entries == nil {
		m.entries = make(map[K]dotFun[lwwValue[V]])
	}
	w := dotFun[lwwValue[V]]{d: {Value: v, Wall: ts.WallNanos, Logical: ts.Logical}}
	m.entries[k] = w
	return &AWLWWMap[K, V]{entries: map[K]dotFun[lwwValue[V]]{k: maps.Clone(w)}, cc: dc, touched: touch(k)}
}

// Remove removes key k, undoing every write of it this replica has seen,
// and returns the delta.
func (m *AWLWWMap[K, V]) Remove(k K) *AWLWWMap[K, V] {
	dc := new(vclock.CausalContext)
	m.entries[k].addTo(dc)
	delete(m.entries, k)
	return &AWLWWMap[K, V]{cc: dc, touched: touch(k)}
}

// Get returns the value of key k: of the concurrent writes, the one with
// the greatest stamp.
func (m *AWLWWMap[K, V]) Get(k K) (V, bool) {
	f, ok := m.entries[k]
	if !ok {
		var zero V
		return zero, false
	}
	return f[winner(f)].Value, true
}

// GetStamped returns the value of key k with the stamp of its write.
func (m *AWLWWMap[K, V]) GetStamped(k K) (hlc.Tagged[V], bool) {
	f, ok := m.entries[k]
	if !ok {
		return hlc.Tagged[V]{}, false
	}
	d := winner(f)
	return hlc.Tagged[V]{Value: f[d].Value, Stamp: hlc.Stamp{TS: f[d].ts(), Node: d.Node}}, true
}

// winner returns the dot of the write of f with the greatest stamp.
func winner[V any](f dotFun[lwwValue[V]]) vclock.Dot {
	var best vclock.Dot
	for d := range f {
		if best.Counter == 0 || lwwLess(f, best, d) {
			best = d
		}
	}
	return best
}

// lwwLess orders the writes of f by stamp (timestamp, node), then by dot,
// so that two writes of one node with equal timestamps are still ordered.
func lwwLess[V any](f dotFun[lwwValue[V]], a, b vclock.Dot) bool {
	sa := hlc.Stamp{TS: f[a].ts(), Node: a.Node}
	sb := hlc.Stamp{TS: f[b].ts(), Node: b.Node}
	if c := sa.Compare(sb); c != 0 {
		return c < 0
	}
	return a.Counter < b.Counter
}

// Contains reports whether key k is present.
func (m *AWLWWMap[K, V]) Contains(k K) bool {
	_, ok := m.entries[k]
	return ok
}

// Len returns the number of keys.
func (m *AWLWWMap[K, V]) Len() int { return len(m.entries) }

// All returns the keys and their values, in no particular order.
func (m *AWLWWMap[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for k, f := range m.entries {
			if !yield(k, f[winner(f)].Value) {
				return
			}
		}
	}
}

// Merge joins other, a full state or a delta, into m. Joining a delta
// costs the size of the delta, not of m.
func (m *AWLWWMap[K, V]) Merge(other *AWLWWMap[K, V]) {
	sc, oc := orEmpty(m.cc), orEmpty(other.cc)
	if other.touched == nil {
		m.joinStore(other, sc, oc)
	} else {
		for k := range other.touched {
			m.joinKey(k, other, sc, oc)
		}
	}
	m.touched = m.touched.merge(other.touched)
	m.ctx().Merge(other.cc)
}

// Join merges other into m; other must be an *AWLWWMap[K, V].
func (m *AWLWWMap[K, V]) Join(other State) error { return joinAs(m, other) }

// Clone returns an independent copy of m. Values are copied shallowly.
func (m *AWLWWMap[K, V]) Clone() *AWLWWMap[K, V] {
	c := m.cloneStore(orEmpty(m.cc).Clone())
	c.touched = maps.Clone(m.touched)
	return c
}

// Context returns a copy of the causal context.
func (m *AWLWWMap[K, V]) Context() *vclock.CausalContext { return orEmpty(m.cc).Clone() }

// TypeName returns "awlwwmap".
func (m *AWLWWMap[K, V]) TypeName() string { return "awlwwmap" }

// GC compacts the causal context against the stability frontier. Writes
// that lose to a concurrent one are kept: a remover that saw only the
// winner must still find the others when its remove arrives.
func (m *AWLWWMap[K, V]) GC(stable vclock.Clock) { m.ctx().Stabilize(stable) }

// MarshalBinary encodes m.
func (m *AWLWWMap[K, V]) MarshalBinary() ([]byte, error) {
	touched, err := m.touched.encode()
	if err != nil {
		return nil, err
	}
	return marshalCausal(codeAWLWWMap, m, m.cc, touched)
}

// UnmarshalBinary replaces m with the decoded state.
func (m *AWLWWMap[K, V]) UnmarshalBinary(data []byte) error {
	v, raw, err := unmarshalCausal[*AWLWWMap[K, V]](codeAWLWWMap, data, true)
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

func (*AWLWWMap[K, V]) empty() *AWLWWMap[K, V] { return &AWLWWMap[K, V]{} }

func (m *AWLWWMap[K, V]) shareContext(cc *vclock.CausalContext) { m.cc = cc }

func (m *AWLWWMap[K, V]) joinStore(other *AWLWWMap[K, V], sc, oc *vclock.CausalContext) {
	for k := range m.entries {
		m.joinKey(k, other, sc, oc)
	}
	for k := range other.entries {
		if _, ok := m.entries[k]; !ok {
			m.joinKey(k, other, sc, oc)
		}
	}
}

// joinKey joins other's writes of k into m's.
func (m *AWLWWMap[K, V]) joinKey(k K, other *AWLWWMap[K, V], sc, oc *vclock.CausalContext) {
	f := joinDotFun(m.entries[k], sc, other.entries[k], oc)
	switch {
	case len(f) > 0 && m.entries == nil:
		m.entries = map[K]dotFun[lwwValue[V]]{k: f}
	case len(f) > 0:
		m.entries[k] = f
	default:
		delete(m.entries, k)
	}
}

func (m *AWLWWMap[K, V]) isBottom() bool { return len(m.entries) == 0 }

func (m *AWLWWMap[K, V]) addDots(cc *vclock.CausalContext) {
	for _, f := range m.entries {
		f.addTo(cc)
	}
}

func (m *AWLWWMap[K, V]) cloneStore(cc *vclock.CausalContext) *AWLWWMap[K, V] {
	out := &AWLWWMap[K, V]{cc: cc}
	if len(m.entries) > 0 {
		out.entries = make(map[K]dotFun[lwwValue[V]], len(m.entries))
		for k, f := range m.entries {
			out.entries[k] = maps.Clone(f)
		}
	}
	return out
}

// awlwwEntry is a key and its writes on the wire.
type awlwwEntry[K, V any] struct {
	_      struct{} `cbor:",toarray"`
	Key    K
	Writes []dotValue[lwwValue[V]]
}

func (m *AWLWWMap[K, V]) encodeStore(enc *dotEncoder) (any, error) {
	entries := make([]awlwwEntry[K, V], 0, len(m.entries))
	for k, f := range m.entries {
		entries = append(entries, awlwwEntry[K, V]{Key: k, Writes: encodeDotFun(enc, f)})
	}
	return encodeSorted(entries)
}

func (m *AWLWWMap[K, V]) decodeStore(dec *dotDecoder, raw cbor.RawMessage) error {
	var entries []awlwwEntry[K, V]
	if err := decode(raw, &entries); err != nil {
		return err
	}
	m.entries = make(map[K]dotFun[lwwValue[V]], len(entries))
	for _, w := range entries {
		if err := checkKey(w.Key); err != nil {
			return err
		}
		if _, dup := m.entries[w.Key]; dup {
			return malformed("key %v appears twice", w.Key)
		}
		if len(w.Writes) == 0 {
			return malformed("key %v without writes", w.Key)
		}
		f, err := decodeDotFun(dec, w.Writes)
		if err != nil {
			return err
		}
		m.entries[w.Key] = f
	}
	return nil
}

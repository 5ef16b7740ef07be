package crdt

import (
	"maps"

	"github.com/fxamacker/cbor/v2"
	"github.com/grovedev/grove/vclock"
)

// MVRegister is a multi-value register: a write replaces every value the
// writer has seen, and concurrent writes are all kept until a later write
// supersedes them. Values reads them all, leaving the choice to the caller.
//
// The zero value is an empty register ready to use. An MVRegister is not
// safe for concurrent use.
type MVRegister[V any] struct {
	values dotFun[V]
	cc     *vclock.CausalContext
}

// NewMVRegister returns an empty register.
func NewMVRegister[V any]() *MVRegister[V] { return &MVRegister[V]{} }

func (r *MVRegister[V]) ctx() *vclock.CausalContext {
	if r.cc == nil {
		r.cc = new(vclock.CausalContext)
	}
	return r.cc
}

// Write sets the register to v on behalf of replica node, replacing every
// value this replica has seen, and returns the delta.
func (r *MVRegister[V]) Write(node string, v V) *MVRegister[V] {
	d := r.ctx().Next(node)
	dc := new(vclock.CausalContext)
	dc.Add(d)
	r.values.addTo(dc)
	r.values = dotFun[V]{d: v}
	return &MVRegister[V]{values: dotFun[V]{d: v}, cc: dc}
}

// Reset empties the register, removing every value this replica has seen,
// and returns the delta.
func (r *MVRegister[V]) Reset() *MVRegister[V] {
	dc := new(vclock.CausalContext)
	r.values.addTo(dc)
	r.values = nil
	return &MVRegister[V]{cc: dc}
}

// Values returns the current values, one per concurrent write, ordered by
// the dots of their writes (the same order on every replica). It is empty
// before the first write and after a Reset.
func (r *MVRegister[V]) Values() []V {
	out := make([]V, 0, len(r.values))
	for _, d := range r.values.sortedDots() {
		out = append(out, r.values[d])
	}
	return out
}

// Merge joins other, a full state or a delta, into r.
func (r *MVRegister[V]) Merge(other *MVRegister[V]) {
	r.joinStore(other, orEmpty(r.cc), orEmpty(other.cc))
	r.ctx().Merge(other.cc)
}

// Join merges other into r; other must be an *MVRegister[V].
func (r *MVRegister[V]) Join(other State) error { return joinAs(r, other) }

// Clone returns an independent copy of r. Values are copied shallowly.
func (r *MVRegister[V]) Clone() *MVRegister[V] { return r.cloneStore(orEmpty(r.cc).Clone()) }

// Context returns a copy of the causal context.
func (r *MVRegister[V]) Context() *vclock.CausalContext { return orEmpty(r.cc).Clone() }

// TypeName returns "mvregister".
func (r *MVRegister[V]) TypeName() string { return "mvregister" }

// GC compacts the causal context against the stability frontier.
// Concurrent values are the observed value and are never dropped.
func (r *MVRegister[V]) GC(stable vclock.Clock) { r.ctx().Stabilize(stable) }

// MarshalBinary encodes r.
func (r *MVRegister[V]) MarshalBinary() ([]byte, error) {
	return marshalCausal(codeMVRegister, r, r.cc, nil)
}

// UnmarshalBinary replaces r with the decoded state.
func (r *MVRegister[V]) UnmarshalBinary(data []byte) error {
	v, _, err := unmarshalCausal[*MVRegister[V]](codeMVRegister, data, false)
	if err == nil {
		*r = *v
	}
	return err
}

func (*MVRegister[V]) empty() *MVRegister[V] { return &MVRegister[V]{} }

func (r *MVRegister[V]) shareContext(cc *vclock.CausalContext) { r.cc = cc }

func (r *MVRegister[V]) joinStore(other *MVRegister[V], sc, oc *vclock.CausalContext) {
	r.values = joinDotFun(r.values, sc, other.values, oc)
	if len(r.values) == 0 {
		r.values = nil
	}
}

func (r *MVRegister[V]) isBottom() bool { return len(r.values) == 0 }

func (r *MVRegister[V]) addDots(cc *vclock.CausalContext) { r.values.addTo(cc) }

func (r *MVRegister[V]) cloneStore(cc *vclock.CausalContext) *MVRegister[V] {
	return &MVRegister[V]{values: maps.Clone(r.values), cc: cc}
}

// dotValue is a dot and the value written with it, on the wire.
type dotValue[V any] struct {
	_     struct{} `cbor:",toarray"`
	Dot   wireDot
	Value V
}

func encodeDotFun[V any](enc *dotEncoder, f dotFun[V]) []dotValue[V] {
	out := make([]dotValue[V], 0, len(f))
	for _, d := range f.sortedDots() {
		out = append(out, dotValue[V]{Dot: enc.dot(d), Value: f[d]})
	}
	return out
}

func decodeDotFun[V any](dec *dotDecoder, ws []dotValue[V]) (dotFun[V], error) {
	f := make(dotFun[V], len(ws))
	for _, w := range ws {
		d, err := dec.dot(w.Dot)
		if err != nil {
			return nil, err
		}
		f[d] = w.Value
	}
	return f, nil
}

func (r *MVRegister[V]) encodeStore(enc *dotEncoder) (any, error) {
	return encodeDotFun(enc, r.values), nil
}

func (r *MVRegister[V]) decodeStore(dec *dotDecoder, raw cbor.RawMessage) error {
	var ws []dotValue[V]
	if err := decode(raw, &ws); err != nil {
		return err
	}
	f, err := decodeDotFun(dec, ws)
	if err != nil {
		return err
	}
	if len(f) == 0 {
		f = nil
	}
	r.values = f
	return nil
}

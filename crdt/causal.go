package crdt

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/grovedev/grove/vclock"
)

// Causal is a dot-based CRDT: a dot store (the dots of the writes that are
// still visible, with their values) and a causal context (every dot the
// replica has seen). A dot in the context but not in the store was removed,
// so these types keep no tombstones. Causal types can be the values of an
// ORMap, which joins them key by key under its own context. T is the
// pointer type itself, as in *ORSet[string].
//
// Causal has unexported methods: only the types of this package implement
// it.
type Causal[T any] interface {
	State
	Lattice[T]
	// Context returns a copy of the causal context.
	Context() *vclock.CausalContext

	// empty returns a new empty value; it may be called on a nil receiver.
	empty() T
	// shareContext makes the value, and the values nested in it, use cc
	// as their causal context.
	shareContext(cc *vclock.CausalContext)
	// joinStore joins other's store into the receiver's, where sc is the
	// receiver's context and oc other's; it changes no context.
	joinStore(other T, sc, oc *vclock.CausalContext)
	// isBottom reports whether the store holds no dot.
	isBottom() bool
	// addDots adds every dot of the store to cc.
	addDots(cc *vclock.CausalContext)
	// cloneStore returns a copy of the value whose context is cc.
	cloneStore(cc *vclock.CausalContext) T
	// encodeStore returns the wire form of the store.
	encodeStore(enc *dotEncoder) (any, error)
	// decodeStore replaces the store with the decoded raw, checking its
	// dots against dec.
	decodeStore(dec *dotDecoder, raw cbor.RawMessage) error
}

// emptyContext is a context with no dots, read by values whose context is
// not allocated yet. It is never changed.
var emptyContext vclock.CausalContext

// orEmpty returns cc, or the empty context for nil, for reading.
func orEmpty(cc *vclock.CausalContext) *vclock.CausalContext {
	if cc == nil {
		return &emptyContext
	}
	return cc
}

// wireCausal is the encoding of a top-level causal value.
type wireCausal struct {
	_       struct{} `cbor:",toarray"`
	Code    uint8
	Context wireContext
	Store   cbor.RawMessage
	// Touched is the key set of a delta of a keyed type, null otherwise.
	Touched cbor.RawMessage
}

// marshalCausal encodes a causal value with type code, context cc and, for
// a delta of a keyed type, the encoded key set touched.
func marshalCausal[T Causal[T]](code uint8, v T, cc *vclock.CausalContext, touched cbor.RawMessage) ([]byte, error) {
	wc, enc := encodeContext(orEmpty(cc))
	store, err := v.encodeStore(enc)
	if err != nil {
		return nil, err
	}
	raw, err := encMode.Marshal(store)
	if err != nil {
		return nil, fmt.Errorf("crdt: encode: %w", err)
	}
	return encMode.Marshal(wireCausal{Code: code, Context: wc, Store: raw, Touched: touched})
}

// unmarshalCausal decodes data as a causal value of type code into a new
// value, so that the receiver of UnmarshalBinary is only replaced on
// success. It returns the encoded key set for keyed types to decode, and
// rejects one for the others (keyed false).
func unmarshalCausal[T Causal[T]](code uint8, data []byte, keyed bool) (T, cbor.RawMessage, error) {
	var zero T
	var w wireCausal
	if err := decode(data, &w); err != nil {
		return zero, nil, err
	}
	if w.Code != code {
		return zero, nil, malformed("type code %d, want %d", w.Code, code)
	}
	if !keyed && !isNull(w.Touched) {
		return zero, nil, malformed("key set on an unkeyed type")
	}
	cc, dec, err := decodeContext(w.Context)
	if err != nil {
		return zero, nil, err
	}
	v := zero.empty()
	v.shareContext(cc)
	if err := v.decodeStore(dec, w.Store); err != nil {
		return zero, nil, err
	}
	return v, w.Touched, nil
}

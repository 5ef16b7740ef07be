package crdt

import "github.com/fxamacker/cbor/v2"

// touchSet is the set of keys a delta of a keyed causal type (ORSet,
// AWLWWMap, ORMap) can change, or nil for a full state.
//
// A dot belongs to one key for ever: the key whose write created it. A
// delta's causal context holds only the dots of the keys its operations
// touched, so joining a delta needs to visit only those keys, and costs
// the size of the delta instead of the size of the receiving replica.
// Joining two deltas gives a delta touching both key sets; joining a full
// state into anything gives a full state.
type touchSet[K comparable] map[K]struct{}

// touch returns the delta key set {keys...}.
func touch[K comparable](keys ...K) touchSet[K] {
	t := make(touchSet[K], len(keys))
	for _, k := range keys {
		t[k] = struct{}{}
	}
	return t
}

// merge returns the key set of the join of a state with key set t and one
// with key set o.
func (t touchSet[K]) merge(o touchSet[K]) touchSet[K] {
	if t == nil || o == nil {
		return nil
	}
	for k := range o {
		t[k] = struct{}{}
	}
	return t
}

// encode returns the wire form: CBOR null for a full state, else the
// sorted array of encoded keys.
func (t touchSet[K]) encode() (cbor.RawMessage, error) {
	if t == nil {
		return nil, nil
	}
	keys := make([]K, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sorted, err := encodeSorted(keys)
	if err != nil {
		return nil, err
	}
	return encMode.Marshal(sorted)
}

// isNull reports whether raw is absent or CBOR null.
func isNull(raw cbor.RawMessage) bool { return len(raw) == 0 || (len(raw) == 1 && raw[0] == 0xf6) }

// decodeTouched decodes the wire form of a key set.
func decodeTouched[K comparable](raw cbor.RawMessage) (touchSet[K], error) {
	if isNull(raw) {
		return nil, nil
	}
	var raws []cbor.RawMessage
	if err := decode(raw, &raws); err != nil {
		return nil, err
	}
	keys, err := decodeElems[K](raws)
	if err != nil {
		return nil, err
	}
	return touchSet[K](keys), nil
}

// checkCovers returns an error unless every key of entries is in t (when t
// is a delta's key set).
func checkCovers[K comparable, V any](t touchSet[K], entries map[K]V) error {
	if t == nil {
		return nil
	}
	for k := range entries {
		if _, ok := t[k]; !ok {
			return malformed("delta entry %v outside its key set", k)
		}
	}
	return nil
}

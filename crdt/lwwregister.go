package crdt

import (
	"bytes"

	"github.com/grovedev/grove/hlc"
	"github.com/grovedev/grove/vclock"
)

// LWWRegister is a last-write-wins register: of all writes, the one with
// the greatest stamp (hybrid logical clock timestamp, then writer's node
// id) is the value. A write stamped before the current value is lost, so
// writers must take their timestamps from an hlc.Clock that has seen the
// writes they replace. Two writes with equal stamps (a writer reusing a
// timestamp) are ordered by their encoded values, so replicas still agree.
//
// The zero value is an unset register ready to use. An LWWRegister is not
// safe for concurrent use.
type LWWRegister[V any] struct {
	value V
	stamp hlc.Stamp
	set   bool
}

// NewLWWRegister returns an unset register.
func NewLWWRegister[V any]() *LWWRegister[V] { return &LWWRegister[V]{} }

// Set writes v on behalf of replica node at ts (from node's hlc.Clock) and
// returns the delta: the write itself.
func (r *LWWRegister[V]) Set(node string, v V, ts hlc.Timestamp) *LWWRegister[V] {
	d := &LWWRegister[V]{value: v, stamp: hlc.Stamp{TS: ts, Node: node}, set: true}
	r.Merge(d)
	return d
}

// Value returns the value of the last write, and false if there was none.
func (r *LWWRegister[V]) Value() (V, bool) { return r.value, r.set }

// Stamp returns the stamp of the last write (zero if there was none).
func (r *LWWRegister[V]) Stamp() hlc.Stamp { return r.stamp }

// Merge joins other, a full state or a delta, into r.
func (r *LWWRegister[V]) Merge(other *LWWRegister[V]) {
	if !other.set {
		return
	}
	if r.set {
		switch c := other.stamp.Compare(r.stamp); {
		case c < 0:
			return
		case c == 0 && !r.valueBelow(other.value):
			return
		}
	}
	r.value, r.stamp, r.set = other.value, other.stamp, true
}

// valueBelow reports whether r's value encodes before v, the order of
// writes with equal stamps. Values that fail to encode compare equal.
func (r *LWWRegister[V]) valueBelow(v V) bool {
	a, errA := encMode.Marshal(r.value)
	b, errB := encMode.Marshal(v)
	return errA == nil && errB == nil && bytes.Compare(a, b) < 0
}

// Join merges other into r; other must be an *LWWRegister[V].
func (r *LWWRegister[V]) Join(other State) error { return joinAs(r, other) }

// Clone returns a copy of r. The value is copied shallowly.
func (r *LWWRegister[V]) Clone() *LWWRegister[V] {
	c := *r
	return &c
}

// TypeName returns "lwwregister".
func (r *LWWRegister[V]) TypeName() string { return "lwwregister" }

// GC does nothing: a LWWRegister keeps only its last write.
func (r *LWWRegister[V]) GC(vclock.Clock) {}

// wireLWWRegister is the encoding of an LWWRegister.
type wireLWWRegister[V any] struct {
	_       struct{} `cbor:",toarray"`
	Code    uint8
	Set     bool
	Value   V
	Wall    int64
	Logical uint32
	Node    string
}

// MarshalBinary encodes r.
func (r *LWWRegister[V]) MarshalBinary() ([]byte, error) {
	return encMode.Marshal(wireLWWRegister[V]{
		Code: codeLWWRegister, Set: r.set, Value: r.value,
		Wall: r.stamp.TS.WallNanos, Logical: r.stamp.TS.Logical, Node: r.stamp.Node,
	})
}

// UnmarshalBinary replaces r with the decoded state.
func (r *LWWRegister[V]) UnmarshalBinary(data []byte) error {
	var w wireLWWRegister[V]
	if err := decode(data, &w); err != nil {
		return err
	}
	if w.Code != codeLWWRegister {
		return malformed("type code %d, want %d", w.Code, codeLWWRegister)
	}
	stamp := hlc.Stamp{TS: hlc.Timestamp{WallNanos: w.Wall, Logical: w.Logical}, Node: w.Node}
	if !w.Set && stamp != (hlc.Stamp{}) {
		return malformed("unset register with a stamp")
	}
	if !w.Set {
		var zero V
		w.Value = zero
	}
	r.value, r.stamp, r.set = w.Value, stamp, w.Set
	return nil
}

package crdt

import (
	"encoding"
	"fmt"

	"github.com/grovedev/grove/vclock"
)

// State is any CRDT of this package, held without knowing its type: the
// view a replication service takes. Every *T of this package implements
// it, for full states and deltas alike.
type State interface {
	// TypeName returns the stable name of the CRDT kind, such as "orset".
	// Instances of one generic type with different type arguments share a
	// name; a Registry tells them apart by the names it registers.
	TypeName() string
	// Join merges other, a full state or a delta of the same Go type, into
	// the receiver. It returns a *TypeMismatchError for any other type.
	Join(other State) error
	// GC drops metadata that every replica has seen, given the causal
	// stability frontier: a version vector that every replica, this one
	// included, has reached. It never changes the observed value. It is a
	// no-op for types without such metadata.
	GC(stable vclock.Clock)
	// MarshalBinary encodes the state deterministically: equal states
	// encode to equal bytes.
	encoding.BinaryMarshaler
	// UnmarshalBinary replaces the state with a decoded one. It returns an
	// error wrapping ErrMalformed for any input MarshalBinary could not
	// have produced, and leaves the receiver unchanged then.
	encoding.BinaryUnmarshaler
}

// Lattice is the typed view of a CRDT: a join-semilattice whose Merge is
// commutative, associative and idempotent. T is the pointer type itself,
// as in *GCounter.
type Lattice[T any] interface {
	// Merge joins other, a full state or a delta, into the receiver.
	Merge(other T)
	// Clone returns an independent copy.
	Clone() T
}

// joinAs implements State.Join for a concrete type: it merges other into
// receiver when both are *T.
func joinAs[T any, PT interface {
	*T
	Merge(PT)
}](receiver PT, other State) error {
	o, ok := other.(PT)
	if !ok || o == nil {
		return &TypeMismatchError{Want: fmt.Sprintf("%T", receiver), Got: fmt.Sprintf("%T", other)}
	}
	receiver.Merge(o)
	return nil
}

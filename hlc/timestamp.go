package hlc

import (
	"cmp"
	"fmt"
	"time"
)

// Timestamp is a hybrid logical clock reading: the highest physical time
// seen, in nanoseconds since the Unix epoch, and a logical counter that
// orders events sharing that physical time. The zero Timestamp is before
// every timestamp a Clock issues.
type Timestamp struct {
	WallNanos int64
	Logical   uint32
}

// Compare returns -1, 0 or +1 as t is before, equal to or after u.
// Timestamps issued by different nodes may be equal; compare Stamps when a
// total order is needed.
func (t Timestamp) Compare(u Timestamp) int {
	if c := cmp.Compare(t.WallNanos, u.WallNanos); c != 0 {
		return c
	}
	return cmp.Compare(t.Logical, u.Logical)
}

// Before reports whether t is before u.
func (t Timestamp) Before(u Timestamp) bool { return t.Compare(u) < 0 }

// After reports whether t is after u.
func (t Timestamp) After(u Timestamp) bool { return t.Compare(u) > 0 }

// IsZero reports whether t is the zero Timestamp.
func (t Timestamp) IsZero() bool { return t == Timestamp{} }

// Time returns the wall-clock part of t as a time.Time.
func (t Timestamp) Time() time.Time { return time.Unix(0, t.WallNanos) }

// String formats t as wall nanoseconds and logical counter.
func (t Timestamp) String() string { return fmt.Sprintf("%d.%d", t.WallNanos, t.Logical) }

// Stamp is a timestamp with the id of the node that issued it. Two nodes
// may issue equal timestamps but never equal stamps, so stamps are totally
// ordered: by timestamp, then by node id.
type Stamp struct {
	TS   Timestamp
	Node string
}

// Compare returns -1, 0 or +1 as s is before, equal to or after o.
func (s Stamp) Compare(o Stamp) int {
	if c := s.TS.Compare(o.TS); c != 0 {
		return c
	}
	return cmp.Compare(s.Node, o.Node)
}

// String formats s as timestamp@node.
func (s Stamp) String() string { return s.TS.String() + "@" + s.Node }

// Tagged is a value with the stamp of the write that produced it.
type Tagged[T any] struct {
	Value T
	Stamp Stamp
}

// LWW returns the last write of a and b: the one with the greater stamp,
// or a when the stamps are equal (which happens only for the same write).
func LWW[T any](a, b Tagged[T]) Tagged[T] {
	if b.Stamp.Compare(a.Stamp) > 0 {
		return b
	}
	return a
}

package crdt

import "github.com/grovedev/grove/vclock"

// PNCounter is a counter that can go up and down: two grow-only counters,
// one of increments and one of decrements, whose difference is the value.
// Like GCounter it keeps one entry per replica (two, once it has
// decremented) and has nothing for GC to drop.
//
// The zero value is a zero counter ready to use. A PNCounter is not safe
// for concurrent use.
type PNCounter struct {
	p, n GCounter
}

// NewPNCounter returns a zero counter.
func NewPNCounter() *PNCounter { return &PNCounter{} }

// Increment adds n on behalf of replica node and returns the delta.
func (c *PNCounter) Increment(node string, n uint64) *PNCounter {
	return &PNCounter{p: *c.p.Increment(node, n)}
}

// Decrement subtracts n on behalf of replica node and returns the delta.
func (c *PNCounter) Decrement(node string, n uint64) *PNCounter {
	return &PNCounter{n: *c.n.Increment(node, n)}
}

// Value returns the sum of increments minus the sum of decrements, wrapping
// around as int64 arithmetic does.
func (c *PNCounter) Value() int64 { return int64(c.p.Value() - c.n.Value()) }

// Merge joins other, a full state or a delta, into c.
func (c *PNCounter) Merge(other *PNCounter) {
	c.p.Merge(&other.p)
	c.n.Merge(&other.n)
}

// Join merges other into c; other must be a *PNCounter.
func (c *PNCounter) Join(other State) error { return joinAs(c, other) }

// Clone returns an independent copy of c.
func (c *PNCounter) Clone() *PNCounter { return &PNCounter{p: *c.p.Clone(), n: *c.n.Clone()} }

// TypeName returns "pncounter".
func (c *PNCounter) TypeName() string { return "pncounter" }

// GC does nothing: a PNCounter has no metadata beyond its value.
func (c *PNCounter) GC(vclock.Clock) {}

// wirePNCounter is the encoding of a PNCounter.
type wirePNCounter struct {
	_    struct{} `cbor:",toarray"`
	Code uint8
	P, N []nodeCount
}

// MarshalBinary encodes c.
func (c *PNCounter) MarshalBinary() ([]byte, error) {
	return encMode.Marshal(wirePNCounter{Code: codePNCounter, P: encodeCounts(c.p.counts), N: encodeCounts(c.n.counts)})
}

// UnmarshalBinary replaces c with the decoded state.
func (c *PNCounter) UnmarshalBinary(data []byte) error {
	var w wirePNCounter
	if err := decode(data, &w); err != nil {
		return err
	}
	if w.Code != codePNCounter {
		return malformed("type code %d, want %d", w.Code, codePNCounter)
	}
	p, err := decodeCounts(w.P)
	if err != nil {
		return err
	}
	n, err := decodeCounts(w.N)
	if err != nil {
		return err
	}
	c.p.counts, c.n.counts = p, n
	return nil
}

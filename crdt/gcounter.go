package crdt

import (
	"maps"

	"github.com/grovedev/grove/vclock"
)

// GCounter is a grow-only counter: each replica counts its own increments,
// and the value is the sum over replicas. Its state is one entry per
// replica that ever incremented, which GC cannot drop: a replica's count is
// part of the value.
//
// The zero value is a zero counter ready to use. A GCounter is not safe for
// concurrent use.
type GCounter struct {
	counts map[string]uint64
}

// NewGCounter returns a zero counter.
func NewGCounter() *GCounter { return &GCounter{} }

// Increment adds n on behalf of replica node and returns the delta. The sum
// wraps around past 2^64-1.
func (c *GCounter) Increment(node string, n uint64) *GCounter {
	if c.counts == nil {
		c.counts = make(map[string]uint64)
	}
	c.counts[node] += n
	return &GCounter{counts: map[string]uint64{node: c.counts[node]}}
}

// Value returns the sum of all increments seen.
func (c *GCounter) Value() uint64 {
	var sum uint64
	for _, n := range c.counts {
		sum += n
	}
	return sum
}

// Merge joins other, a full state or a delta, into c.
func (c *GCounter) Merge(other *GCounter) {
	for node, n := range other.counts {
		if n > c.counts[node] {
			if c.counts == nil {
				c.counts = make(map[string]uint64, len(other.counts))
			}
			c.counts[node] = n
		}
	}
}

// Join merges other into c; other must be a *GCounter.
func (c *GCounter) Join(other State) error { return joinAs(c, other) }

// Clone returns an independent copy of c.
func (c *GCounter) Clone() *GCounter { return &GCounter{counts: maps.Clone(c.counts)} }

// TypeName returns "gcounter".
func (c *GCounter) TypeName() string { return "gcounter" }

// GC does nothing: a GCounter has no metadata beyond its value.
func (c *GCounter) GC(vclock.Clock) {}

// MarshalBinary encodes c.
func (c *GCounter) MarshalBinary() ([]byte, error) {
	return encMode.Marshal(wireCounter{Code: codeGCounter, Counts: encodeCounts(c.counts)})
}

// UnmarshalBinary replaces c with the decoded state.
func (c *GCounter) UnmarshalBinary(data []byte) error {
	var w wireCounter
	if err := decode(data, &w); err != nil {
		return err
	}
	if w.Code != codeGCounter {
		return malformed("type code %d, want %d", w.Code, codeGCounter)
	}
	counts, err := decodeCounts(w.Counts)
	if err != nil {
		return err
	}
	c.counts = counts
	return nil
}

// wireCounter is the encoding of a GCounter.
type wireCounter struct {
	_      struct{} `cbor:",toarray"`
	Code   uint8
	Counts []nodeCount
}

// nodeCount is one replica's count on the wire.
type nodeCount struct {
	_     struct{} `cbor:",toarray"`
	Node  string
	Count uint64
}

// encodeCounts returns the non-zero counts in node order.
func encodeCounts(counts map[string]uint64) []nodeCount {
	out := make([]nodeCount, 0, len(counts))
	for _, n := range vclock.Clock(counts).Nodes() {
		out = append(out, nodeCount{Node: n, Count: counts[n]})
	}
	return out
}

// decodeCounts checks that ws is in strict node order with non-zero counts.
func decodeCounts(ws []nodeCount) (map[string]uint64, error) {
	counts := make(map[string]uint64, len(ws))
	for i, w := range ws {
		if i > 0 && ws[i-1].Node >= w.Node {
			return nil, malformed("counts not in node order")
		}
		if w.Count == 0 {
			return nil, malformed("zero count for node %q", w.Node)
		}
		counts[w.Node] = w.Count
	}
	return counts, nil
}

package vclock

import (
	"fmt"
	"slices"
	"strings"
)

// Clock is a vector clock: the number of events seen from each node. A node
// that is missing has counter zero, and a zero counter is the same as a
// missing node. The nil Clock is the empty clock; the mutating methods
// allocate it on first use.
//
// A Clock is a map and so a reference: assigning it shares the counters. Use
// Copy to take an independent snapshot.
type Clock map[string]uint64

// Get returns the counter of node.
func (c Clock) Get(node string) uint64 { return c[node] }

// Increment records one more event of node and returns its new counter.
func (c *Clock) Increment(node string) uint64 {
	if *c == nil {
		*c = make(Clock)
	}
	(*c)[node]++
	return (*c)[node]
}

// Merge sets every counter of c to the maximum of its own and other's
// (the least upper bound of the two clocks).
func (c *Clock) Merge(other Clock) {
	for n, v := range other {
		if v == 0 {
			continue
		}
		if *c == nil {
			*c = make(Clock, len(other))
		}
		if v > (*c)[n] {
			(*c)[n] = v
		}
	}
}

// Copy returns an independent copy of c, without zero counters.
func (c Clock) Copy() Clock {
	out := make(Clock, len(c))
	for n, v := range c {
		if v != 0 {
			out[n] = v
		}
	}
	return out
}

// Compare reports how c is ordered relative to other.
func (c Clock) Compare(other Clock) Ordering {
	less, greater := false, false
	for n, v := range c {
		switch w := other[n]; {
		case v > w:
			greater = true
		case v < w:
			less = true
		}
	}
	for n, w := range other {
		if w > 0 && c[n] == 0 {
			less = true
		}
	}
	switch {
	case less && greater:
		return Concurrent
	case less:
		return Before
	case greater:
		return After
	default:
		return Equal
	}
}

// Dominates reports whether c has seen every event other has seen
// (c is After or Equal to other).
func (c Clock) Dominates(other Clock) bool {
	for n, w := range other {
		if c[n] < w {
			return false
		}
	}
	return true
}

// String formats c as {node:counter ...} in node order, without zero
// counters.
func (c Clock) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range c.Nodes() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d", n, c[n])
	}
	b.WriteByte('}')
	return b.String()
}

// Nodes returns the nodes with a non-zero counter, sorted.
func (c Clock) Nodes() []string {
	out := make([]string, 0, len(c))
	for n, v := range c {
		if v != 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

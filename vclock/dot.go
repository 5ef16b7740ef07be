package vclock

import (
	"cmp"
	"strconv"
)

// Dot identifies a single event: the Counter-th event created by Node.
// Counters start at 1; a Dot with Counter zero names no event.
type Dot struct {
	Node    string
	Counter uint64
}

// Compare orders dots by node id, then counter. It returns -1, 0 or +1. The
// order is arbitrary but total and the same on every replica.
func (d Dot) Compare(e Dot) int {
	if c := cmp.Compare(d.Node, e.Node); c != 0 {
		return c
	}
	return cmp.Compare(d.Counter, e.Counter)
}

// String formats d as node:counter.
func (d Dot) String() string { return d.Node + ":" + strconv.FormatUint(d.Counter, 10) }

package proc

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// PID identifies one process for the whole life of the cluster.
//
// PIDs are values: comparable with ==, usable as map keys, printable, and safe
// to send to other nodes. Creation is the incarnation of the node that spawned
// the process, so a node that restarts under the same name never hands out a
// PID that equals one from before the restart.
type PID struct {
	Node     string // name of the node that spawned the process
	Creation uint64 // incarnation of that node
	ID       uint64 // serial number of the process on that node, from 1
}

// IsZero reports whether p is the zero PID, which names no process.
func (p PID) IsZero() bool { return p.ID == 0 }

// String formats p as <node.id.creation>, like Erlang's <0.42.0>.
func (p PID) String() string {
	if p.IsZero() {
		return "<nopid>"
	}
	return "<" + p.Node + "." + strconv.FormatUint(p.ID, 10) + "." + strconv.FormatUint(p.Creation, 10) + ">"
}

// Ref is a reference unique across the cluster: it names one monitor, one
// call or one timer.
type Ref struct {
	Node     string
	Creation uint64
	ID       uint64
}

// IsZero reports whether r is the zero Ref.
func (r Ref) IsZero() bool { return r.ID == 0 }

// String formats r as #Ref<node.id.creation>.
func (r Ref) String() string {
	return fmt.Sprintf("#Ref<%s.%d.%d>", r.Node, r.ID, r.Creation)
}

// lastCreation keeps creations strictly increasing within one OS process, so
// two runtimes started in the same nanosecond still differ.
var lastCreation atomic.Uint64

// newCreation returns an incarnation number for a runtime starting now: the
// wall clock in nanoseconds, bumped past any earlier value in this process.
func newCreation(now time.Time) uint64 {
	c := uint64(now.UnixNano())
	for {
		last := lastCreation.Load()
		if c <= last {
			c = last + 1
		}
		if lastCreation.CompareAndSwap(last, c) {
			return c
		}
	}
}

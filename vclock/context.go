package vclock

import (
	"maps"
	"slices"
)

// CausalContext is a set of dots: the events a replica has seen. It is kept
// compact: a version vector holds, for each node, the counter up to which
// every dot has been seen, and a cloud holds the dots seen past a gap. All
// methods keep the context compact, so a dot is in the cloud only while a
// dot before it is missing.
//
// The zero value is an empty context ready to use. A CausalContext must not
// be copied after first use; use Clone.
type CausalContext struct {
	vv    Clock
	cloud map[Dot]struct{}
}

// NewCausalContext returns a context holding every dot of vv and the given
// cloud dots. Dots with a zero counter are ignored. vv and cloud are not
// retained.
func NewCausalContext(vv Clock, cloud []Dot) *CausalContext {
	cc := &CausalContext{vv: vv.Copy()}
	for _, d := range cloud {
		cc.Add(d)
	}
	return cc
}

// Contains reports whether the context has seen d.
func (cc *CausalContext) Contains(d Dot) bool {
	if d.Counter <= cc.vv[d.Node] {
		return true
	}
	_, ok := cc.cloud[d]
	return ok
}

// Add records d as seen. Adding a dot that is already present, or one with a
// zero counter, does nothing.
func (cc *CausalContext) Add(d Dot) {
	if d.Counter == 0 || cc.Contains(d) {
		return
	}
	if d.Counter == cc.vv[d.Node]+1 {
		cc.vv.Increment(d.Node)
		cc.absorb(d.Node)
		return
	}
	if cc.cloud == nil {
		cc.cloud = make(map[Dot]struct{})
	}
	cc.cloud[d] = struct{}{}
}

// absorb moves the cloud dots of node that continue its version vector entry
// into the vector.
func (cc *CausalContext) absorb(node string) {
	for len(cc.cloud) > 0 {
		next := Dot{Node: node, Counter: cc.vv[node] + 1}
		if _, ok := cc.cloud[next]; !ok {
			return
		}
		delete(cc.cloud, next)
		cc.vv[node] = next.Counter
	}
}

// Max returns the highest counter of node in the context, zero if none.
func (cc *CausalContext) Max(node string) uint64 {
	m := cc.vv[node]
	for d := range cc.cloud {
		if d.Node == node && d.Counter > m {
			m = d.Counter
		}
	}
	return m
}

// Next returns a new dot for node, one past the highest counter of node in
// the context, and adds it to the context. A replica calls Next with its own
// node id to tag a new event.
func (cc *CausalContext) Next(node string) Dot {
	d := Dot{Node: node, Counter: cc.Max(node) + 1}
	cc.Add(d)
	return d
}

// Merge adds every dot of other to cc.
func (cc *CausalContext) Merge(other *CausalContext) {
	if other == nil {
		return
	}
	cc.vv.Merge(other.vv)
	for d := range other.cloud {
		if !cc.Contains(d) {
			if cc.cloud == nil {
				cc.cloud = make(map[Dot]struct{}, len(other.cloud))
			}
			cc.cloud[d] = struct{}{}
		}
	}
	cc.Compact()
}

// Compact drops cloud dots already covered by the version vector and moves
// cloud dots that continue it into the vector. The other methods keep the
// context compact; Compact is only needed after a change that bypassed them,
// and is cheap when there is nothing to do.
func (cc *CausalContext) Compact() {
	nodes := make(map[string]struct{})
	for d := range cc.cloud {
		if d.Counter <= cc.vv[d.Node] {
			delete(cc.cloud, d)
		} else {
			nodes[d.Node] = struct{}{}
		}
	}
	for n := range nodes {
		if _, ok := cc.cloud[Dot{Node: n, Counter: cc.vv[n] + 1}]; ok {
			cc.absorb(n)
		}
	}
	if len(cc.cloud) == 0 {
		cc.cloud = nil
	}
}

// Clone returns an independent copy of cc.
func (cc *CausalContext) Clone() *CausalContext {
	out := &CausalContext{vv: cc.vv.Copy()}
	if len(cc.cloud) > 0 {
		out.cloud = maps.Clone(cc.cloud)
	}
	return out
}

// VersionVector returns a copy of the compact part of the context: for each
// node, the counter up to which every dot has been seen.
func (cc *CausalContext) VersionVector() Clock { return cc.vv.Copy() }

// Cloud returns the dots seen past a gap, sorted by Dot.Compare.
func (cc *CausalContext) Cloud() []Dot {
	out := slices.Collect(maps.Keys(cc.cloud))
	slices.SortFunc(out, Dot.Compare)
	return out
}

// IsEmpty reports whether the context holds no dot.
func (cc *CausalContext) IsEmpty() bool {
	for _, v := range cc.vv {
		if v != 0 {
			return false
		}
	}
	return len(cc.cloud) == 0
}

// Equal reports whether cc and other hold the same dots.
func (cc *CausalContext) Equal(other *CausalContext) bool {
	if len(cc.cloud) != len(other.cloud) {
		return false
	}
	for d := range cc.cloud {
		if _, ok := other.cloud[d]; !ok {
			return false
		}
	}
	return cc.vv.Compare(other.vv) == Equal
}

// Stabilize records that every dot at or below stable has been seen, as a
// causal-stability frontier reported by the replication layer asserts, and
// drops the cloud dots it covers. It must only be given a frontier that
// this replica has itself reached: claiming unseen dots makes the CRDTs
// built on the context discard them when they arrive.
func (cc *CausalContext) Stabilize(stable Clock) {
	for n, v := range stable {
		if v > cc.vv[n] {
			cc.vv[n] = v
		}
	}
	cc.Compact()
}

package replica

import (
	"iter"
	"maps"
	"slices"

	"github.com/grovedev/grove/crdt"
	"github.com/grovedev/grove/hlc"
	"github.com/grovedev/grove/node"
)

// Counter is a replicated counter that goes up and down (a crdt.PNCounter).
type Counter struct {
	*Replica
}

// NewCounter starts replicating a counter on n under name.
func NewCounter(n *node.Node, name string, cfg Config) (*Counter, error) {
	r, err := newReplica(n, name, crdt.NewPNCounter(), cfg, func(r *Replica) differ { return &counterDiffer{r: r} })
	if err != nil {
		return nil, err
	}
	return &Counter{r}, nil
}

// Add adds d (which may be negative) to the counter. It is acknowledged at
// once: once Add returns, the change is never lost while this replica or a
// peer that received it lives.
func (c *Counter) Add(d int64) error {
	return c.Update(func(s crdt.State) crdt.State {
		pn := s.(*crdt.PNCounter)
		switch {
		case d > 0:
			return pn.Increment(c.ID(), uint64(d))
		case d < 0:
			return pn.Decrement(c.ID(), uint64(-d))
		}
		return nil
	})
}

// Value returns the counter's value on this replica.
func (c *Counter) Value() int64 {
	var v int64
	c.Read(func(s crdt.State) { v = s.(*crdt.PNCounter).Value() })
	return v
}

type counterDiffer struct {
	r    *Replica
	last int64
}

func (d *counterDiffer) reset() { d.last = d.r.core.state.(*crdt.PNCounter).Value() }

func (d *counterDiffer) diff() []Event {
	v := d.r.core.state.(*crdt.PNCounter).Value()
	if v == d.last {
		return nil
	}
	d.last = v
	return []Event{{Replica: d.r.name, Kind: Changed, Value: v}}
}

// Set is a replicated add-wins set (a crdt.ORSet): an element removed on
// one node and concurrently added on another stays.
type Set[E comparable] struct {
	*Replica
}

// NewSet starts replicating a set on n under name.
func NewSet[E comparable](n *node.Node, name string, cfg Config) (*Set[E], error) {
	r, err := newReplica(n, name, crdt.NewORSet[E](), cfg, func(r *Replica) differ { return &setDiffer[E]{r: r} })
	if err != nil {
		return nil, err
	}
	return &Set[E]{r}, nil
}

func (s *Set[E]) set(st crdt.State) *crdt.ORSet[E] { return st.(*crdt.ORSet[E]) }

// Add adds e.
func (s *Set[E]) Add(e E) error {
	return s.Update(func(st crdt.State) crdt.State { return s.set(st).Add(s.ID(), e) })
}

// Remove removes e as this replica has seen it.
func (s *Set[E]) Remove(e E) error {
	return s.Update(func(st crdt.State) crdt.State { return s.set(st).Remove(e) })
}

// Contains reports whether e is in the set on this replica.
func (s *Set[E]) Contains(e E) (ok bool) {
	s.Read(func(st crdt.State) { ok = s.set(st).Contains(e) })
	return ok
}

// Elements returns the elements, in no particular order.
func (s *Set[E]) Elements() (es []E) {
	s.Read(func(st crdt.State) { es = s.set(st).Elements() })
	return es
}

// Len returns the number of elements.
func (s *Set[E]) Len() (n int) {
	s.Read(func(st crdt.State) { n = s.set(st).Len() })
	return n
}

type setDiffer[E comparable] struct {
	r    *Replica
	last map[E]struct{}
}

func (d *setDiffer[E]) current() map[E]struct{} {
	cur := map[E]struct{}{}
	for e := range d.r.core.state.(*crdt.ORSet[E]).All() {
		cur[e] = struct{}{}
	}
	return cur
}

func (d *setDiffer[E]) reset() { d.last = d.current() }

func (d *setDiffer[E]) diff() []Event {
	cur := d.current()
	var evs []Event
	for e := range cur {
		if _, ok := d.last[e]; !ok {
			evs = append(evs, Event{Replica: d.r.name, Kind: Added, Key: e})
		}
	}
	for e := range d.last {
		if _, ok := cur[e]; !ok {
			evs = append(evs, Event{Replica: d.r.name, Kind: Removed, Key: e})
		}
	}
	d.last = cur
	return evs
}

// Map is a replicated add-wins last-write-wins map (a crdt.AWLWWMap):
// of concurrent writes of a key the one with the greater hybrid logical
// clock stamp wins, and a write concurrent with a removal wins.
type Map[K comparable, V any] struct {
	*Replica
	clock *hlc.Clock
}

// NewMap starts replicating a map on n under name. Writes are stamped by a
// hybrid logical clock over the node runtime's clock.
func NewMap[K comparable, V any](n *node.Node, name string, cfg Config) (*Map[K, V], error) {
	clk, err := hlc.New(n.Runtime().Clock(), hlc.Config{})
	if err != nil {
		return nil, err
	}
	r, err := newReplica(n, name, crdt.NewAWLWWMap[K, V](), cfg, func(r *Replica) differ { return &mapDiffer[K, V]{r: r} })
	if err != nil {
		return nil, err
	}
	return &Map[K, V]{Replica: r, clock: clk}, nil
}

func (m *Map[K, V]) m(st crdt.State) *crdt.AWLWWMap[K, V] { return st.(*crdt.AWLWWMap[K, V]) }

// Set sets key k to v.
func (m *Map[K, V]) Set(k K, v V) error {
	return m.Update(func(st crdt.State) crdt.State {
		mm := m.m(st)
		ts := m.clock.Now()
		if old, ok := mm.GetStamped(k); ok && old.Stamp.TS.Compare(ts) >= 0 {
			// Stay after the write we replace, even if it came from a
			// node whose clock is ahead.
			if t, err := m.clock.Update(old.Stamp.TS); err == nil {
				ts = t
			}
		}
		return mm.Set(m.ID(), k, v, ts)
	})
}

// Remove removes key k as this replica has seen it.
func (m *Map[K, V]) Remove(k K) error {
	return m.Update(func(st crdt.State) crdt.State { return m.m(st).Remove(k) })
}

// Get returns the value of key k on this replica.
func (m *Map[K, V]) Get(k K) (v V, ok bool) {
	m.Read(func(st crdt.State) { v, ok = m.m(st).Get(k) })
	return v, ok
}

// Len returns the number of keys.
func (m *Map[K, V]) Len() (n int) {
	m.Read(func(st crdt.State) { n = m.m(st).Len() })
	return n
}

// All returns a copy of the map's keys and values.
func (m *Map[K, V]) All() map[K]V {
	var out map[K]V
	m.Read(func(st crdt.State) { out = maps.Collect(m.m(st).All()) })
	return out
}

type mapDiffer[K comparable, V any] struct {
	r    *Replica
	last map[K]hlc.Stamp
}

func (d *mapDiffer[K, V]) entries() iter.Seq2[K, V] {
	return d.r.core.state.(*crdt.AWLWWMap[K, V]).All()
}

func (d *mapDiffer[K, V]) reset() {
	mm := d.r.core.state.(*crdt.AWLWWMap[K, V])
	d.last = make(map[K]hlc.Stamp, mm.Len())
	for k := range d.entries() {
		t, _ := mm.GetStamped(k)
		d.last[k] = t.Stamp
	}
}

// diff returns the changes since the last call: additions and updates in
// the order of their write stamps, then removals.
func (d *mapDiffer[K, V]) diff() []Event {
	mm := d.r.core.state.(*crdt.AWLWWMap[K, V])
	cur := make(map[K]hlc.Stamp, mm.Len())
	type stamped struct {
		e Event
		s hlc.Stamp
	}
	var changed []stamped
	for k := range mm.All() {
		t, _ := mm.GetStamped(k)
		cur[k] = t.Stamp
		old, ok := d.last[k]
		switch {
		case !ok:
			changed = append(changed, stamped{Event{Replica: d.r.name, Kind: Added, Key: k, Value: t.Value}, t.Stamp})
		case old != t.Stamp:
			changed = append(changed, stamped{Event{Replica: d.r.name, Kind: Updated, Key: k, Value: t.Value}, t.Stamp})
		}
	}
	slices.SortFunc(changed, func(a, b stamped) int { return a.s.Compare(b.s) })
	evs := make([]Event, 0, len(changed))
	for _, c := range changed {
		evs = append(evs, c.e)
	}
	for k := range d.last {
		if _, ok := cur[k]; !ok {
			evs = append(evs, Event{Replica: d.r.name, Kind: Removed, Key: k})
		}
	}
	d.last = cur
	return evs
}

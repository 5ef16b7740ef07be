package ownermap

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/hlc"
	"github.com/grovedev/grove/proc"
)

// sim runs cores of several nodes with a message queue per directed link,
// membership views and cuts set by the test, and a logical clock. Every
// message goes through the wire encoding.
type sim struct {
	t      testing.TB
	unique bool
	nodes  map[string]*simNode
	order  []string
	queues map[[2]string][]*syncMsg
	cut    map[[2]string]bool
	now    time.Time
	wall   int64
	drop   func(from, to string) bool // drops a message when true
}

type simNode struct {
	name    string
	c       *core
	events  []Event
	lost    []Conflict // conflicts where this node's entry lost
	won     []Conflict
	view    map[string][]Entry
	members map[string]bool // who this node thinks is up
	pids    uint64
}

func newSim(t testing.TB, unique bool, names ...string) *sim {
	s := &sim{t: t, unique: unique, nodes: map[string]*simNode{}, queues: map[[2]string][]*syncMsg{},
		cut: map[[2]string]bool{}, now: time.Unix(1_700_000_000, 0)}
	for _, n := range names {
		s.start(n, 1)
	}
	for _, n := range names {
		for _, o := range names {
			s.nodes[n].members[o] = true
		}
	}
	s.syncMembers()
	return s
}

func simConfig(unique bool) coreConfig {
	return coreConfig{unique: unique, relayTicks: 3, retransmitTicks: 5, digestTicks: 4, conflictTicks: 20, downRetention: time.Hour}
}

func (s *sim) start(name string, creation uint64) *simNode {
	n := &simNode{name: name, view: map[string][]Entry{}, members: map[string]bool{}}
	if old := s.nodes[name]; old != nil {
		maps.Copy(n.members, old.members)
	} else {
		s.order = append(s.order, name)
	}
	n.c = newCore(Origin{Node: name, Creation: creation}, simConfig(s.unique))
	n.c.publish = func(key string, es []Entry) {
		if len(es) == 0 {
			delete(n.view, key)
		} else {
			n.view[key] = es
		}
	}
	s.nodes[name] = n
	for k := range s.queues {
		if k[1] == name {
			delete(s.queues, k)
		}
	}
	return n
}

// restart gives name a new incarnation and tells every node.
func (s *sim) restart(name string) {
	old := s.nodes[name]
	s.start(name, old.c.self.Creation+1)
	s.syncMembers()
}

func (s *sim) creation(name string) uint64 { return s.nodes[name].c.self.Creation }

// syncMembers hands every node its membership view.
func (s *sim) syncMembers() {
	for _, n := range s.nodes {
		var ms []member
		for _, o := range s.order {
			ms = append(ms, member{name: o, up: n.members[o], creation: s.creation(o)})
		}
		n.c.setMembers(ms, s.now)
		n.collect()
	}
}

func (n *simNode) collect() {
	ev, cf := n.c.take()
	n.events = append(n.events, ev...)
	for _, c := range cf {
		if c.LocalWon {
			n.won = append(n.won, c)
		} else {
			n.lost = append(n.lost, c)
		}
	}
}

func (s *sim) stamp() Claim {
	s.wall++
	return Claim{Stamp: hlc.Timestamp{WallNanos: s.wall}}
}

func (s *sim) put(name, key string) (Entry, error) {
	n := s.nodes[name]
	n.pids++
	pid := proc.PID{Node: name, Creation: n.c.self.Creation, ID: n.pids}
	val := fmt.Sprintf("%s/%d", name, n.pids)
	r, err := n.c.put(key, pid, val, []byte(val), s.stamp, putOptions{})
	n.collect()
	if err != nil {
		return Entry{}, err
	}
	return r.Entry, nil
}

func (s *sim) mustPut(name, key string) Entry {
	s.t.Helper()
	e, err := s.put(name, key)
	if err != nil {
		s.t.Fatalf("put %s on %s: %v", key, name, err)
	}
	return e
}

func (s *sim) remove(name string, ref Ref) {
	n := s.nodes[name]
	n.c.remove(ref, ReasonUnregistered)
	n.collect()
}

// peers is whom name sends to: members it holds up, not cut from it.
func (s *sim) peers(name string) []string {
	var out []string
	for _, o := range s.order {
		if o != name && s.nodes[name].members[o] && !s.cut[[2]string{name, o}] {
			out = append(out, o)
		}
	}
	return out
}

func (s *sim) enqueue(from string, out []outMsg) {
	for _, o := range out {
		if s.cut[[2]string{from, o.to}] || s.drop != nil && s.drop(from, o.to) {
			continue
		}
		b, err := o.msg.AppendBinary(nil)
		if err != nil {
			s.t.Fatal(err)
		}
		var m syncMsg
		if err := m.UnmarshalBinary(b); err != nil {
			s.t.Fatalf("decode own message: %v", err)
		}
		for i := range m.Deltas {
			for j := range m.Deltas[i].Entries {
				e := &m.Deltas[i].Entries[j]
				e.value = string(e.Value)
			}
		}
		k := [2]string{from, o.to}
		s.queues[k] = append(s.queues[k], &m)
	}
}

// round runs one sync round on every node, in order.
func (s *sim) round() {
	s.now = s.now.Add(100 * time.Millisecond)
	for _, name := range s.order {
		n := s.nodes[name]
		s.enqueue(name, n.c.step(s.peers(name), s.now))
		n.collect()
	}
}

func (s *sim) flush(name string) {
	s.enqueue(name, s.nodes[name].c.flush(s.peers(name)))
}

// deliver delivers every queued message that is not cut, in order per
// link.
func (s *sim) deliver() {
	keys := slices.SortedFunc(maps.Keys(s.queues), func(a, b [2]string) int {
		return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1])
	})
	for _, k := range keys {
		if s.cut[k] {
			continue
		}
		q := s.queues[k]
		delete(s.queues, k)
		n := s.nodes[k[1]]
		for _, m := range q {
			n.c.receive(m, s.now)
			n.collect()
		}
	}
}

// settle runs rounds and deliveries until nothing is in flight, or fails.
func (s *sim) settle(rounds int) {
	for range rounds {
		s.round()
		s.deliver()
	}
}

func (s *sim) partition(groups ...[]string) {
	clear(s.cut)
	in := map[string]int{}
	for i, g := range groups {
		for _, n := range g {
			in[n] = i
		}
	}
	for _, a := range s.order {
		for _, b := range s.order {
			if a != b && in[a] != in[b] {
				s.cut[[2]string{a, b}] = true
			}
		}
	}
}

func (s *sim) heal() { clear(s.cut) }

// setUp marks, in the view of observers, node as up or down.
func (s *sim) setUp(node string, up bool, observers ...string) {
	for _, o := range observers {
		s.nodes[o].members[node] = up
	}
	s.syncMembers()
}

// viewOf renders a node's resolved view for comparisons.
func (s *sim) viewOf(name string) string {
	n := s.nodes[name]
	keys := slices.Sorted(maps.Keys(n.view))
	var b strings.Builder
	for _, k := range keys {
		var refs []string
		for _, e := range n.view[k] {
			refs = append(refs, e.Ref.String()+"="+fmt.Sprint(e.Value))
		}
		sort.Strings(refs)
		fmt.Fprintf(&b, "%s:%v ", k, refs)
	}
	return b.String()
}

func (s *sim) requireSameViews() {
	s.t.Helper()
	first := s.viewOf(s.order[0])
	for _, n := range s.order[1:] {
		if v := s.viewOf(n); v != first {
			s.t.Fatalf("views differ:\n%s: %s\n%s: %s", s.order[0], first, n, v)
		}
	}
}

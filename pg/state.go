package pg

import (
	"slices"

	"github.com/grovedev/grove/proc"
)

// This file is the deterministic core of a scope: group membership as one
// node sees it, changed by local joins and leaves and by what other nodes
// report, producing the join and leave events monitors receive. It does no
// I/O and is not safe for concurrent use; the Scope guards it.

// Kind says whether an Event reports members that joined or left.
type Kind uint8

// Event kinds.
const (
	Joined Kind = iota + 1
	Left
)

func (k Kind) String() string {
	switch k {
	case Joined:
		return "join"
	case Left:
		return "leave"
	}
	return "unknown"
}

// Event tells a monitor that processes joined or left a group (a process
// that joined twice appears twice). Ref is the monitor's reference, for
// process monitors.
type Event struct {
	Ref   proc.Ref
	Kind  Kind
	Group string
	PIDs  []proc.PID
}

// group is one group's members: this node's, and every other node's as that
// node last reported them. A process joined several times appears as many
// times.
type group struct {
	local  []proc.PID
	remote map[string][]proc.PID
	// all is the members cache, nil when stale.
	all []proc.PID
}

func (g *group) empty() bool { return len(g.local) == 0 && len(g.remote) == 0 }

// state is the membership of every group of a scope.
type state struct {
	groups map[string]*group
	// joined counts, per local process, its memberships in each group, so
	// that its exit removes it everywhere.
	joined map[proc.PID]map[string]int
	// localSum and remoteSum are the digests of this node's memberships
	// and of each other node's as known here: the sum of memberHash over
	// every membership, kept up to date by each change.
	localSum  uint64
	remoteSum map[string]uint64
}

func newState() *state {
	return &state{groups: make(map[string]*group), joined: make(map[proc.PID]map[string]int), remoteSum: make(map[string]uint64)}
}

// memberHash is one membership's share of a digest: a sum of these is
// independent of order and follows joins and leaves (a process joined
// twice counts twice), and every node computes the same one.
func memberHash(group string, id uint64) uint64 {
	h := uint64(14695981039346656037) // FNV-1a over the group's name
	for i := 0; i < len(group); i++ {
		h ^= uint64(group[i])
		h *= 1099511628211
	}
	// splitmix64 of the name's hash mixed with the process's ID.
	z := h ^ (id * 0x9e3779b97f4a7c15)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (s *state) group(name string) *group {
	g := s.groups[name]
	if g == nil {
		g = &group{}
		s.groups[name] = g
	}
	return g
}

func (s *state) gc(name string, g *group) {
	g.all = nil
	if g.empty() {
		delete(s.groups, name)
	}
}

// join adds local members.
func (s *state) join(name string, pids []proc.PID) Event {
	if len(pids) == 0 {
		return Event{Kind: Joined, Group: name}
	}
	g := s.group(name)
	g.local = append(g.local, pids...)
	for _, p := range pids {
		s.localSum += memberHash(name, p.ID)
		m := s.joined[p]
		if m == nil {
			m = make(map[string]int)
			s.joined[p] = m
		}
		m[name]++
	}
	g.all = nil
	return Event{Kind: Joined, Group: name, PIDs: slices.Clone(pids)}
}

// leave removes one membership of each of pids that has one, and returns
// those it removed.
func (s *state) leave(name string, pids []proc.PID) Event {
	g := s.groups[name]
	if g == nil {
		return Event{Kind: Left, Group: name}
	}
	var left []proc.PID
	for _, p := range pids {
		i := slices.Index(g.local, p)
		if i < 0 {
			continue
		}
		g.local = slices.Delete(g.local, i, i+1)
		left = append(left, p)
		s.localSum -= memberHash(name, p.ID)
		if m := s.joined[p]; m != nil {
			if m[name]--; m[name] <= 0 {
				delete(m, name)
			}
			if len(m) == 0 {
				delete(s.joined, p)
			}
		}
	}
	s.gc(name, g)
	return Event{Kind: Left, Group: name, PIDs: left}
}

// exited removes every membership of a local process that exited.
func (s *state) exited(pid proc.PID) []Event {
	m := s.joined[pid]
	if m == nil {
		return nil
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []Event
	for _, name := range names {
		ev := s.leave(name, slices.Repeat([]proc.PID{pid}, m[name]))
		out = append(out, ev)
	}
	return out
}

// remoteJoin and remoteLeave apply another node's changes.
func (s *state) remoteJoin(node, name string, pids []proc.PID) Event {
	if len(pids) == 0 {
		return Event{Kind: Joined, Group: name}
	}
	g := s.group(name)
	if g.remote == nil {
		g.remote = make(map[string][]proc.PID)
	}
	g.remote[node] = append(g.remote[node], pids...)
	for _, p := range pids {
		s.remoteSum[node] += memberHash(name, p.ID)
	}
	g.all = nil
	return Event{Kind: Joined, Group: name, PIDs: slices.Clone(pids)}
}

func (s *state) remoteLeave(node, name string, pids []proc.PID) Event {
	g := s.groups[name]
	if g == nil {
		return Event{Kind: Left, Group: name}
	}
	cur := g.remote[node]
	var left []proc.PID
	for _, p := range pids {
		if i := slices.Index(cur, p); i >= 0 {
			cur = slices.Delete(cur, i, i+1)
			left = append(left, p)
			s.remoteSum[node] -= memberHash(name, p.ID)
		}
	}
	if len(cur) == 0 {
		delete(g.remote, node)
	} else {
		g.remote[node] = cur
	}
	s.gc(name, g)
	return Event{Kind: Left, Group: name, PIDs: left}
}

// replace sets what node's members are, group by group, as a full report
// from it says, and returns the differences as events.
func (s *state) replace(node string, groups map[string][]proc.PID) []Event {
	names := make([]string, 0, len(groups))
	for name := range groups {
		names = append(names, name)
	}
	for name, g := range s.groups {
		if _, ok := groups[name]; !ok && len(g.remote[node]) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var out []Event
	for _, name := range names {
		var old []proc.PID
		if g := s.groups[name]; g != nil {
			old = g.remote[node]
		}
		gone, added := multisetDiff(old, groups[name])
		if len(gone) > 0 {
			out = append(out, s.remoteLeave(node, name, gone))
		}
		if len(added) > 0 {
			out = append(out, s.remoteJoin(node, name, added))
		}
	}
	return out
}

// drop removes every member of node (its link went down, or it restarted).
func (s *state) drop(node string) []Event {
	evs := s.replace(node, nil)
	delete(s.remoteSum, node)
	return evs
}

// multisetDiff returns what old has more than new and new more than old.
func multisetDiff(old, new []proc.PID) (gone, added []proc.PID) {
	count := make(map[proc.PID]int, len(old))
	for _, p := range old {
		count[p]++
	}
	for _, p := range new {
		if count[p] > 0 {
			count[p]--
		} else {
			added = append(added, p)
		}
	}
	for _, p := range old {
		if count[p] > 0 {
			count[p]--
			gone = append(gone, p)
		}
	}
	return gone, added
}

// members returns every member of a group, local first, then by node.
func (s *state) members(name string) []proc.PID {
	g := s.groups[name]
	if g == nil {
		return nil
	}
	if g.all == nil {
		n := len(g.local)
		for _, r := range g.remote {
			n += len(r)
		}
		all := make([]proc.PID, 0, n)
		all = append(all, g.local...)
		nodes := make([]string, 0, len(g.remote))
		for node := range g.remote {
			nodes = append(nodes, node)
		}
		slices.Sort(nodes)
		for _, node := range nodes {
			all = append(all, g.remote[node]...)
		}
		g.all = all
	}
	return g.all
}

// local returns a node's own members of every group, for a full report.
func (s *state) local() map[string][]proc.PID {
	out := make(map[string][]proc.PID)
	for name, g := range s.groups {
		if len(g.local) > 0 {
			out[name] = slices.Clone(g.local)
		}
	}
	return out
}

// snapshot returns every group and its members.
func (s *state) snapshot() map[string][]proc.PID {
	out := make(map[string][]proc.PID, len(s.groups))
	for name := range s.groups {
		out[name] = slices.Clone(s.members(name))
	}
	return out
}

package cluster

import (
	"slices"
	"strings"
	"time"
)

// table is the deterministic core of membership: it folds observations (the
// membership protocol's alive and gone notifications, leave intents, node
// link changes) into member states and returns the events they cause. It
// does no I/O and reads no clock: every call is given the time. It is not
// safe for concurrent use; Cluster serialises calls under its mutex.
type table struct {
	self    string
	members map[string]*record
	intents map[string]uint64 // member name → Incarnation that announced its departure
}

// record is a member and the facts its state derives from.
type record struct {
	m         Member
	swimAlive bool // the membership protocol holds it alive
	linkUp    bool // this node has a Grove link to it
	linkLost  bool // in this life, a link went down or connecting failed
	leaving   bool // this life announced it leaves: its links may drop first
}

func newTable(self string) *table {
	return &table{self: self, members: map[string]*record{}, intents: map[string]uint64{}}
}

// derive computes a record's state from its facts.
func (r *record) derive() State {
	switch {
	case r.m.State == StateLeft && !r.swimAlive:
		return StateLeft
	case !r.swimAlive:
		return StateDead
	case r.m.Local || r.linkUp || !r.linkLost || r.leaving:
		return StateAlive
	default:
		return StateSuspect
	}
}

// alive folds in that the protocol holds name alive with metadata w and
// gossip address gossip (memberlist's NotifyJoin and NotifyUpdate).
func (t *table) alive(name, gossip string, w wireMeta, now time.Time) []Event {
	r := t.members[name]
	if r == nil {
		r = &record{m: Member{Name: name, Local: name == t.self}}
		t.members[name] = r
		t.apply(r, name, gossip, w, now)
		r.m.State, r.m.Since = r.derive(), now
		return []Event{{EventJoined, r.m}}
	}
	wasGone := !r.swimAlive
	restarted := w.Creation > r.m.Creation
	if !wasGone && !restarted && w.Incarnation < r.m.Incarnation {
		return nil // an older description
	}
	changed := w.Incarnation != r.m.Incarnation || w.Addr != r.m.Addr || gossip != r.m.GossipAddr || !w.Meta.Equal(r.m.Meta)
	t.apply(r, name, gossip, w, now)
	if wasGone || restarted {
		r.linkLost, r.leaving = false, false
		r.m.State, r.m.Since = r.derive(), now
		return []Event{{EventJoined, r.m}}
	}
	if changed {
		return []Event{{EventUpdated, r.m}}
	}
	return nil
}

func (t *table) apply(r *record, name, gossip string, w wireMeta, now time.Time) {
	r.swimAlive = true
	r.m.Addr, r.m.GossipAddr = w.Addr, gossip
	r.m.Meta = w.Meta.clone()
	r.m.Creation, r.m.Incarnation = w.Creation, w.Incarnation
	if c, ok := t.intents[name]; ok && c < w.Incarnation {
		delete(t.intents, name) // back since: the old departure is history
	}
}

// gone folds in that the protocol declared name dead or left
// (memberlist's NotifyLeave). Whether it left depends on a leave intent for
// its current incarnation.
func (t *table) gone(name string, now time.Time) []Event {
	r := t.members[name]
	if r == nil || !r.swimAlive {
		return nil
	}
	r.swimAlive = false
	r.linkUp = false
	if c, ok := t.intents[name]; ok && c >= r.m.Incarnation {
		r.m.State, r.m.Since = StateLeft, now
		return []Event{{EventLeft, r.m}}
	}
	r.m.State, r.m.Since = StateDead, now
	return []Event{{EventFailed, r.m}}
}

// leaveIntent folds in that name, at incarnation inc, announced it leaves.
// A member already seen dead at that incarnation is now seen left.
func (t *table) leaveIntent(name string, inc uint64, now time.Time) []Event {
	if c, ok := t.intents[name]; ok && c >= inc {
		return nil
	}
	r := t.members[name]
	if r != nil && r.m.Incarnation > inc {
		return nil // about an earlier incarnation
	}
	t.intents[name] = inc
	if r != nil && r.m.Incarnation == inc {
		r.leaving = true
	}
	if r != nil && !r.swimAlive && r.m.State == StateDead && r.m.Incarnation == inc {
		r.m.State, r.m.Since = StateLeft, now
		return []Event{{EventLeft, r.m}}
	}
	return nil
}

// link folds in that the Grove link to name went up or down.
func (t *table) link(name string, up bool, now time.Time) []Event {
	r := t.members[name]
	if r == nil || r.m.Local {
		return nil
	}
	r.linkUp = up
	if !up {
		r.linkLost = true
	}
	return t.rederive(r, now)
}

// connectFailed folds in that an attempt to connect to name failed: the
// member is suspect unless a link to it is up anyway (it connected to us).
func (t *table) connectFailed(name string, now time.Time) []Event {
	r := t.members[name]
	if r == nil || r.m.Local {
		return nil
	}
	r.linkLost = true
	return t.rederive(r, now)
}

// rederive recomputes the state of a member the protocol may hold alive
// after its link changed.
func (t *table) rederive(r *record, now time.Time) []Event {
	if !r.swimAlive {
		return nil
	}
	old := r.m.State
	r.m.State = r.derive()
	if r.m.State == old {
		return nil
	}
	r.m.Since = now
	if r.m.State == StateSuspect {
		return []Event{{EventSuspected, r.m}}
	}
	return []Event{{EventUpdated, r.m}}
}

// reap forgets dead members after deadAfter and left ones after leftAfter,
// and returns their names.
func (t *table) reap(now time.Time, deadAfter, leftAfter time.Duration) []string {
	var out []string
	for name, r := range t.members {
		if r.swimAlive {
			continue
		}
		if (r.m.State == StateDead && now.Sub(r.m.Since) >= deadAfter) ||
			(r.m.State == StateLeft && now.Sub(r.m.Since) >= leftAfter) {
			delete(t.members, name)
			out = append(out, name)
		}
	}
	for name := range t.intents {
		if t.members[name] == nil {
			delete(t.intents, name)
		}
	}
	slices.Sort(out)
	return out
}

// forget removes a dead member at once; false if it is not dead.
func (t *table) forget(name string) bool {
	r := t.members[name]
	if r == nil || r.swimAlive {
		return false
	}
	delete(t.members, name)
	delete(t.intents, name)
	return true
}

// list returns the members sorted by name.
func (t *table) list() []Member {
	out := make([]Member, 0, len(t.members))
	for _, r := range t.members {
		out = append(out, r.m)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// counts returns how many members are reachable (alive, this node included)
// and how many are known (alive, suspect or dead: every member not left).
func (t *table) counts() (reachable, known int) {
	for _, r := range t.members {
		switch r.m.State {
		case StateAlive:
			reachable++
			known++
		case StateSuspect, StateDead:
			known++
		}
	}
	return reachable, known
}

// hasQuorum reports whether reachable is a strict majority of known.
func hasQuorum(reachable, known int) bool { return known > 0 && reachable > known/2 }

package cluster

import (
	"slices"
	"strings"
	"time"
)

// table is the deterministic core of membership: it folds observations (the
// membership protocol's alive and gone notifications, leave intents, node
// link changes, authentications) into member states and returns the events
// they cause. It does no I/O and reads no clock: every call is given the
// time. It is not safe for concurrent use; Cluster serialises calls under
// its mutex.
//
// A member becomes visible (listed, announced, reachable) only once it has
// proved its name to this node: through the handshake of a gossip
// connection, either way, or of a node link. Until then the protocol may
// know it (another member described it) and the node tries to connect to
// it, which proves its name within a round trip, but it is not a member
// here: it is never listed and never reachable. While the protocol holds it
// alive it counts against quorum as an unreachable member would (a node
// that has heard of members must not claim a majority without them); once
// the protocol declares it dead it is forgotten, never a dead voter.
type table struct {
	self    string
	members map[string]*record
	intents map[string]uint64 // member name → Incarnation that announced its departure
	// authed holds the names that proved themselves to this node, and
	// when they last did.
	authed map[string]time.Time
	// unknown holds the nodes linked to this one that have no visible
	// record yet (by link incarnation): members not heard from, which
	// count against quorum until their state is merged.
	unknown map[string]uint64
	// outsiders holds the linked nodes that run no membership: they are
	// not counted.
	outsiders map[string]bool
}

// record is a member and the facts its state derives from.
type record struct {
	m         Member
	swimAlive bool // the membership protocol holds it alive
	linkUp    bool // this node has a Grove link to it
	linkLost  bool // in this life, a link went down or connecting failed
	leaving   bool // this life announced it leaves: its links may drop first
	// replaced is the incarnation of a node link to a later life than
	// m.Creation: the life described is dead, its successor not yet
	// described.
	replaced uint64
	// voteLost: dead long enough, while this node held a quorum, that it
	// no longer counts (see dropVotes).
	voteLost bool
}

func newTable(self string) *table {
	return &table{
		self: self, members: map[string]*record{}, intents: map[string]uint64{},
		authed: map[string]time.Time{}, unknown: map[string]uint64{}, outsiders: map[string]bool{},
	}
}

// visible reports whether r is a member here: this node, or one that
// proved its name.
func (t *table) visible(r *record) bool {
	if r.m.Local {
		return true
	}
	_, ok := t.authed[r.m.Name]
	return ok
}

// derive computes a record's state from its facts.
func (r *record) derive() State {
	switch {
	case r.m.State == StateLeft && !r.swimAlive:
		return StateLeft
	case !r.swimAlive, r.replaced > r.m.Creation:
		return StateDead
	case r.m.Local || r.linkUp || !r.linkLost || r.leaving:
		return StateAlive
	default:
		return StateSuspect
	}
}

// alive folds in that the protocol holds name alive with metadata w and
// gossip address gossip (memberlist's NotifyJoin and NotifyUpdate, or a
// member's own description in a state exchange).
func (t *table) alive(name, gossip string, w wireMeta, now time.Time) []Event {
	r := t.members[name]
	if r == nil {
		r = &record{m: Member{Name: name, Local: name == t.self}}
		t.members[name] = r
		t.apply(r, name, gossip, w, now)
		r.m.State, r.m.Since = r.derive(), now
		if !t.visible(r) {
			return nil
		}
		delete(t.unknown, name)
		return []Event{{EventJoined, r.m}}
	}
	wasGone := !r.swimAlive
	restarted := w.Creation > r.m.Creation
	if !wasGone && !restarted && w.Incarnation < r.m.Incarnation {
		return nil // an older description
	}
	changed := w.Incarnation != r.m.Incarnation || w.Addr != r.m.Addr || gossip != r.m.GossipAddr || !w.Meta.Equal(r.m.Meta)
	wasDead := r.m.State == StateDead
	t.apply(r, name, gossip, w, now)
	if wasGone || restarted {
		r.linkLost, r.leaving, r.voteLost = false, false, false
	}
	if !t.visible(r) {
		r.m.State, r.m.Since = r.derive(), now
		return nil
	}
	if st := r.derive(); wasGone || restarted || wasDead && st != StateDead {
		r.m.State, r.m.Since = st, now
		return []Event{{EventJoined, r.m}}
	}
	if changed {
		return []Event{{EventUpdated, r.m}}
	}
	return nil
}

// described folds in a member's description of itself from a state
// exchange. Only a later life of a known member counts: everything else
// the protocol itself tells, and a description that arrives late must not
// bring back a life the protocol has declared dead or gone.
func (t *table) described(name, gossip string, w wireMeta, now time.Time) []Event {
	r := t.members[name]
	if r == nil || r.m.Local || w.Creation <= r.m.Creation {
		return nil
	}
	return t.alive(name, gossip, w, now)
}

func (t *table) apply(r *record, name, gossip string, w wireMeta, now time.Time) {
	r.swimAlive = true
	r.m.Addr, r.m.GossipAddr = w.Addr, gossip
	r.m.Meta = w.Meta.clone()
	r.m.Creation, r.m.Incarnation = w.Creation, w.Incarnation
	if r.replaced <= w.Creation {
		r.replaced = 0
	}
	if c, ok := t.intents[name]; ok && c < w.Incarnation {
		delete(t.intents, name) // back since: the old departure is history
	}
}

// authenticated folds in that name proved its name to this node. A member
// the protocol holds alive becomes visible: EventJoined.
func (t *table) authenticated(name string, now time.Time) []Event {
	if name == t.self {
		return nil
	}
	_, was := t.authed[name]
	t.authed[name] = now
	r := t.members[name]
	if was || r == nil {
		return nil
	}
	delete(t.unknown, name)
	r.m.State, r.m.Since = r.derive(), now
	return []Event{{EventJoined, r.m}}
}

// gone folds in that the protocol declared name dead or left
// (memberlist's NotifyLeave). Whether it left depends on a leave intent for
// its current incarnation. A member never visible is forgotten.
func (t *table) gone(name string, now time.Time) []Event {
	r := t.members[name]
	if r == nil || !r.swimAlive {
		return nil
	}
	if !t.visible(r) {
		delete(t.members, name)
		return nil
	}
	r.swimAlive = false
	r.linkUp = false
	if c, ok := t.intents[name]; ok && c >= r.m.Incarnation {
		r.m.State, r.m.Since = StateLeft, now
		return []Event{{EventLeft, r.m}}
	}
	if r.m.State == StateDead {
		return nil // already dead: its life was replaced
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

// link folds in that the Grove link to name, of incarnation creation (0
// when unknown), went up or down. A link proves the peer's name. A link to
// a later incarnation than the member's known one means that life is over:
// the member is dead until its successor's description arrives.
func (t *table) link(name string, up bool, creation uint64, now time.Time) []Event {
	if name == t.self {
		return nil
	}
	var evs []Event
	if up {
		evs = t.authenticated(name, now)
	}
	r := t.members[name]
	if r == nil || !t.visible(r) {
		if up && !t.outsiders[name] {
			t.unknown[name] = creation
		} else if !up {
			delete(t.unknown, name)
			delete(t.outsiders, name)
		}
		return evs
	}
	r.linkUp = up
	if !up {
		r.linkLost = true
	}
	if up && creation > r.m.Creation {
		r.replaced = max(r.replaced, creation)
	}
	return append(evs, t.rederive(r, now)...)
}

// outsider folds in that the linked node name runs no membership: it does
// not count against quorum while its link lasts.
func (t *table) outsider(name string) {
	if _, linked := t.unknown[name]; linked {
		delete(t.unknown, name)
		t.outsiders[name] = true
	}
}

// needsMerge reports whether a link up to name, of incarnation creation,
// brings news the protocol has not: a node not known as a member here, or
// known dead, or known in an earlier life. A member that left may keep its
// node, and links to it, running: that is no news.
func (t *table) needsMerge(name string, creation uint64) bool {
	if name == t.self || t.outsiders[name] {
		return false
	}
	r := t.members[name]
	if r == nil || !t.visible(r) || creation > r.m.Creation {
		return true
	}
	return r.m.State == StateDead && r.replaced == 0 || r.replaced > r.m.Creation
}

// mergeUrgent reports whether news a link brings about name is worth an
// exchange at once: about a known member (dead, or in an earlier life), or
// for a node that knows no other live member (it just started, or
// restarted). A node not known to a member of a live cluster is usually
// described by gossip within a round or two, which costs less.
func (t *table) mergeUrgent(name string) bool {
	if r := t.members[name]; r != nil && t.visible(r) {
		return true
	}
	for _, r := range t.members {
		if !r.m.Local && r.swimAlive && t.visible(r) {
			return false
		}
	}
	return true
}

// connectFailed folds in that an attempt to connect to name failed: the
// member is suspect unless a link to it is up anyway (it connected to us).
func (t *table) connectFailed(name string, now time.Time) []Event {
	r := t.members[name]
	if r == nil || r.m.Local || !t.visible(r) {
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
	switch r.m.State {
	case StateSuspect:
		return []Event{{EventSuspected, r.m}}
	case StateDead:
		return []Event{{EventFailed, r.m}}
	}
	return []Event{{EventUpdated, r.m}}
}

// dropVotes takes the vote of every member dead for at least after, but
// only while this node holds a quorum: the smaller side of a partition,
// which sees the larger side dead, never talks itself into a majority by
// waiting, while a majority stops counting a member that died for good.
// A member that comes back alive votes again.
func (t *table) dropVotes(now time.Time, after time.Duration) {
	if !hasQuorum(t.counts()) {
		return
	}
	for _, r := range t.members {
		if r.m.State == StateDead && !r.voteLost && now.Sub(r.m.Since) >= after && t.visible(r) {
			r.voteLost = true
		}
	}
}

// reap forgets dead members that lost their vote (dropVotes) after
// deadAfter and left ones after leftAfter, and returns their names; it also
// forgets authentications of names without a record after leftAfter.
func (t *table) reap(now time.Time, deadAfter, leftAfter time.Duration) []string {
	var out []string
	for name, r := range t.members {
		if r.swimAlive {
			continue
		}
		if (r.m.State == StateDead && r.voteLost && now.Sub(r.m.Since) >= deadAfter) ||
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
	for name, at := range t.authed {
		if t.members[name] == nil && now.Sub(at) >= leftAfter {
			delete(t.authed, name)
		}
	}
	slices.Sort(out)
	return out
}

// forget removes a dead member at once; false if it is not dead.
func (t *table) forget(name string) bool {
	r := t.members[name]
	if r == nil || r.swimAlive && r.m.State != StateDead || r.m.Local {
		return false
	}
	delete(t.members, name)
	delete(t.intents, name)
	delete(t.authed, name)
	return true
}

// list returns the visible members sorted by name.
func (t *table) list() []Member {
	out := make([]Member, 0, len(t.members))
	for _, r := range t.members {
		if t.visible(r) {
			out = append(out, r.m)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// voters returns the electorate of counts, sorted: the visible members
// that have not left nor lost their vote, the members described but not
// yet proved, and the linked nodes not heard from yet.
func (t *table) voters() []string {
	var out []string
	for _, r := range t.members {
		if r.votes() && (t.visible(r) || r.swimAlive) {
			out = append(out, r.m.Name)
		}
	}
	for name := range t.unknown {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func (r *record) votes() bool {
	switch r.m.State {
	case StateAlive, StateSuspect:
		return true
	case StateDead:
		return !r.voteLost
	}
	return false
}

// counts returns how many members are reachable (alive and visible, this
// node included) and how many vote: alive, suspect, dead ones that did not
// lose their vote, members described but not yet proved (unreachable), and
// linked nodes not heard from yet.
func (t *table) counts() (reachable, known int) {
	for _, r := range t.members {
		if !r.votes() {
			continue
		}
		if !t.visible(r) {
			if r.swimAlive {
				known++
			}
			continue
		}
		known++
		if r.m.State == StateAlive {
			reachable++
		}
	}
	return reachable, known + len(t.unknown)
}

// hasQuorum reports whether reachable is a strict majority of known.
func hasQuorum(reachable, known int) bool { return known > 0 && reachable > known/2 }

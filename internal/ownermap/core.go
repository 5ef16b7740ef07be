package ownermap

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/grovedev/grove/proc"
)

// Reason says why an entry left this node's view.
type Reason uint8

// Reasons an entry leaves the view.
const (
	ReasonNone         Reason = iota
	ReasonUnregistered        // its node removed it on request
	ReasonExited              // its process exited
	ReasonConflict            // it lost a conflict and its node removed it
	ReasonHandoff             // it was replaced by its handed-off successor
	ReasonNodeDown            // its node was declared dead, left, or restarted
	ReasonShadowed            // a unique key: a contender that wins took it in this view
	maxReason
)

func (r Reason) String() string {
	switch r {
	case ReasonUnregistered:
		return "unregistered"
	case ReasonExited:
		return "exited"
	case ReasonConflict:
		return "conflict"
	case ReasonHandoff:
		return "handoff"
	case ReasonNodeDown:
		return "nodedown"
	case ReasonShadowed:
		return "shadowed"
	}
	return "none"
}

// EventKind says how the view of a key changed.
type EventKind uint8

// Kinds of view changes.
const (
	Added   EventKind = iota + 1 // the entry became visible
	Updated                      // a visible entry changed its value
	Removed                      // the entry left the view (Reason says why)
)

// Event is one change of this node's resolved view: for a unique map the
// winner of each key, for a duplicate map every entry.
type Event struct {
	Kind   EventKind
	Entry  Entry
	Reason Reason // Removed only
}

// Conflict is a unique key held by entries of two origins.
type Conflict struct {
	Key    string
	Winner Entry
	Loser  Entry
	// Local is the contender this node hosts: Winner or Loser.
	LocalWon bool
}

// Errors of the core.
var (
	// ErrTaken is returned by put for a unique key another entry holds in
	// this node's view.
	ErrTaken = errors.New("ownermap: key taken")
	// ErrNoEntry is returned for a Ref this node does not own.
	ErrNoEntry = errors.New("ownermap: no such entry")
)

// TakenError is ErrTaken with the entry that holds the key.
type TakenError struct{ Holder Entry }

func (e *TakenError) Error() string {
	return fmt.Sprintf("ownermap: key %q held by %v", e.Holder.Key, e.Holder.PID)
}

func (e *TakenError) Unwrap() error { return ErrTaken }

// record is an entry with its bookkeeping. Records are immutable once in
// the index: a change replaces the pointer.
type record struct {
	Entry
	ver uint64 // origin seq of the entry's last change
	raw []byte // the encoded value
}

type tomb struct {
	id, seq uint64
	why     Reason
}

type originState struct {
	Origin
	seq     uint64 // every change up to seq applied
	entries map[uint64]*record
	// The own origin keeps tombstones of removed entries until every peer
	// has them; a peer behind floor gets the full state instead.
	tombs []tomb
	floor uint64
	up    bool
	// downSince is when the origin went down (zero while up).
	downSince time.Time
}

// memberView is what membership says of a node.
type memberView struct {
	up       bool // alive or suspect
	creation uint64
}

// peerState is the sync bookkeeping for one peer node.
type peerState struct {
	creation uint64            // the peer incarnation these numbers are about
	digest   map[Origin]uint64 // what the peer said it has
	sent     map[Origin]uint64 // what was sent to it, not yet acknowledged
	sentAt   map[Origin]int    // tick of that send
	behind   map[Origin]int    // ticks it has been behind on a relayed origin
	needAck  bool              // data received since the last message to it
	lastSent int               // tick of the last message to it
	synced   bool              // it sent its own entries up to its seq
	heard    bool              // a message of this incarnation arrived
}

func newPeer(creation uint64) *peerState {
	return &peerState{creation: creation, digest: map[Origin]uint64{}, sent: map[Origin]uint64{},
		sentAt: map[Origin]int{}, behind: map[Origin]int{}, lastSent: -1 << 30}
}

type keyState struct {
	recs []*record // visible entries: in conflict order (winner first) for unique maps
}

type pendingConflict struct {
	loser  *record
	winner *record
	since  int
}

type coreConfig struct {
	unique          bool
	less            func(a, b Entry) bool
	relayTicks      int
	retransmitTicks int
	digestTicks     int
	conflictTicks   int
	downRetention   time.Duration
	// unknownTicks bounds how long a node that peers report entries of,
	// and that the membership does not list yet, holds completeness up.
	unknownTicks int
}

// core is the deterministic heart of a Map: the entries of every origin,
// the visible index, and the sync bookkeeping. It does no I/O, starts no
// goroutine and reads no clock: time comes in as arguments. It is not safe
// for concurrent use; Map serializes calls under its lock.
type core struct {
	cfg       coreConfig
	self      Origin
	own       *originState
	origins   map[Origin]*originState
	newest    map[string]uint64 // newest creation known per node
	members   map[string]memberView
	forgotten map[Origin]time.Time
	keys      map[string]*keyState
	peers     map[string]*peerState
	tick      int
	nextID    uint64
	// heard is set by the first setMembers: before it the core knows of
	// no member and cannot be complete.
	heard bool
	// absent lists members (with the creation asked) that answered that
	// they run no map of this name: completeness and acknowledgements do
	// not wait for them until they speak.
	absent map[string]uint64
	// unknown lists nodes whose entries peers report but that the
	// membership does not list (yet: a joiner learns members one by one),
	// with the tick first reported: completeness waits for them, for
	// unknownTicks at most (a node gone for good and forgotten may linger
	// in the peers' tables).
	unknown map[string]int
	// listed holds every node the membership ever listed.
	listed map[string]bool

	// Output of the operation in progress, taken by the caller.
	dirty     map[string][]*record // key → resolved view before the operation
	why       map[Ref]Reason
	events    []Event
	conflicts []Conflict
	pending   map[Ref]*pendingConflict // local losers waiting to be settled
	told      map[[2]Ref]bool          // conflicts already reported to a local winner
	publish   func(key string, resolved []Entry)
	stats     coreStats
}

type coreStats struct {
	gaps, stale uint64
}

func newCore(self Origin, cfg coreConfig) *core {
	if cfg.less == nil {
		cfg.less = Less
	}
	c := &core{
		cfg: cfg, self: self,
		origins:   map[Origin]*originState{},
		newest:    map[string]uint64{self.Node: self.Creation},
		members:   map[string]memberView{},
		forgotten: map[Origin]time.Time{},
		keys:      map[string]*keyState{},
		peers:     map[string]*peerState{},
		dirty:     map[string][]*record{},
		why:       map[Ref]Reason{},
		pending:   map[Ref]*pendingConflict{},
		told:      map[[2]Ref]bool{},
		absent:    map[string]uint64{},
		unknown:   map[string]int{},
		listed:    map[string]bool{},
	}
	if c.cfg.unknownTicks == 0 {
		c.cfg.unknownTicks = 30
	}
	c.own = &originState{Origin: self, entries: map[uint64]*record{}, up: true}
	c.origins[self] = c.own
	return c
}

// resolved is the part of a key's entries that the view shows.
func (c *core) resolved(key string) []*record {
	ks := c.keys[key]
	if ks == nil || len(ks.recs) == 0 {
		return nil
	}
	if c.cfg.unique {
		return ks.recs[:1]
	}
	return ks.recs
}

// touch records the view of key before the operation changes it.
func (c *core) touch(key string) {
	if _, ok := c.dirty[key]; ok {
		return
	}
	c.dirty[key] = slices.Clone(c.resolved(key))
}

// index adds r to the visible index.
func (c *core) index(r *record) {
	c.touch(r.Key)
	ks := c.keys[r.Key]
	if ks == nil {
		ks = &keyState{}
		c.keys[r.Key] = ks
	}
	if !c.cfg.unique {
		ks.recs = append(ks.recs, r)
		return
	}
	i, _ := slices.BinarySearchFunc(ks.recs, r, func(a, b *record) int {
		switch {
		case c.cfg.less(a.Entry, b.Entry):
			return -1
		case c.cfg.less(b.Entry, a.Entry):
			return 1
		}
		return 0
	})
	ks.recs = slices.Insert(ks.recs, i, r)
}

// unindex removes r (by Ref) from the visible index.
func (c *core) unindex(r *record, why Reason) {
	ks := c.keys[r.Key]
	if ks == nil {
		return
	}
	i := slices.IndexFunc(ks.recs, func(x *record) bool { return x.Ref == r.Ref })
	if i < 0 {
		return
	}
	c.touch(r.Key)
	c.why[r.Ref] = why
	ks.recs = slices.Delete(ks.recs, i, i+1)
	if len(ks.recs) == 0 {
		delete(c.keys, r.Key)
	}
}

// replace swaps the record of an entry for a changed one, keeping its
// place (the order does not depend on the value).
func (c *core) replace(old, r *record) {
	ks := c.keys[r.Key]
	if ks == nil {
		return
	}
	i := slices.Index(ks.recs, old)
	if i < 0 {
		return
	}
	c.touch(r.Key)
	ks.recs[i] = r
}

// finish turns the keys the operation touched into events, conflicts and
// published views.
func (c *core) finish() {
	for key, before := range c.dirty {
		after := c.resolved(key)
		for _, b := range before {
			i := slices.IndexFunc(after, func(a *record) bool { return a.Ref == b.Ref })
			switch {
			case i < 0:
				why := c.why[b.Ref]
				if why == ReasonNone {
					why = ReasonShadowed
				}
				c.events = append(c.events, Event{Kind: Removed, Entry: b.Entry, Reason: why})
			case after[i] != b:
				c.events = append(c.events, Event{Kind: Updated, Entry: after[i].Entry})
			}
		}
		for _, a := range after {
			if !slices.ContainsFunc(before, func(b *record) bool { return b.Ref == a.Ref }) {
				c.events = append(c.events, Event{Kind: Added, Entry: a.Entry})
			}
		}
		if c.publish != nil {
			out := make([]Entry, len(after))
			for i, a := range after {
				out[i] = a.Entry
			}
			c.publish(key, out)
		}
		if c.cfg.unique {
			c.checkConflicts(key)
		}
	}
	clear(c.dirty)
	clear(c.why)
}

// checkConflicts notes the conflicts of a unique key: local entries that
// lose wait in pending to be settled, a local winner is told at once.
func (c *core) checkConflicts(key string) {
	ks := c.keys[key]
	if ks == nil || len(ks.recs) < 2 {
		return
	}
	w := ks.recs[0]
	for _, l := range ks.recs[1:] {
		if l.Ref.Origin == c.self {
			if p := c.pending[l.Ref]; p == nil || p.winner.Ref != w.Ref {
				c.pending[l.Ref] = &pendingConflict{loser: l, winner: w, since: c.tick}
			}
		}
		if w.Ref.Origin == c.self && l.Ref.Origin != c.self && !c.told[[2]Ref{w.Ref, l.Ref}] {
			c.told[[2]Ref{w.Ref, l.Ref}] = true
			c.conflicts = append(c.conflicts, Conflict{Key: key, Winner: w.Entry, Loser: l.Entry, LocalWon: true})
		}
	}
}

// settle reports the local losers whose fate is due: the winner's node
// has acknowledged the loser (so it saw the conflict too), or
// conflictTicks passed. A conflict whose winner left, or whose loser is
// gone, is dropped.
func (c *core) settle() {
	for ref, p := range c.pending {
		cur := c.own.entries[ref.ID]
		ks := c.keys[p.winner.Key]
		if cur == nil || ks == nil || len(ks.recs) == 0 || ks.recs[0].Ref != p.winner.Ref || ks.recs[0] == cur ||
			!slices.ContainsFunc(ks.recs, func(r *record) bool { return r.Ref == ref }) {
			delete(c.pending, ref)
			continue
		}
		acked := false
		if ps := c.peers[p.winner.Ref.Node]; ps != nil && ps.creation == p.winner.Ref.Creation {
			acked = ps.digest[c.self] >= cur.ver
		}
		if !acked && c.tick-p.since < c.cfg.conflictTicks {
			continue
		}
		delete(c.pending, ref)
		c.conflicts = append(c.conflicts, Conflict{Key: cur.Key, Winner: ks.recs[0].Entry, Loser: cur.Entry})
	}
	for k := range c.told {
		if c.own.entries[k[0].ID] == nil || c.own.entries[k[0].ID].Ref != k[0] {
			delete(c.told, k)
		}
	}
}

// take returns and clears the events and conflicts gathered so far.
func (c *core) take() ([]Event, []Conflict) {
	ev, cf := c.events, c.conflicts
	c.events, c.conflicts = nil, nil
	return ev, cf
}

// putOptions are the optional parts of a new entry.
type putOptions struct {
	claim      *Claim // inherited claim (handoff); nil for a fresh one
	supersedes Ref
	force      bool // skip the uniqueness check (a handoff replacing its predecessor)
}

// put adds an entry of the own origin. stamp is the registration time.
func (c *core) put(key string, pid proc.PID, value any, raw []byte, stampNow func() Claim, o putOptions) (*record, error) {
	if c.cfg.unique && !o.force {
		if ks := c.keys[key]; ks != nil && len(ks.recs) > 0 {
			return nil, &TakenError{Holder: ks.recs[0].Entry}
		}
	}
	c.nextID++
	c.own.seq++
	ref := Ref{Origin: c.self, ID: c.nextID}
	r := &record{Entry: Entry{Key: key, PID: pid, Value: value, Ref: ref, Supersedes: o.supersedes}, ver: c.own.seq, raw: raw}
	if o.claim != nil {
		r.Claim = *o.claim
	} else {
		r.Claim = stampNow()
		r.Claim.First = ref
	}
	c.own.entries[ref.ID] = r
	c.index(r)
	c.finish()
	return r, nil
}

// update changes the process and value of an own entry; its claim stays.
func (c *core) update(ref Ref, pid proc.PID, value any, raw []byte) (*record, error) {
	old := c.own.entries[ref.ID]
	if ref.Origin != c.self || old == nil {
		return nil, fmt.Errorf("%w: %v", ErrNoEntry, ref)
	}
	c.own.seq++
	r := &record{Entry: old.Entry, ver: c.own.seq, raw: raw}
	r.PID, r.Value = pid, value
	c.own.entries[ref.ID] = r
	c.replace(old, r)
	c.finish()
	return r, nil
}

// remove deletes an own entry, leaving a tombstone for the peers.
func (c *core) remove(ref Ref, why Reason) (Entry, bool) {
	r := c.own.entries[ref.ID]
	if ref.Origin != c.self || r == nil {
		return Entry{}, false
	}
	c.own.seq++
	delete(c.own.entries, ref.ID)
	c.own.tombs = append(c.own.tombs, tomb{id: ref.ID, seq: c.own.seq, why: why})
	c.unindex(r, why)
	c.finish()
	return r.Entry, true
}

// ownEntry returns the own entry ref names.
func (c *core) ownEntry(ref Ref) (*record, bool) {
	if ref.Origin != c.self {
		return nil, false
	}
	r := c.own.entries[ref.ID]
	return r, r != nil
}

// visibleLocked reports whether an origin's entries belong in the view.
func (c *core) visible(o *originState) bool {
	if o.Origin == c.self {
		return true
	}
	if c.newest[o.Node] != o.Creation {
		return false
	}
	m, ok := c.members[o.Node]
	return ok && m.up && m.creation <= o.Creation
}

// setVisible shows or hides an origin's entries.
func (c *core) setVisible(o *originState, now time.Time) {
	up := c.visible(o)
	if up == o.up {
		return
	}
	o.up = up
	if up {
		o.downSince = time.Time{}
		for _, r := range o.entries {
			c.index(r)
		}
		return
	}
	o.downSince = now
	for _, r := range o.entries {
		c.unindex(r, ReasonNodeDown)
	}
}

// member is one member as the membership reports it.
type member struct {
	name     string
	up       bool
	creation uint64
}

// setMembers takes the membership's current view: origins of nodes that
// are dead, left or unknown, and older incarnations of any node, go down;
// origins of live nodes come up. Down origins are forgotten after
// downRetention.
func (c *core) setMembers(ms []member, now time.Time) {
	c.heard = true
	clear(c.members)
	for _, m := range ms {
		if m.name == c.self.Node {
			continue
		}
		c.members[m.name] = memberView{up: m.up, creation: m.creation}
		delete(c.unknown, m.name)
		c.listed[m.name] = true
		if m.creation > c.newest[m.name] {
			c.newest[m.name] = m.creation
		}
	}
	for _, o := range c.origins {
		c.setVisible(o, now)
	}
	for name, p := range c.peers {
		if m, ok := c.members[name]; !ok || !m.up {
			delete(c.peers, name)
		} else if m.creation > p.creation {
			c.peers[name] = newPeer(m.creation)
		}
	}
	c.gc(now)
	c.finish()
}

// gc forgets origins down for longer than downRetention.
func (c *core) gc(now time.Time) {
	for k, o := range c.origins {
		if !o.up && !o.downSince.IsZero() && now.Sub(o.downSince) >= c.cfg.downRetention {
			delete(c.origins, k)
			c.forgotten[k] = now
		}
	}
	for k, at := range c.forgotten {
		if now.Sub(at) >= 10*c.cfg.downRetention {
			delete(c.forgotten, k)
		}
	}
}

// origin returns the state of o, creating it. It returns nil for an
// origin that must be ignored: a forgotten one (unless revive, for data
// sent by the origin itself) or an incarnation older than one known.
func (c *core) origin(o Origin, now time.Time, revive bool) *originState {
	if s := c.origins[o]; s != nil {
		return s
	}
	if _, gone := c.forgotten[o]; gone {
		if !revive {
			return nil
		}
		delete(c.forgotten, o)
	}
	s := &originState{Origin: o, entries: map[uint64]*record{}, downSince: now}
	c.origins[o] = s
	if o.Creation > c.newest[o.Node] {
		// A newer incarnation: the older ones are gone for good.
		c.newest[o.Node] = o.Creation
		for _, old := range c.origins {
			if old.Node == o.Node && old != s {
				c.setVisible(old, now)
			}
		}
	}
	c.setVisible(s, now)
	return s
}

// digest lists what this node has of every origin it keeps.
func (c *core) digest() []originSeq {
	out := make([]originSeq, 0, len(c.origins))
	for _, o := range c.origins {
		out = append(out, originSeq{Origin: o.Origin, Seq: o.seq})
	}
	slices.SortFunc(out, func(a, b originSeq) int { return compareOrigin(a.Origin, b.Origin) })
	return out
}

func compareOrigin(a, b Origin) int {
	return compareRef(Ref{Origin: a}, Ref{Origin: b})
}

// receive applies a sync message from a peer.
func (c *core) receive(m *syncMsg, now time.Time) {
	if m.From == c.self || m.From.Node == c.self.Node {
		return
	}
	if m.From.Creation < c.newest[m.From.Node] {
		c.stats.stale++
		return
	}
	delete(c.absent, m.From.Node)
	p := c.peers[m.From.Node]
	if p == nil || p.creation < m.From.Creation {
		p = newPeer(m.From.Creation)
		c.peers[m.From.Node] = p
	} else if p.creation > m.From.Creation {
		c.stats.stale++
		return
	}
	reported := make(map[Origin]uint64, len(m.Digest))
	for _, d := range m.Digest {
		reported[d.Origin] = d.Seq
	}
	// Count, per origin, the reports in which the peer is behind this node
	// and made no progress: a peer that stays behind gets a relay.
	for o, s := range c.origins {
		if o == c.self || o.Node == m.From.Node && o.Creation >= m.From.Creation || s.seq == 0 {
			continue
		}
		if got := reported[o]; got < s.seq && got <= p.digest[o] {
			p.behind[o]++
		} else {
			delete(p.behind, o)
		}
	}
	for o, seq := range reported {
		if seq > 0 && o.Node != c.self.Node && c.unknownNode(o.Node) {
			if _, ok := c.unknown[o.Node]; !ok {
				c.unknown[o.Node] = c.tick
			}
		}
		if seq > p.digest[o] {
			p.digest[o] = seq
		}
		if o == c.self && seq > c.own.seq {
			// The peer claims more of us than we wrote: it forgot us
			// and says so; start it over.
			p.digest[o] = 0
			p.sent[o] = 0
		}
	}
	if !p.heard {
		// First word from this incarnation: what was sent to it before
		// may have arrived before it could take it (a member whose map
		// was not running yet drops it). Send again what it lacks at the
		// next message rather than RetransmitTicks later: a joining
		// member then acknowledges at once, and waits for a majority do
		// not stall on it.
		p.heard = true
		for o, sent := range p.sent {
			if sent > p.digest[o] {
				p.sent[o] = p.digest[o]
			}
		}
	}
	// A local loser whose winner's node has now seen it is settled before
	// the message's changes apply, so that what the winner's node does
	// about the conflict (it may drop its own entry) cannot undo the
	// verdict.
	c.settle()
	for i := range m.Deltas {
		c.apply(&m.Deltas[i], m.From, now)
	}
	if len(m.Deltas) > 0 {
		p.needAck = true
	}
	own := c.origins[m.From]
	for _, d := range m.Digest {
		if d.Origin == m.From && (d.Seq == 0 || own != nil && own.seq >= d.Seq) {
			p.synced = true
		}
	}
	c.finish()
}

// apply applies one origin's delta (or full state).
func (c *core) apply(d *delta, from Origin, now time.Time) {
	if d.Origin == c.self || d.Origin.Node == c.self.Node && d.Origin.Creation >= c.self.Creation {
		return
	}
	o := c.origin(d.Origin, now, d.Origin == from)
	if o == nil {
		c.stats.stale++
		return
	}
	switch {
	case d.Full:
		if d.Upto <= o.seq && o.seq != 0 {
			return
		}
		keep := make(map[uint64]bool, len(d.Entries))
		for i := range d.Entries {
			keep[d.Entries[i].ID] = true
		}
		for id, r := range o.entries {
			if !keep[id] {
				delete(o.entries, id)
				if o.up {
					c.unindex(r, ReasonUnregistered)
				}
			}
		}
	case d.Base > o.seq:
		c.stats.gaps++
		return
	case d.Upto <= o.seq:
		return
	}
	for i := range d.Entries {
		c.applyEntry(o, &d.Entries[i])
	}
	if !d.Full {
		for _, t := range d.Removed {
			if r := o.entries[t.ID]; r != nil && r.ver < t.Seq {
				delete(o.entries, t.ID)
				if o.up {
					c.unindex(r, t.Why)
				}
			}
		}
	}
	o.seq = max(o.seq, d.Upto)
}

func (c *core) applyEntry(o *originState, w *wireEntry) {
	old := o.entries[w.ID]
	if old != nil && old.ver >= w.Ver {
		return
	}
	r := &record{Entry: Entry{
		Key: w.Key, PID: w.PID, Value: w.value, Ref: Ref{Origin: o.Origin, ID: w.ID},
		Claim: w.Claim, Supersedes: w.Supersedes,
	}, ver: w.Ver, raw: w.Value}
	if r.Claim.First.IsZero() {
		r.Claim.First = r.Ref
	}
	o.entries[w.ID] = r
	if !o.up {
		return
	}
	if old != nil && old.Key == r.Key {
		c.replace(old, r)
		return
	}
	if old != nil {
		c.unindex(old, ReasonUnregistered)
	}
	c.index(r)
}

// outMsg is a message to send to a peer.
type outMsg struct {
	to  string
	msg *syncMsg
}

// step runs one sync round for the given connected peers: deltas of the
// own origin, relays of other origins a peer stays behind on, and digests
// where an acknowledgement is due. It also settles due conflicts and
// drops tombstones every peer has.
func (c *core) step(peers []string, now time.Time) []outMsg {
	c.tick++
	c.settle()
	c.gc(now)
	var out []outMsg
	for _, name := range peers {
		if m := c.messageFor(name, true); m != nil {
			out = append(out, outMsg{to: name, msg: m})
		}
	}
	c.trimTombs()
	c.finish()
	return out
}

// flush sends the own origin's new changes to the peers at once, without
// relays or idle digests.
func (c *core) flush(peers []string) []outMsg {
	var out []outMsg
	for _, name := range peers {
		if m := c.messageFor(name, false); m != nil {
			out = append(out, outMsg{to: name, msg: m})
		}
	}
	return out
}

func (c *core) peer(name string) *peerState {
	p := c.peers[name]
	if p == nil {
		p = newPeer(c.members[name].creation)
		c.peers[name] = p
	}
	return p
}

// messageFor builds the message for a peer, nil when there is nothing to
// say. round is true for the periodic round (relays, retransmissions and
// digests), false for an eager flush of the own origin.
func (c *core) messageFor(name string, round bool) *syncMsg {
	p := c.peer(name)
	var deltas []delta
	// The own origin: what the peer has not acknowledged nor been sent.
	base := max(p.digest[c.self], p.sent[c.self])
	if round && p.sent[c.self] > p.digest[c.self] && c.tick-p.sentAt[c.self] >= c.cfg.retransmitTicks {
		base = p.digest[c.self] // lost on the way, or the peer restarted
	}
	if c.own.seq > base {
		deltas = append(deltas, c.ownDelta(base))
		p.sent[c.self] = c.own.seq
		p.sentAt[c.self] = c.tick
	}
	if round {
		for _, o := range c.origins {
			if o.Origin == c.self || o.Node == name && o.Creation >= p.creation || o.seq == 0 {
				continue
			}
			if p.digest[o.Origin] >= o.seq || p.behind[o.Origin] < c.cfg.relayTicks {
				continue
			}
			if p.sent[o.Origin] >= o.seq && c.tick-p.sentAt[o.Origin] < c.cfg.retransmitTicks {
				continue
			}
			deltas = append(deltas, fullDelta(o))
			p.sent[o.Origin] = o.seq
			p.sentAt[o.Origin] = c.tick
			delete(p.behind, o.Origin)
		}
	}
	if len(deltas) == 0 && !(round && (p.needAck || c.tick-p.lastSent >= c.cfg.digestTicks)) {
		return nil
	}
	p.needAck = false
	p.lastSent = c.tick
	slices.SortFunc(deltas, func(a, b delta) int { return compareOrigin(a.Origin, b.Origin) })
	return &syncMsg{From: c.self, Digest: c.digest(), Deltas: deltas}
}

// ownDelta returns the own origin's changes after base, or its full state
// when tombstones after base are gone.
func (c *core) ownDelta(base uint64) delta {
	if base < c.own.floor {
		return fullDelta(c.own)
	}
	d := delta{Origin: c.self, Base: base, Upto: c.own.seq}
	for _, r := range c.own.entries {
		if r.ver > base {
			d.Entries = append(d.Entries, toWire(r))
		}
	}
	for _, t := range c.own.tombs {
		if t.seq > base {
			d.Removed = append(d.Removed, wireTomb{ID: t.id, Seq: t.seq, Why: t.why})
		}
	}
	slices.SortFunc(d.Entries, func(a, b wireEntry) int { return int64cmp(a.ID, b.ID) })
	return d
}

func int64cmp(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func fullDelta(o *originState) delta {
	d := delta{Origin: o.Origin, Full: true, Upto: o.seq}
	for _, r := range o.entries {
		d.Entries = append(d.Entries, toWire(r))
	}
	slices.SortFunc(d.Entries, func(a, b wireEntry) int { return int64cmp(a.ID, b.ID) })
	return d
}

func toWire(r *record) wireEntry {
	return wireEntry{ID: r.Ref.ID, Ver: r.ver, Key: r.Key, PID: r.PID, Claim: r.Claim, Supersedes: r.Supersedes, Value: r.raw, value: r.Value}
}

// trimTombs drops the tombstones every live peer has acknowledged.
func (c *core) trimTombs() {
	if len(c.own.tombs) == 0 {
		return
	}
	floor := c.own.seq
	for name, m := range c.members {
		if !m.up || c.isAbsent(name) {
			continue
		}
		p := c.peers[name]
		if p == nil {
			return // a live member never heard from: keep everything
		}
		floor = min(floor, p.digest[c.self])
	}
	i := 0
	for i < len(c.own.tombs) && c.own.tombs[i].seq <= floor {
		i++
	}
	if i > 0 {
		c.own.tombs = slices.Delete(c.own.tombs, 0, i)
		c.own.floor = max(c.own.floor, floor)
	}
}

// complete reports whether every live member has sent this node its
// entries: only then is a missing key known to be missing.
func (c *core) complete() (bool, string) {
	if !c.heard {
		return false, "the membership"
	}
	for _, name := range slices.Sorted(maps.Keys(c.unknown)) {
		if c.tick-c.unknown[name] < c.cfg.unknownTicks && c.unknownNode(name) {
			return false, name + " (reported by a peer, not yet a member here)"
		}
	}
	names := slices.Sorted(maps.Keys(c.members))
	for _, name := range names {
		m := c.members[name]
		if !m.up || c.isAbsent(name) {
			continue
		}
		p := c.peers[name]
		if p == nil || !p.synced || p.creation < m.creation {
			return false, name
		}
	}
	return true, ""
}

// unknownNode reports whether the membership never listed node.
func (c *core) unknownNode(node string) bool { return !c.listed[node] }

// acked reports whether every live member has acknowledged the own origin
// up to seq, naming one that has not.
func (c *core) acked(seq uint64, connected func(string) bool) (bool, string) {
	for name, m := range c.members {
		if !m.up || connected != nil && !connected(name) || c.isAbsent(name) {
			continue
		}
		p := c.peers[name]
		if p == nil || p.digest[c.self] < seq {
			return false, name
		}
	}
	return true, ""
}

// isAbsent reports whether member name said it runs no such map.
func (c *core) isAbsent(name string) bool {
	cr, ok := c.absent[name]
	return ok && cr >= c.members[name].creation
}

// markAbsent records that member name (of creation) runs no such map.
func (c *core) markAbsent(name string, creation uint64) {
	if p := c.peers[name]; p != nil && p.synced && p.creation >= creation {
		return // it spoke since
	}
	c.absent[name] = creation
}

// unknownMembers lists live members never heard from nor known absent.
func (c *core) unknownMembers() []member {
	var out []member
	for name, m := range c.members {
		if !m.up || c.isAbsent(name) {
			continue
		}
		if p := c.peers[name]; p != nil && p.synced && p.creation >= m.creation {
			continue
		}
		out = append(out, member{name: name, up: true, creation: m.creation})
	}
	return out
}

// ackedMajority reports whether a strict majority of the live members
// that run the map (this node included) have acknowledged the own origin
// up to seq.
func (c *core) ackedMajority(seq uint64) (bool, string) {
	acked, total, missing := 1, 1, ""
	for name, m := range c.members {
		if !m.up || c.isAbsent(name) {
			continue
		}
		total++
		if p := c.peers[name]; p != nil && p.digest[c.self] >= seq {
			acked++
		} else if missing == "" || name < missing {
			missing = name
		}
	}
	return acked > total/2, missing
}

// orphans returns the entries of origins that are down: the last known
// entries of dead, departed or restarted nodes.
func (c *core) orphans() []Entry {
	var out []Entry
	for _, o := range c.origins {
		if o.up {
			continue
		}
		for _, r := range o.entries {
			out = append(out, r.Entry)
		}
	}
	return out
}

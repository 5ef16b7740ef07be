package replica

import (
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/grovedev/grove/crdt"
)

// This file is the deterministic part of replication: what a replica ships
// to each peer given what the peers acknowledged, and how it applies what it
// receives. It does no I/O and reads no clock; time is counted in ticks
// (sync rounds), so tests drive it step by step.

// coreConfig is the part of Config the core needs, in ticks.
type coreConfig struct {
	retransmitTicks uint64
	relayTicks      uint64
	digestTicks     uint64
	forgetTicks     uint64
	maxMessageBytes int
	maxLogBytes     int
}

// entry is a logged delta (or delta group) of one origin, covering its
// sequence numbers from+1 .. to.
type entry struct {
	from, to uint64
	delta    crdt.State
	data     []byte // encoded delta
}

// originLog is the contiguous run of entries of one origin still kept.
type originLog struct {
	entries []entry
	bytes   int
}

// peerState is what a replica knows of one peer.
type peerState struct {
	origin     string            // the peer's incarnation, "" until heard
	known      map[string]uint64 // the peer's last digest; nil until heard
	sent       map[string]uint64 // what was shipped beyond known, optimistically
	ackedSeen  map[string]uint64 // our digest as last sent to the peer
	lastSend   uint64            // tick of the last message sent
	lastShip   uint64            // tick deltas were last shipped
	lastHeard  uint64            // tick of the last message received
	lastMember uint64            // last tick the peer was a member
	everMember bool              // the peer was a member at some round
	backSince  uint64            // tick the peer (re)joined or was heard after a silence
	stuck      map[string]stuckAt
	member     bool
}

// stuckAt records since when a peer has stayed at one sequence number of
// an origin, as far as this replica knows.
type stuckAt struct {
	base, since uint64
}

// groupKey names a joined range of one origin's deltas.
type groupKey struct {
	origin   string
	from, to uint64
}

// outMsg is a message the core wants sent.
type outMsg struct {
	to  string
	msg *syncMsg
}

// core is the replication state machine of one replica. It is not safe for
// concurrent use.
type core struct {
	self     string // this node's name
	origin   string // this replica's incarnation id
	newState func() crdt.State
	state    crdt.State
	seen     map[string]uint64
	logs     map[string]*originLog
	logBytes int
	peers    map[string]*peerState
	members  []string            // the member set of the last round, this node included
	groups   map[groupKey][]byte // groups encoded this round, shared by peers
	tick     uint64
	cfg      coreConfig
}

func newCore(self, origin string, initial crdt.State, newState func() crdt.State, cfg coreConfig) *core {
	return &core{
		self:     self,
		origin:   origin,
		newState: newState,
		state:    initial,
		seen:     map[string]uint64{},
		logs:     map[string]*originLog{},
		peers:    map[string]*peerState{},
		cfg:      cfg,
	}
}

// digest returns a copy of the replica's digest.
func (c *core) digest() map[string]uint64 { return maps.Clone(c.seen) }

// restore sets the digest to one read back from a store, with the state
// it describes already joined. The log stays empty: peers behind it get
// the full state.
func (c *core) restore(digest map[string]uint64) {
	for o, s := range digest {
		c.seen[o] = max(c.seen[o], s)
	}
}

// local records delta, already applied to the state by a mutator, as the
// next delta of this replica's origin.
func (c *core) local(delta crdt.State) error {
	data, err := delta.MarshalBinary()
	if err != nil {
		return fmt.Errorf("replica: encoding delta: %w", err)
	}
	seq := c.seen[c.origin] + 1
	c.seen[c.origin] = seq
	c.appendLog(c.origin, entry{from: seq - 1, to: seq, delta: delta, data: data})
	return nil
}

// ackedBy reports whether every one of members has acknowledged every
// delta of target, and names one that has not.
func (c *core) ackedBy(members []string, target map[string]uint64) (string, bool) {
	for _, name := range members {
		if name == c.self {
			continue
		}
		p := c.peers[name]
		for o, s := range target {
			if p == nil || p.known[o] < s {
				return name, false
			}
		}
	}
	return "", true
}

// appendLog adds e to the log of origin o. A gap (after a full state was
// joined) restarts the log: the older entries can no longer form a run to
// the current digest.
func (c *core) appendLog(o string, e entry) {
	l := c.logs[o]
	if l == nil {
		l = &originLog{}
		c.logs[o] = l
	}
	if n := len(l.entries); n > 0 && l.entries[n-1].to != e.from {
		c.logBytes -= l.bytes
		l.entries, l.bytes = nil, 0
	}
	l.entries = append(l.entries, e)
	l.bytes += len(e.data)
	c.logBytes += len(e.data)
}

// peer returns the state of peer name, creating it.
func (c *core) peer(name string) *peerState {
	p := c.peers[name]
	if p == nil {
		p = &peerState{lastHeard: c.tick}
		c.peers[name] = p
	}
	return p
}

// receive applies a sync message. It reports whether the state changed.
// A group or full state that does not decode is skipped and reported in
// the error; the rest of the message is still applied.
func (c *core) receive(m *syncMsg) (changed bool, err error) {
	if m.From == "" || m.From == c.self {
		return false, nil
	}
	p, seenBefore := c.peers[m.From], true
	if p == nil {
		p, seenBefore = c.peer(m.From), false
	}
	if !seenBefore || p.known == nil || c.tick-p.lastHeard > c.cfg.digestTicks {
		p.backSince = c.tick // back after a silence: give origins time first
	}
	if p.origin != m.Origin {
		// A new incarnation of the peer: what it had is gone.
		p.origin, p.sent, p.ackedSeen, p.lastSend = m.Origin, nil, nil, 0
	}
	p.known = maps.Clone(m.Digest)
	if p.known == nil {
		p.known = map[string]uint64{}
	}
	p.lastHeard = c.tick
	if m.Hello {
		p.lastSend = 0 // answer with our digest at the next round
	}
	if m.Full != nil {
		ch, ferr := c.joinFull(m.Full, m.Digest)
		changed = changed || ch
		if ferr != nil {
			err = ferr
		}
	}
	for i := range m.Groups {
		ch, gerr := c.joinGroup(&m.Groups[i])
		changed = changed || ch
		if gerr != nil && err == nil {
			err = gerr
		}
	}
	return changed, err
}

// joinFull joins a peer's full state described by digest.
func (c *core) joinFull(data []byte, digest map[string]uint64) (bool, error) {
	advanced := false
	for o, s := range digest {
		if s > c.seen[o] {
			advanced = true
		}
	}
	if !advanced {
		return false, nil // nothing we have not seen
	}
	st := c.newState()
	if err := st.UnmarshalBinary(data); err != nil {
		return false, fmt.Errorf("replica: full state: %w", err)
	}
	if err := c.state.Join(st); err != nil {
		return false, fmt.Errorf("replica: full state: %w", err)
	}
	for o, s := range digest {
		if s > c.seen[o] {
			c.seen[o] = s
			if l := c.logs[o]; l != nil { // the log no longer reaches seen
				c.logBytes -= l.bytes
				delete(c.logs, o)
			}
		}
	}
	return true, nil
}

// joinGroup joins a delta group if it continues the digest of its origin.
func (c *core) joinGroup(g *group) (bool, error) {
	s := c.seen[g.Origin]
	if g.Origin == "" || g.To <= g.From || s >= g.To || s < g.From {
		return false, nil // malformed, already seen, or past a gap
	}
	d := c.newState()
	if err := d.UnmarshalBinary(g.Data); err != nil {
		return false, fmt.Errorf("replica: delta of %s: %w", g.Origin, err)
	}
	if err := c.state.Join(d); err != nil {
		return false, fmt.Errorf("replica: delta of %s: %w", g.Origin, err)
	}
	c.seen[g.Origin] = g.To
	// The group covers s+1 .. To (and more, harmlessly): log it for relay.
	c.appendLog(g.Origin, entry{from: s, to: g.To, delta: d, data: g.Data})
	return true, nil
}

// base returns what p is assumed to have of origin o.
func (p *peerState) base(o string) uint64 { return max(p.known[o], p.sent[o]) }

// chain returns the entries of origin o that cover base+1 .. seen[o], or
// false if the log no longer reaches back to base.
func (c *core) chain(o string, base uint64) ([]entry, bool) {
	l := c.logs[o]
	if l == nil || len(l.entries) == 0 || l.entries[0].from > base || l.entries[len(l.entries)-1].to != c.seen[o] {
		return nil, false
	}
	i := sort.Search(len(l.entries), func(i int) bool { return l.entries[i].to > base })
	return l.entries[i:], true
}

// step runs one sync round with the given member set and returns the
// messages to send. It reads the state and the digest but changes neither,
// so that reads of the state may run alongside it; it changes the peers'
// bookkeeping and truncates the log.
func (c *core) step(members []string) ([]outMsg, error) {
	c.tick++
	was := map[string]bool{}
	for name, p := range c.peers {
		was[name], p.member = p.member, false
	}
	for _, m := range members {
		if m == c.self || m == "" {
			continue
		}
		p := c.peer(m)
		if !was[m] {
			p.backSince = c.tick
		}
		p.member, p.everMember, p.lastMember = true, true, c.tick
	}
	c.groups = map[groupKey][]byte{}
	defer func() { c.groups = nil }()
	c.members = append(c.members[:0], c.self)
	for name, p := range c.peers {
		if p.member {
			c.members = append(c.members, name)
		}
	}
	var out []outMsg
	var firstErr error
	for _, name := range slices.Sorted(maps.Keys(c.peers)) {
		p := c.peers[name]
		if !p.member {
			continue
		}
		m, err := c.messageFor(p)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if m != nil {
			out = append(out, outMsg{to: name, msg: m})
		}
	}
	c.collect()
	return out, firstErr
}

// messageFor returns the message for p this round, or nil.
func (c *core) messageFor(p *peerState) (*syncMsg, error) {
	m := &syncMsg{From: c.self, Origin: c.origin}
	if p.known == nil {
		// Not heard yet: say hello with our digest, and wait for theirs
		// before shipping anything.
		if p.lastSend != 0 && c.tick-p.lastSend < c.cfg.digestTicks {
			return nil, nil
		}
		m.Digest = c.digest()
		m.Hello = true
		p.lastSend = c.tick
		return m, nil
	}
	if p.sent != nil && c.tick-p.lastShip >= c.cfg.retransmitTicks {
		p.sent = nil // unacknowledged for too long: ship again from known
	}
	var origins []string
	full := false
	for _, o := range slices.Sorted(maps.Keys(c.seen)) {
		b := p.base(o)
		if c.seen[o] <= b {
			delete(p.stuck, o)
			continue
		}
		if !c.due(p, o, b) {
			continue
		}
		if _, ok := c.chain(o, b); !ok {
			full = true
			break
		}
		origins = append(origins, o)
	}
	switch {
	case full:
		data, err := c.state.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("replica: encoding state: %w", err)
		}
		m.Full = data
		p.sent = c.digest()
		p.lastShip = c.tick
	case len(origins) > 0:
		budget := c.cfg.maxMessageBytes
		for _, o := range origins {
			es, _ := c.chain(o, p.base(o))
			n := 0
			for n < len(es) && (n == 0 && len(m.Groups) == 0 || budget >= len(es[n].data)) {
				budget -= len(es[n].data)
				n++
			}
			if n == 0 {
				break
			}
			g, err := c.joinEntries(o, es[:n])
			if err != nil {
				return nil, err
			}
			m.Groups = append(m.Groups, g)
			if p.sent == nil {
				p.sent = map[string]uint64{}
			}
			p.sent[o] = g.To
			if n < len(es) {
				break
			}
		}
		p.lastShip = c.tick
	}
	if m.Full == nil && len(m.Groups) == 0 && p.lastSend != 0 && maps.Equal(p.ackedSeen, c.seen) && c.tick-p.lastSend < c.cfg.digestTicks {
		return nil, nil // nothing new to ship or to acknowledge
	}
	m.Digest = c.digest()
	p.ackedSeen = maps.Clone(c.seen)
	p.lastSend = c.tick
	return m, nil
}

// due reports whether deltas of origin o should be shipped to p, which is
// at b. A replica ships its own deltas at once. Deltas it received from
// another origin it relays only to a peer that has stayed at b for
// relayTicks rounds (and has been reachable that long): the origin most
// likely reaches the peer itself, and relaying at once would make every
// replica ship every delta to every other.
func (c *core) due(p *peerState, o string, b uint64) bool {
	if o == c.origin {
		return true
	}
	st, ok := p.stuck[o]
	if !ok || st.base != b {
		if p.stuck == nil {
			p.stuck = map[string]stuckAt{}
		}
		st = stuckAt{base: b, since: c.tick}
		p.stuck[o] = st
	}
	return c.tick >= max(st.since, p.backSince)+c.cfg.relayTicks*(1+c.relayRank(p, o))
}

// relayRank returns this replica's place among the members that could relay
// origin o's deltas to peer p, in an order every replica computes alike and
// that differs per peer and origin: the first relays after relayTicks, the
// next after twice that, and so on, so that normally one replica relays.
func (c *core) relayRank(p *peerState, o string) uint64 {
	pname := ""
	for name, q := range c.peers {
		if q == p {
			pname = name
		}
	}
	onode, _, _ := strings.Cut(o, "#")
	key := func(name string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(name + "|" + pname + "|" + o))
		return h.Sum64()
	}
	mine := key(c.self)
	rank := uint64(0)
	for _, name := range c.members {
		if name == c.self || name == pname || name == onode {
			continue
		}
		if k := key(name); k < mine || k == mine && name < c.self {
			rank++
		}
	}
	return rank
}

// joinEntries joins consecutive entries of origin o into one group.
func (c *core) joinEntries(o string, es []entry) (group, error) {
	g := group{Origin: o, From: es[0].from, To: es[len(es)-1].to}
	if len(es) == 1 {
		g.Data = es[0].data
		return g, nil
	}
	key := groupKey{o, g.From, g.To}
	if data, ok := c.groups[key]; ok {
		g.Data = data
		return g, nil
	}
	d := c.newState()
	for _, e := range es {
		if err := d.Join(e.delta); err != nil {
			return group{}, fmt.Errorf("replica: joining deltas of %s: %w", o, err)
		}
	}
	data, err := d.MarshalBinary()
	if err != nil {
		return group{}, fmt.Errorf("replica: encoding deltas of %s: %w", o, err)
	}
	g.Data = data
	if c.groups != nil {
		c.groups[key] = data
	}
	return g, nil
}

// collect drops log entries every retained peer acknowledged, forgets peers
// gone for longer than forgetTicks, and enforces the log's byte bound.
func (c *core) collect() {
	for name, p := range c.peers {
		if !p.member && c.tick-p.lastMember > c.cfg.forgetTicks && c.tick-p.lastHeard > c.cfg.forgetTicks {
			delete(c.peers, name)
		}
	}
	for o, l := range c.logs {
		acked := c.seen[o]
		for _, p := range c.peers {
			if p.everMember { // a peer that never was a member is not shipped to
				acked = min(acked, p.known[o]) // one not heard yet holds everything
			}
		}
		i := 0
		for i < len(l.entries) && l.entries[i].to <= acked {
			l.bytes -= len(l.entries[i].data)
			c.logBytes -= len(l.entries[i].data)
			i++
		}
		l.entries = slices.Delete(l.entries, 0, i)
		if len(l.entries) == 0 {
			delete(c.logs, o)
		}
	}
	for c.logBytes > c.cfg.maxLogBytes {
		// Drop the oldest entry of the largest log; a peer that needs it
		// gets the full state.
		var big *originLog
		var bigO string
		for _, o := range slices.Sorted(maps.Keys(c.logs)) {
			if l := c.logs[o]; big == nil || l.bytes > big.bytes {
				big, bigO = l, o
			}
		}
		e := big.entries[0]
		big.entries = slices.Delete(big.entries, 0, 1)
		big.bytes -= len(e.data)
		c.logBytes -= len(e.data)
		if len(big.entries) == 0 {
			delete(c.logs, bigO)
		}
	}
}

package ownermap

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/hlc"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
)

// Config tunes a Map. Name is required; zero fields mean the defaults.
type Config struct {
	// Name identifies the map; the maps of one name on every node form
	// one replicated map.
	Name string
	// Unique makes keys unique: a key is held by one entry, and entries
	// of two nodes under one key are a conflict settled by Less.
	Unique bool
	// Interval is the period of a sync round. Default 100 ms. Changes of
	// the own entries are also sent at once.
	Interval time.Duration
	// DigestTicks is how many rounds an idle peer waits for a digest.
	// Default 10.
	DigestTicks int
	// RelayTicks is how many of a peer's reports must show it stuck
	// behind on another node's entries before this node relays them.
	// Default 3.
	RelayTicks int
	// RetransmitTicks is how many rounds a send may stay unacknowledged
	// before it is sent again. Default 5.
	RetransmitTicks int
	// ConflictTicks bounds how long a losing local entry waits for the
	// winner's node to acknowledge it before its conflict is settled.
	// Default 20.
	ConflictTicks int
	// DownRetention is how long the entries of a dead, departed or
	// restarted node are kept (for Orphans and relays). Default 5 min.
	DownRetention time.Duration
	// Less orders contenders of a unique key, the winner first. It must
	// be a strict total order over distinct entries and the same on
	// every node. Default Less.
	Less func(a, b Entry) bool
	// Logger receives the map's warnings. Default the runtime's.
	Logger *slog.Logger
}

// Validate reports whether the configuration can be used.
func (c Config) Validate() error {
	switch {
	case c.Name == "" || len(c.Name) > 200:
		return fmt.Errorf("ownermap: name of %d bytes", len(c.Name))
	case c.Interval < 0, c.DownRetention < 0:
		return errors.New("ownermap: negative duration")
	case c.DigestTicks < 0, c.RelayTicks < 0, c.RetransmitTicks < 0, c.ConflictTicks < 0:
		return errors.New("ownermap: negative tick count")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = 100 * time.Millisecond
	}
	if c.DigestTicks == 0 {
		c.DigestTicks = 10
	}
	if c.RelayTicks == 0 {
		c.RelayTicks = 3
	}
	if c.RetransmitTicks == 0 {
		c.RetransmitTicks = 5
	}
	if c.ConflictTicks == 0 {
		c.ConflictTicks = 20
	}
	if c.DownRetention == 0 {
		c.DownRetention = 5 * time.Minute
	}
	if c.Less == nil {
		c.Less = Less
	}
	return c
}

// Hooks are the map's callbacks. They run one at a time, in the order of
// the changes, on a goroutine of the map, never with a lock of the map
// held: they may call the map and end processes.
type Hooks struct {
	// Events receives every change of this node's resolved view.
	Events func([]Event)
	// Conflict is called for a conflict of a local entry: once on the
	// loser's node when its fate is due, and once on the winner's node
	// when it first sees the loser.
	Conflict func(Conflict)
	// Changed is called after any change of the entries, this node's or
	// others', visible or not, and after membership changes.
	Changed func()
}

// Stats counts what a map did. Fields are updated atomically.
type Stats struct {
	MessagesSent, MessagesReceived atomic.Uint64
	BytesSent                      atomic.Uint64
	SendFailures                   atomic.Uint64 // messages the node refused
	Malformed                      atomic.Uint64 // received messages of the wrong type
	Undecodable                    atomic.Uint64 // values that did not decode (kept undecoded)
	Gaps                           atomic.Uint64 // deltas ignored for missing a predecessor
	Stale                          atomic.Uint64 // messages of old incarnations
}

// Map is a map of keys to processes replicated on every node of a
// cluster, each node the only writer of its own entries. See the package
// documentation.
type Map struct {
	cfg   Config
	cl    *cluster.Cluster
	nd    *node.Node
	rt    *proc.Runtime
	hooks Hooks
	log   *slog.Logger
	clock *hlc.Clock
	name  string // the sync process's registered name
	stats Stats

	mu struct {
		sync.Mutex
		core     *core
		progress chan struct{} // closed and replaced at every change of acks or sync state
	}
	view   view
	pid    proc.PID
	flushQ atomic.Bool
	notify notifier
	unsub  func()
	closed atomic.Bool
	done   chan struct{}
	probes sync.WaitGroup
	probed map[string]time.Time // member → last probe; the sync process's
	stop   chan struct{}
}

// ErrClosed is returned by a closed Map.
var ErrClosed = errors.New("ownermap: closed")

// Start starts the map of cfg.Name on the node of c. Register the sync
// message with RegisterTypes in every node's codec first.
func Start(c *cluster.Cluster, cfg Config, hooks Hooks) (*Map, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	nd := c.Node()
	rt := nd.Runtime()
	clk, err := hlc.New(rt.Clock(), hlc.Config{MaxSkew: time.Hour})
	if err != nil {
		return nil, err
	}
	m := &Map{cfg: cfg, cl: c, nd: nd, rt: rt, hooks: hooks, clock: clk,
		name: "grove.ownermap." + cfg.Name, done: make(chan struct{}), probed: map[string]time.Time{}, stop: make(chan struct{})}
	m.log = cfg.Logger
	if m.log == nil {
		m.log = rt.Logger()
	}
	m.view.init()
	self := Origin{Node: rt.Node(), Creation: rt.Creation()}
	m.mu.core = newCore(self, coreConfig{
		unique: cfg.Unique, less: cfg.Less, relayTicks: cfg.RelayTicks, retransmitTicks: cfg.RetransmitTicks,
		digestTicks: cfg.DigestTicks, conflictTicks: cfg.ConflictTicks, downRetention: cfg.DownRetention,
	})
	m.mu.core.publish = m.view.publish
	m.mu.progress = make(chan struct{})
	m.notify.start(hooks)
	m.pid, err = rt.Spawn(&syncer{m: m}, proc.WithName(m.name))
	if err != nil {
		m.notify.stop()
		return nil, fmt.Errorf("ownermap: %s: %w", cfg.Name, err)
	}
	m.unsub = c.Subscribe(func(cluster.Event) { _ = rt.Send(m.pid, membersChanged{}) })
	_ = rt.Send(m.pid, membersChanged{})
	return m, nil
}

// Name returns the map's name.
func (m *Map) Name() string { return m.cfg.Name }

// Self returns this node's origin.
func (m *Map) Self() Origin { return Origin{Node: m.rt.Node(), Creation: m.rt.Creation()} }

// Stats returns the map's counters.
func (m *Map) Stats() *Stats { return &m.stats }

// Cluster returns the cluster the map runs on.
func (m *Map) Cluster() *cluster.Cluster { return m.cl }

// Close stops the map: its sync process and its hooks' goroutine. Entries
// of this node stay on the others until membership removes the node. It
// is idempotent.
func (m *Map) Close() error {
	if !m.closed.CompareAndSwap(false, true) {
		<-m.done
		return nil
	}
	m.unsub()
	close(m.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = m.rt.Stop(ctx, m.pid, proc.ErrShutdown)
	m.probes.Wait()
	m.notify.stop()
	m.mu.Lock()
	close(m.mu.progress)
	m.mu.progress = make(chan struct{})
	m.mu.Unlock()
	close(m.done)
	return nil
}

// PutOption adjusts a Put.
type PutOption func(*putOptions)

// Inherit makes the new entry a handoff successor of prev: it takes prev's
// claim one generation later, so it wins over prev and over whatever prev
// would win over, and it is added even though prev holds the key.
func Inherit(prev Entry) PutOption {
	return func(o *putOptions) {
		c := prev.Claim
		c.Gen++
		o.claim = &c
		o.supersedes = prev.Ref
		o.force = true
	}
}

// Put adds an entry of this node: key held by pid with value. In a unique
// map it fails with a *TakenError when the key is held in this node's
// view. The value is encoded with the node's codec, so its type must be
// registered there on every node.
func (m *Map) Put(key string, pid proc.PID, value any, opts ...PutOption) (Entry, error) {
	if m.closed.Load() {
		return Entry{}, ErrClosed
	}
	if key == "" || len(key) > MaxKeyLen {
		return Entry{}, fmt.Errorf("ownermap: key of %d bytes", len(key))
	}
	raw, err := m.encode(value)
	if err != nil {
		return Entry{}, err
	}
	var o putOptions
	for _, opt := range opts {
		opt(&o)
	}
	m.mu.Lock()
	r, err := m.mu.core.put(key, pid, value, raw, func() Claim { return Claim{Stamp: m.clock.Now()} }, o)
	m.afterLocked()
	m.mu.Unlock()
	if err != nil {
		return Entry{}, err
	}
	m.kick()
	return r.Entry, nil
}

// Update replaces the process and value of an entry of this node (a
// restarted process keeps its entry, and the entry its claim).
func (m *Map) Update(ref Ref, pid proc.PID, value any) (Entry, error) {
	raw, err := m.encode(value)
	if err != nil {
		return Entry{}, err
	}
	m.mu.Lock()
	r, err := m.mu.core.update(ref, pid, value, raw)
	m.afterLocked()
	m.mu.Unlock()
	if err != nil {
		return Entry{}, err
	}
	m.kick()
	return r.Entry, nil
}

// Remove deletes an entry of this node, reporting whether it existed.
func (m *Map) Remove(ref Ref, why Reason) (Entry, bool) {
	m.mu.Lock()
	e, ok := m.mu.core.remove(ref, why)
	m.afterLocked()
	m.mu.Unlock()
	if ok {
		m.kick()
	}
	return e, ok
}

// Get returns the entry of this node ref names.
func (m *Map) Get(ref Ref) (Entry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.mu.core.ownEntry(ref)
	if !ok {
		return Entry{}, false
	}
	return r.Entry, true
}

func (m *Map) encode(value any) ([]byte, error) {
	raw, err := m.nd.Codec().Encode(value)
	if err != nil {
		return nil, fmt.Errorf("ownermap: value: %w", err)
	}
	if len(raw) > MaxValueLen {
		return nil, fmt.Errorf("ownermap: value of %d bytes over %d", len(raw), MaxValueLen)
	}
	return raw, nil
}

// afterLocked hands the operation's events and conflicts to the hooks'
// goroutine. The caller holds m.mu.
func (m *Map) afterLocked() {
	ev, cf := m.mu.core.take()
	m.notify.push(ev, cf)
}

// kick asks the sync process to send the own changes now.
func (m *Map) kick() {
	if m.flushQ.CompareAndSwap(false, true) {
		if err := m.rt.Send(m.pid, flushMsg{}); err != nil {
			m.flushQ.Store(false)
		}
	}
}

// Lookup returns the visible entries of key: the winner alone in a unique
// map. The slice is shared: do not modify it.
func (m *Map) Lookup(key string) []Entry { return m.view.get(key) }

// Range calls fn for every visible entry, shard by shard, until fn
// returns false. fn runs with a shard's read lock held: it must not call
// the map's writing methods.
func (m *Map) Range(fn func(Entry) bool) { m.view.rangeAll(fn) }

// Len returns the number of visible entries.
func (m *Map) Len() int { return m.view.len() }

// Own returns the entries of this node.
func (m *Map) Own() []Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Entry, 0, len(m.mu.core.own.entries))
	for _, r := range m.mu.core.own.entries {
		out = append(out, r.Entry)
	}
	return out
}

// Contenders returns every visible entry of key, winner first, including
// those a unique map does not show.
func (m *Map) Contenders(key string) []Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	ks := m.mu.core.keys[key]
	if ks == nil {
		return nil
	}
	out := make([]Entry, len(ks.recs))
	for i, r := range ks.recs {
		out[i] = r.Entry
	}
	return out
}

// Orphans returns the last known entries of nodes that are down (dead,
// departed, or an earlier incarnation of a restarted node) and not yet
// forgotten.
func (m *Map) Orphans() []Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.core.orphans()
}

// Complete reports whether every live member has sent this node its
// entries, so that a key missing from the view is missing everywhere this
// node can know of.
func (m *Map) Complete() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	ok, _ := m.mu.core.complete()
	return ok
}

// WaitComplete waits until Complete, or ctx is done.
func (m *Map) WaitComplete(ctx context.Context) error {
	return m.wait(ctx, func(c *core) (bool, string) { return c.complete() }, "not heard from")
}

// WaitAcked waits until every live, connected member has acknowledged
// every change of this node made before the call, or ctx is done.
func (m *Map) WaitAcked(ctx context.Context) error {
	m.mu.Lock()
	seq := m.mu.core.own.seq
	m.mu.Unlock()
	return m.wait(ctx, func(c *core) (bool, string) {
		return c.acked(seq, m.connected())
	}, "not acknowledged by")
}

// WaitMajority waits until a strict majority of the live members that run
// the map, this node included, have acknowledged every change of this
// node made before the call, or ctx is done: the changes then survive the
// loss of any minority of nodes.
func (m *Map) WaitMajority(ctx context.Context) error {
	m.mu.Lock()
	seq := m.mu.core.own.seq
	m.mu.Unlock()
	return m.wait(ctx, func(c *core) (bool, string) { return c.ackedMajority(seq) }, "no majority; not acknowledged by")
}

func (m *Map) connected() func(string) bool {
	nodes := m.nd.Nodes()
	return func(n string) bool { return slices.Contains(nodes, n) }
}

func (m *Map) wait(ctx context.Context, cond func(*core) (bool, string), what string) error {
	for {
		m.mu.Lock()
		ok, who := cond(m.mu.core)
		wake := m.mu.progress
		m.mu.Unlock()
		if ok {
			return nil
		}
		if m.closed.Load() {
			return ErrClosed
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("ownermap: %s %s: %w", what, who, context.Cause(ctx))
		}
	}
}

// progressLocked wakes waiters. The caller holds m.mu.
func (m *Map) progressLocked() {
	close(m.mu.progress)
	m.mu.progress = make(chan struct{})
}

// receive applies a sync message.
func (m *Map) receive(msg *syncMsg) {
	m.stats.MessagesReceived.Add(1)
	codec := m.nd.Codec()
	var latest hlc.Timestamp
	for i := range msg.Deltas {
		d := &msg.Deltas[i]
		for j := range d.Entries {
			e := &d.Entries[j]
			v, err := codec.Decode(e.Value)
			if err != nil {
				m.stats.Undecodable.Add(1)
				v = nil
			}
			e.value = v
			if e.Claim.Stamp.After(latest) {
				latest = e.Claim.Stamp
			}
		}
	}
	if !latest.IsZero() {
		_, _ = m.clock.Update(latest) // a stamp too far ahead is only not followed
	}
	now := m.rt.Clock().Now()
	m.mu.Lock()
	c := m.mu.core
	gaps, stale := c.stats.gaps, c.stats.stale
	c.receive(msg, now)
	m.stats.Gaps.Add(c.stats.gaps - gaps)
	m.stats.Stale.Add(c.stats.stale - stale)
	m.afterLocked()
	m.progressLocked()
	m.mu.Unlock()
	m.notify.changed()
}

// reconcile reads the membership into the core.
func (m *Map) reconcile() {
	members := m.cl.Members()
	ms := make([]member, 0, len(members))
	for _, mb := range members {
		ms = append(ms, member{name: mb.Name, up: mb.State == cluster.StateAlive || mb.State == cluster.StateSuspect, creation: mb.Creation})
	}
	now := m.rt.Clock().Now()
	m.mu.Lock()
	m.mu.core.setMembers(ms, now)
	m.afterLocked()
	m.progressLocked()
	m.mu.Unlock()
	m.notify.changed()
}

// peersLocked lists the live members this node is connected to.
func (m *Map) peersLocked(nodes []string) []string {
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if mv, ok := m.mu.core.members[n]; ok && mv.up {
			out = append(out, n)
		}
	}
	return out
}

// round runs one sync round.
func (m *Map) round(p *proc.Process) {
	nodes := m.nd.Nodes()
	now := m.rt.Clock().Now()
	m.mu.Lock()
	out := m.mu.core.step(m.peersLocked(nodes), now)
	unknown := m.mu.core.unknownMembers()
	m.afterLocked()
	m.progressLocked()
	m.mu.Unlock()
	m.send(p, out)
	m.probe(unknown, nodes)
}

// probeEvery is how often a live member that never spoke is asked
// whether it runs this map.
const probeEvery = 2 * time.Second

// probe asks connected members never heard from whether they run this
// map; those that answer no are not waited for.
func (m *Map) probe(unknown []member, nodes []string) {
	now := time.Now()
	for _, u := range unknown {
		if !slices.Contains(nodes, u.name) || now.Sub(m.probed[u.name]) < probeEvery {
			continue
		}
		m.probed[u.name] = now
		m.probes.Add(1)
		go func() {
			defer m.probes.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			go func() {
				select {
				case <-m.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			_, err := m.rt.CallTo(ctx, proc.NodeName{Node: u.name, Name: m.name}, probeMsg{})
			if errors.Is(err, proc.ErrNotRegistered) {
				m.mu.Lock()
				m.mu.core.markAbsent(u.name, u.creation)
				m.progressLocked()
				m.mu.Unlock()
			}
		}()
	}
}

// flush sends the own changes at once.
func (m *Map) flush(p *proc.Process) {
	m.flushQ.Store(false)
	nodes := m.nd.Nodes()
	m.mu.Lock()
	out := m.mu.core.flush(m.peersLocked(nodes))
	m.mu.Unlock()
	m.send(p, out)
	m.notify.changed()
}

func (m *Map) send(p *proc.Process, out []outMsg) {
	for _, o := range out {
		if err := p.SendTo(proc.NodeName{Node: o.to, Name: m.name}, *o.msg); err != nil {
			m.stats.SendFailures.Add(1)
			continue
		}
		m.stats.MessagesSent.Add(1)
	}
}

// syncer is the map's process: it receives peers' messages and runs the
// rounds.
type syncer struct {
	proc.Base
	m *Map
}

type (
	tickMsg        struct{}
	flushMsg       struct{}
	membersChanged struct{}
)

func (s *syncer) Init(p *proc.Process) error {
	p.SendAfter(s.m.cfg.Interval, tickMsg{})
	return nil
}

func (s *syncer) HandleInfo(p *proc.Process, msg any) {
	switch v := msg.(type) {
	case syncMsg:
		s.m.receive(&v)
	case *syncMsg:
		s.m.receive(v)
	case tickMsg:
		s.m.reconcile()
		s.m.round(p)
		p.SendAfter(s.m.cfg.Interval, tickMsg{})
	case flushMsg:
		s.m.flush(p)
	case membersChanged:
		s.m.reconcile()
	default:
		s.m.stats.Malformed.Add(1)
	}
}

func (s *syncer) HandleCast(p *proc.Process, msg any) { s.HandleInfo(p, msg) }

func (s *syncer) HandleCall(_ *proc.Process, _ proc.From, req any) (any, error) {
	if _, ok := req.(probeMsg); ok {
		return true, nil
	}
	return nil, proc.ErrUnhandled
}

// view is the sharded index lookups read: key → visible entries.
type view struct {
	seed   maphash.Seed
	shards [viewShards]viewShard
}

const viewShards = 64

type viewShard struct {
	mu sync.RWMutex
	m  map[string][]Entry
	_  [40]byte // keep shards on their own cache lines
}

func (v *view) init() {
	v.seed = maphash.MakeSeed()
	for i := range v.shards {
		v.shards[i].m = map[string][]Entry{}
	}
}

func (v *view) shard(key string) *viewShard {
	return &v.shards[maphash.String(v.seed, key)%viewShards]
}

func (v *view) get(key string) []Entry {
	s := v.shard(key)
	s.mu.RLock()
	e := s.m[key]
	s.mu.RUnlock()
	return e
}

func (v *view) publish(key string, entries []Entry) {
	s := v.shard(key)
	s.mu.Lock()
	if len(entries) == 0 {
		delete(s.m, key)
	} else {
		s.m[key] = entries
	}
	s.mu.Unlock()
}

func (v *view) rangeAll(fn func(Entry) bool) {
	for i := range v.shards {
		s := &v.shards[i]
		s.mu.RLock()
		for _, es := range s.m {
			for _, e := range es {
				if !fn(e) {
					s.mu.RUnlock()
					return
				}
			}
		}
		s.mu.RUnlock()
	}
}

func (v *view) len() int {
	n := 0
	for i := range v.shards {
		s := &v.shards[i]
		s.mu.RLock()
		for _, es := range s.m {
			n += len(es)
		}
		s.mu.RUnlock()
	}
	return n
}

// notifier runs the hooks on one goroutine, in order.
type notifier struct {
	hooks Hooks
	wake  chan struct{}
	quit  chan struct{}
	done  chan struct{}
	mu    struct {
		sync.Mutex
		events    []Event
		conflicts []Conflict
		changed   bool
	}
}

func (n *notifier) start(h Hooks) {
	n.hooks = h
	n.wake = make(chan struct{}, 1)
	n.quit = make(chan struct{})
	n.done = make(chan struct{})
	go n.run()
}

func (n *notifier) push(ev []Event, cf []Conflict) {
	if len(ev) == 0 && len(cf) == 0 {
		return
	}
	n.mu.Lock()
	if n.hooks.Events != nil {
		n.mu.events = append(n.mu.events, ev...)
	}
	if n.hooks.Conflict != nil {
		n.mu.conflicts = append(n.mu.conflicts, cf...)
	}
	n.mu.changed = true
	n.mu.Unlock()
	n.signal()
}

func (n *notifier) changed() {
	if n.hooks.Changed == nil {
		return
	}
	n.mu.Lock()
	n.mu.changed = true
	n.mu.Unlock()
	n.signal()
}

func (n *notifier) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) stop() {
	select {
	case <-n.quit:
	default:
		close(n.quit)
	}
	<-n.done
}

func (n *notifier) run() {
	defer close(n.done)
	for {
		select {
		case <-n.quit:
			return
		case <-n.wake:
		}
		n.mu.Lock()
		ev, cf, ch := n.mu.events, n.mu.conflicts, n.mu.changed
		n.mu.events, n.mu.conflicts, n.mu.changed = nil, nil, false
		n.mu.Unlock()
		if len(ev) > 0 {
			n.hooks.Events(ev)
		}
		for _, c := range cf {
			n.hooks.Conflict(c)
		}
		if ch && n.hooks.Changed != nil {
			n.hooks.Changed()
		}
	}
}

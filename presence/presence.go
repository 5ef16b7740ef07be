package presence

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/internal/peerset"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/pubsub"
)

// Limits of topics and keys, in bytes.
const (
	MaxTopicLen = pubsub.MaxTopicLen
	MaxKeyLen   = 1024
)

// Presence is one process tracked under a key of a topic, with its
// metadata. PID.Node is the node it runs on.
type Presence struct {
	Topic string
	Key   string
	PID   proc.PID
	Meta  any
}

// Diff is what changed on a topic, as its local subscribers receive it
// (the Payload of a *pubsub.Message on the topic): presences that joined
// and presences that left. An update of a presence's metadata is a leave of
// the old and a join of the new, as in Phoenix.Presence.
type Diff struct {
	Topic  string
	Joins  []Presence
	Leaves []Presence
}

// Errors of the package.
var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("presence: closed")
	// ErrAlreadyTracked is returned by Track for a process already tracked
	// under the key of the topic.
	ErrAlreadyTracked = errors.New("presence: already tracked")
	// ErrNotTracked is returned by Update and Untrack for a presence that
	// does not exist.
	ErrNotTracked = errors.New("presence: not tracked")
	// ErrNotLocal is returned when tracking a process of another node:
	// each node tracks its own processes.
	ErrNotLocal = errors.New("presence: process is not local")
	// ErrInvalid is returned for an empty or overlong topic or key, and an
	// unknown change.
	ErrInvalid = errors.New("presence: invalid topic, key or change")
	// ErrInvalidConfig is returned for a configuration that cannot work.
	ErrInvalidConfig = errors.New("presence: invalid configuration")
)

// Config tunes a Tracker. The zero value is usable.
type Config struct {
	// Name identifies the tracker across the cluster: trackers of one name
	// on different nodes share their presences. Its server process is
	// registered under it. Default "grove.presence".
	Name string
	// HeartbeatInterval is how often a node tells the others how far its
	// changes go (and sends changes still waiting), so that a change lost
	// on the way is noticed and repaired by a full report. Default 1 s.
	HeartbeatInterval time.Duration
	// Logger receives warnings. Default the runtime's.
	Logger *slog.Logger
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if len(c.Name) > 200 || c.HeartbeatInterval < 0 {
		return fmt.Errorf("%w: name of %d bytes, heartbeat %v", ErrInvalidConfig, len(c.Name), c.HeartbeatInterval)
	}
	return nil
}

// Stats counts what a tracker did on this node.
type Stats struct {
	Tracks, Updates, Untracks atomic.Uint64 // local changes (exits included in Untracks)
	StatesSent, DeltasSent    atomic.Uint64
	StatesReceived            atomic.Uint64
	DeltasReceived            atomic.Uint64
	Resyncs                   atomic.Uint64 // gaps in a node's changes, repaired by a full report
	ReplicasDropped           atomic.Uint64 // nodes whose presences were removed (link down, restart, tracker gone)
	Stale                     atomic.Uint64 // messages from a server that is no longer current, ignored
	Malformed                 atomic.Uint64 // metadata from other nodes that did not decode
	DiffsBroadcast            atomic.Uint64 // diffs handed to the local PubSub
}

// lkey names a local presence.
type lkey struct {
	Topic, Key string
	PID        proc.PID
}

// localEntry is a presence of this node: its metadata and its encoding for
// the other nodes.
type localEntry struct {
	meta    any
	encoded []byte
}

// replica is what this node knows of another node's presences.
type replica struct {
	server    proc.PID
	synced    bool      // its full report arrived
	applied   uint64    // number of its last change applied
	requested time.Time // when its full report was last asked for
	entries   map[lkey]struct{}
}

// Tracker is one node's member of a cluster-wide presence tracker. Its
// reads (List, Get, Count, Topics) take no lock and never wait for a
// writer; writes are serialised by one lock and never wait on the network.
// It is safe for concurrent use.
type Tracker struct {
	cfg   Config
	rt    *proc.Runtime
	nd    *node.Node
	ps    *pubsub.PubSub
	log   *slog.Logger
	peers *peerset.Set
	views *views
	stats Stats

	// mu guards the fields in it and serialises every change of views.
	mu struct {
		sync.Mutex
		server   proc.PID // set by the server's Init
		local    map[lkey]*localEntry
		byPID    map[proc.PID]map[lkey]struct{}
		watches  map[proc.PID]func()
		replicas map[string]*replica
		version  uint64      // local changes so far
		outbox   []wireEntry // changes not yet sent, numbered outFirst...
		outFirst uint64
		flushing bool
		closed   bool
	}
}

// Start starts the tracker cfg.Name on nd, delivering diffs through ps (a
// PubSub on the same node). It registers the tracker's message types in
// nd's codec; metadata values must be encodable by it on every node.
func Start(nd *node.Node, ps *pubsub.PubSub, cfg Config) (*Tracker, error) {
	if nd == nil {
		return nil, fmt.Errorf("%w: nil node", ErrInvalidConfig)
	}
	if err := RegisterTypes(nd.Codec()); err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	return start(nd.Runtime(), nd, ps, cfg)
}

// StartLocal starts a tracker for rt's processes alone.
func StartLocal(rt *proc.Runtime, ps *pubsub.PubSub, cfg Config) (*Tracker, error) {
	if rt == nil {
		return nil, fmt.Errorf("%w: nil runtime", ErrInvalidConfig)
	}
	return start(rt, nil, ps, cfg)
}

func start(rt *proc.Runtime, nd *node.Node, ps *pubsub.PubSub, cfg Config) (*Tracker, error) {
	if ps == nil {
		return nil, fmt.Errorf("%w: nil PubSub", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = "grove.presence"
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = rt.Logger()
	}
	t := &Tracker{cfg: cfg, rt: rt, nd: nd, ps: ps, log: log, peers: peerset.New(nd, cfg.Name), views: newViews()}
	t.mu.local = make(map[lkey]*localEntry)
	t.mu.byPID = make(map[proc.PID]map[lkey]struct{})
	t.mu.watches = make(map[proc.PID]func())
	t.mu.replicas = make(map[string]*replica)
	t.mu.outFirst = 1
	if _, err := rt.Spawn(&server{t: t}, proc.WithName(cfg.Name)); err != nil {
		return nil, fmt.Errorf("presence: start tracker %q: %w", cfg.Name, err)
	}
	return t, nil
}

// Name returns the tracker's name.
func (t *Tracker) Name() string { return t.cfg.Name }

// Stats returns the tracker's counters.
func (t *Tracker) Stats() *Stats { return &t.stats }

// Nodes returns the other nodes where the tracker is known to run, sorted.
func (t *Tracker) Nodes() []string {
	peers := t.peers.Peers()
	out := make([]string, len(peers))
	for i, p := range peers {
		out[i] = p.Node
	}
	return out
}

// List returns every presence of topic this node knows: its own and those
// of the nodes it is connected to. It takes no lock: it reads the version
// of the topic current when it starts, whatever writers do meanwhile.
func (t *Tracker) List(topic string) []Presence { return t.views.load(topic).list() }

// ListShared is List without the copy: the slice is shared with other
// readers of the same version of the topic and must not be modified. It
// costs nothing when the topic has not changed since the last list.
func (t *Tracker) ListShared(topic string) []Presence { return t.views.load(topic).flat() }

// Range calls fn for every presence of topic, like List without copying,
// until fn returns false.
func (t *Tracker) Range(topic string, fn func(Presence) bool) {
	if st := t.views.load(topic); st != nil {
		st.vec.Each(fn)
	}
}

// Get returns the presences of key in topic (one per process: a user with
// several connections, say).
func (t *Tracker) Get(topic, key string) []Presence {
	st := t.views.load(topic)
	if st == nil {
		return nil
	}
	ps, _ := st.keys.Get(t.views.hash(key), key)
	return slices.Clone(ps)
}

// Count returns the number of presences of topic.
func (t *Tracker) Count(topic string) int {
	if st := t.views.load(topic); st != nil {
		return st.count
	}
	return 0
}

// CountKeys returns the number of distinct keys of topic (users, say, when
// each connection is a presence).
func (t *Tracker) CountKeys(topic string) int {
	if st := t.views.load(topic); st != nil {
		return st.keys.Len()
	}
	return 0
}

// Topics returns the topics that have presences, in no order.
func (t *Tracker) Topics() []string {
	var out []string
	t.views.topics.Range(func(k, _ any) bool {
		out = append(out, k.(string))
		return true
	})
	return out
}

// Op is the kind of a Change.
type Op uint8

// Kinds of change.
const (
	Track Op = iota + 1
	Update
	Untrack
)

// Change is one change for Apply.
type Change struct {
	Op    Op
	PID   proc.PID
	Topic string
	Key   string
	Meta  any // for Track and Update
}

// Track makes the local process pid present under key in topic, with meta,
// until Untrack or its exit, like Phoenix.Presence.track. Subscribers of
// the topic on every node receive a Diff with the join.
func (t *Tracker) Track(pid proc.PID, topic, key string, meta any) error {
	return t.Apply(Change{Op: Track, PID: pid, Topic: topic, Key: key, Meta: meta})
}

// Update replaces the metadata of a presence; subscribers receive a Diff
// with the old presence leaving and the new one joining.
func (t *Tracker) Update(pid proc.PID, topic, key string, meta any) error {
	return t.Apply(Change{Op: Update, PID: pid, Topic: topic, Key: key, Meta: meta})
}

// Untrack removes a presence.
func (t *Tracker) Untrack(pid proc.PID, topic, key string) error {
	return t.Apply(Change{Op: Untrack, PID: pid, Topic: topic, Key: key})
}

// UntrackAll removes every presence of the local process pid.
func (t *Tracker) UntrackAll(pid proc.PID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.untrackAllLocked(pid)
}

// Apply makes many changes at once, in order: the other nodes receive them
// together, and subscribers one Diff per topic. Each change that fails
// (an invalid one, a Track of a presence that exists, an Update or Untrack
// of one that does not) is skipped; the error joins their errors.
func (t *Tracker) Apply(changes ...Change) error {
	var errs []error
	encoded := make([][]byte, len(changes))
	for i, c := range changes {
		if err := t.check(c); err != nil {
			errs = append(errs, err)
			changes[i].Op = 0
			continue
		}
		if c.Op != Untrack && t.nd != nil {
			b, err := t.nd.Codec().Encode(c.Meta)
			if err != nil {
				errs = append(errs, fmt.Errorf("presence: metadata %T: %w", c.Meta, err))
				changes[i].Op = 0
				continue
			}
			encoded[i] = b
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return ErrClosed
	}
	d := newDiffs()
	for i, c := range changes {
		if c.Op == 0 {
			continue
		}
		if err := t.applyLocalLocked(d, c, encoded[i]); err != nil {
			errs = append(errs, err)
		}
	}
	t.publishLocked(d)
	return errors.Join(errs...)
}

func (t *Tracker) check(c Change) error {
	switch {
	case c.Op < Track || c.Op > Untrack:
		return fmt.Errorf("%w: op %d", ErrInvalid, c.Op)
	case c.Topic == "" || len(c.Topic) > MaxTopicLen || len(c.Key) > MaxKeyLen:
		return fmt.Errorf("%w: topic of %d bytes, key of %d", ErrInvalid, len(c.Topic), len(c.Key))
	case !t.rt.IsLocal(c.PID):
		return fmt.Errorf("%w: %v", ErrNotLocal, c.PID)
	}
	return nil
}

func (t *Tracker) applyLocalLocked(d *diffs, c Change, encoded []byte) error {
	k := lkey{Topic: c.Topic, Key: c.Key, PID: c.PID}
	e, exists := t.mu.local[k]
	switch c.Op {
	case Track:
		if exists {
			return fmt.Errorf("%w: %v as %q in %q", ErrAlreadyTracked, c.PID, c.Key, c.Topic)
		}
		if !t.rt.Alive(c.PID) {
			return fmt.Errorf("presence: track %v: %w", c.PID, proc.ErrNotAlive)
		}
		t.mu.local[k] = &localEntry{meta: c.Meta, encoded: encoded}
		keys := t.mu.byPID[c.PID]
		if keys == nil {
			keys = make(map[lkey]struct{})
			t.mu.byPID[c.PID] = keys
			t.watchLocked(c.PID)
		}
		keys[k] = struct{}{}
		t.stats.Tracks.Add(1)
		t.recordLocked(wireEntry{Op: opTrack, Topic: c.Topic, Key: c.Key, ID: c.PID.ID, Meta: encoded})
	case Update:
		if !exists {
			return fmt.Errorf("%w: %v as %q in %q", ErrNotTracked, c.PID, c.Key, c.Topic)
		}
		e.meta, e.encoded = c.Meta, encoded
		t.stats.Updates.Add(1)
		t.recordLocked(wireEntry{Op: opUpdate, Topic: c.Topic, Key: c.Key, ID: c.PID.ID, Meta: encoded})
	case Untrack:
		if !exists {
			return fmt.Errorf("%w: %v as %q in %q", ErrNotTracked, c.PID, c.Key, c.Topic)
		}
		t.untrackLocked(d, k)
		return nil
	}
	d.set(t.views, Presence{Topic: c.Topic, Key: c.Key, PID: c.PID, Meta: c.Meta})
	return nil
}

func (t *Tracker) untrackLocked(d *diffs, k lkey) {
	delete(t.mu.local, k)
	if keys := t.mu.byPID[k.PID]; keys != nil {
		delete(keys, k)
		if len(keys) == 0 {
			delete(t.mu.byPID, k.PID)
			if cancel := t.mu.watches[k.PID]; cancel != nil {
				cancel()
				delete(t.mu.watches, k.PID)
			}
		}
	}
	t.stats.Untracks.Add(1)
	t.recordLocked(wireEntry{Op: opUntrack, Topic: k.Topic, Key: k.Key, ID: k.PID.ID})
	d.del(t.views, k.Topic, k.Key, k.PID)
}

func (t *Tracker) untrackAllLocked(pid proc.PID) {
	keys := t.mu.byPID[pid]
	if len(keys) == 0 {
		return
	}
	d := newDiffs()
	for _, k := range sortedKeys(keys) {
		t.untrackLocked(d, k)
	}
	t.publishLocked(d)
}

func sortedKeys(keys map[lkey]struct{}) []lkey {
	out := make([]lkey, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b lkey) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	return out
}

// watchLocked has the server untrack a process when it exits.
func (t *Tracker) watchLocked(pid proc.PID) {
	server := t.mu.server
	t.mu.watches[pid] = t.rt.Watch(pid, func(p proc.PID, _ error) { _ = t.rt.Send(server, exited{p}) })
}

// recordLocked queues a local change for the other nodes.
func (t *Tracker) recordLocked(e wireEntry) {
	t.mu.version++
	t.mu.outbox = append(t.mu.outbox, e)
	if !t.mu.flushing && t.peers.Len() > 0 {
		t.mu.flushing = true
		if err := t.rt.Send(t.mu.server, flushNow{}); err != nil {
			t.mu.flushing = false
		}
	}
}

// publishLocked hands the diffs to the topics' local subscribers, in the
// order of the changes (the lock orders them across changes).
func (t *Tracker) publishLocked(d *diffs) {
	for _, topic := range d.order {
		diff := d.m[topic].diff(topic)
		if len(diff.Joins) == 0 && len(diff.Leaves) == 0 {
			continue
		}
		if err := t.ps.LocalBroadcast(topic, diff); err == nil {
			t.stats.DiffsBroadcast.Add(1)
		}
	}
}

// Subscribe subscribes the local process pid to topic on the tracker's
// PubSub (diffs arrive as *pubsub.Message with a Diff payload, besides
// anything else broadcast on the topic) and returns the presences at that
// moment: the diffs that follow are exactly the changes since.
func (t *Tracker) Subscribe(pid proc.PID, topic string, opts ...pubsub.SubscribeOption) (*pubsub.Subscription, []Presence, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sub, err := t.ps.Subscribe(pid, topic, opts...)
	if err != nil {
		return nil, nil, err
	}
	return sub, t.List(topic), nil
}

// SubscribeFunc is Subscribe for a function.
func (t *Tracker) SubscribeFunc(topic string, fn func(*pubsub.Message), opts ...pubsub.SubscribeOption) (*pubsub.Subscription, []Presence, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sub, err := t.ps.SubscribeFunc(topic, fn, opts...)
	if err != nil {
		return nil, nil, err
	}
	return sub, t.List(topic), nil
}

// Close stops the tracker on this node: the other nodes drop its
// presences. Idempotent.
func (t *Tracker) Close() error {
	t.mu.Lock()
	if t.mu.closed {
		t.mu.Unlock()
		return nil
	}
	t.mu.closed = true
	server := t.mu.server
	for pid, cancel := range t.mu.watches {
		cancel()
		delete(t.mu.watches, pid)
	}
	t.mu.Unlock()
	err := peerset.Stop(t.rt, server)
	return err
}

// diffs collects what a set of changes did to each topic, as net diffs:
// a presence tracked and untracked within the set does not show, an
// update shows as the leave of the presence before the set and the join of
// the one after.
type diffs struct {
	m     map[string]*topicChanges
	order []string
}

type topicChanges struct {
	touched map[pkey]*netChange
	order   []pkey
}

// pkey names a presence within a topic.
type pkey struct {
	Key string
	PID proc.PID
}

type netChange struct {
	before, after *Presence // nil when absent
}

func newDiffs() *diffs { return &diffs{m: make(map[string]*topicChanges)} }

func (d *diffs) note(topic string, k pkey, before, after *Presence) {
	tc := d.m[topic]
	if tc == nil {
		tc = &topicChanges{touched: make(map[pkey]*netChange)}
		d.m[topic] = tc
		d.order = append(d.order, topic)
	}
	c := tc.touched[k]
	if c == nil {
		c = &netChange{before: before}
		tc.touched[k] = c
		tc.order = append(tc.order, k)
	}
	c.after = after
}

// set puts p in the views and notes the change.
func (d *diffs) set(v *views, p Presence) {
	old, replaced := v.set(p)
	var before *Presence
	if replaced {
		before = &old
	}
	d.note(p.Topic, pkey{p.Key, p.PID}, before, &p)
}

// del removes a presence from the views and notes the change.
func (d *diffs) del(v *views, topic, key string, pid proc.PID) {
	if old, ok := v.del(topic, key, pid); ok {
		d.note(topic, pkey{key, pid}, &old, nil)
	}
}

// diff returns the net diff of a topic.
func (tc *topicChanges) diff(topic string) Diff {
	out := Diff{Topic: topic}
	for _, k := range tc.order {
		c := tc.touched[k]
		same := c.before != nil && c.after != nil && comparableEqual(c.before.Meta, c.after.Meta)
		if c.before != nil && !same {
			out.Leaves = append(out.Leaves, *c.before)
		}
		if c.after != nil && !same {
			out.Joins = append(out.Joins, *c.after)
		}
	}
	return out
}

package names

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/hlc"
	"github.com/grovedev/grove/internal/ownermap"
	"github.com/grovedev/grove/proc"
)

// Kind says whether a key names one process or collects many.
type Kind int

// Kinds of registries.
const (
	// Unique keys name at most one process cluster-wide, as names do.
	Unique Kind = iota
	// Duplicate keys collect any number of entries, as groups or topics.
	Duplicate
)

func (k Kind) String() string {
	if k == Duplicate {
		return "duplicate"
	}
	return "unique"
}

// Config tunes a Registry. Zero fields mean the defaults.
type Config struct {
	// Name tells registries apart: the registries of one name on every
	// node form one cluster registry. Default "names".
	Name string
	// Keys is Unique (default) or Duplicate.
	Keys Kind
	// Interval is the period of the anti-entropy round that repairs what
	// was lost and relays entries between nodes that cannot reach each
	// other. Local changes are sent to every peer at once, not at the next
	// round. Default 100 ms.
	Interval time.Duration
	// Resolver settles conflicts of a unique registry. Default StopLoser.
	Resolver Resolver
	// DownRetention is how long the entries of a dead node are kept out of
	// sight (to relay, and for the distributed supervisor's failover).
	// Default 5 min.
	DownRetention time.Duration
	// Logger receives warnings. Default the runtime's.
	Logger *slog.Logger
}

// Validate reports whether c can be used.
func (c Config) Validate() error {
	if c.Keys != Unique && c.Keys != Duplicate {
		return fmt.Errorf("names: unknown Kind %d", c.Keys)
	}
	if c.Interval < 0 || c.DownRetention < 0 {
		return errors.New("names: negative duration")
	}
	if len(c.Name) > 100 {
		return fmt.Errorf("names: name of %d bytes", len(c.Name))
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "names"
	}
	if c.Resolver == nil {
		c.Resolver = StopLoser{}
	}
	return c
}

// Entry is one registration: a key held by a process, with a value.
type Entry struct {
	Key   string
	PID   proc.PID
	Value any
	// Since is when the key was claimed: the registration, stamped by the
	// hybrid logical clock of the process's node, or for an entry handed
	// off by the distributed supervisor, the claim it inherited.
	Since hlc.Timestamp

	e ownermap.Entry
}

func fromInternal(e ownermap.Entry) Entry {
	return Entry{Key: e.Key, PID: e.PID, Value: e.Value, Since: e.Claim.Stamp, e: e}
}

func (e Entry) internal() ownermap.Entry { return e.e }

// Registry is a cluster-wide registry of processes. See the package
// documentation.
type Registry struct {
	cfg  Config
	rt   *proc.Runtime
	m    *ownermap.Map
	subs subscribers

	pmu  sync.Mutex
	pids map[proc.PID]*pidState

	conflictsWon, conflictsLost atomic.Uint64
}

// Stats are a registry's counters.
type Stats struct {
	// ConflictsWon and ConflictsLost count the conflicts settled for the
	// processes of this node.
	ConflictsWon, ConflictsLost uint64
	// MessagesSent and MessagesReceived count sync messages; SendFailures
	// those the node refused; Undecodable the values that did not decode
	// (their entries are kept with a nil Value); Gaps the deltas ignored
	// for a missing predecessor (they are sent again).
	MessagesSent, MessagesReceived, SendFailures, Undecodable, Gaps uint64
}

// Stats returns the registry's counters.
func (r *Registry) Stats() Stats {
	s := r.m.Stats()
	return Stats{
		ConflictsWon: r.conflictsWon.Load(), ConflictsLost: r.conflictsLost.Load(),
		MessagesSent: s.MessagesSent.Load(), MessagesReceived: s.MessagesReceived.Load(),
		SendFailures: s.SendFailures.Load(), Undecodable: s.Undecodable.Load(), Gaps: s.Gaps.Load(),
	}
}

// pidState is the registry's hold on one local process: its entries and
// the watch that removes them when it exits. Lock order: pidState.mu
// before Registry.pmu.
type pidState struct {
	mu       sync.Mutex
	refs     map[ownermap.Ref]string // entry → key
	dead     bool
	released bool
	cancel   func()
}

var (
	_ proc.Resolver     = (*Registry)(nil)
	_ proc.ResolveErrer = (*Registry)(nil)
)

// New starts the registry cfg.Name on the node of c. Every node of the
// cluster that takes part runs New with the same name and Kind. New
// registers the registry's types in the node's codec (RegisterTypes); do
// it yourself before the node talks to others if registries start later.
func New(c *cluster.Cluster, cfg Config) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := RegisterTypes(c.Node().Codec()); err != nil {
		return nil, err
	}
	r := &Registry{cfg: cfg, rt: c.Node().Runtime(), pids: map[proc.PID]*pidState{}}
	res := cfg.Resolver
	m, err := ownermap.Start(c, ownermap.Config{
		Name:          "names." + cfg.Name,
		Unique:        cfg.Keys == Unique,
		Interval:      cfg.Interval,
		DownRetention: cfg.DownRetention,
		Less:          func(a, b ownermap.Entry) bool { return res.Less(fromInternal(a), fromInternal(b)) },
		Logger:        cfg.Logger,
	}, ownermap.Hooks{Events: r.events, Conflict: r.conflict})
	if err != nil {
		return nil, fmt.Errorf("names: %w", err)
	}
	r.m = m
	return r, nil
}

// Name returns the registry's name.
func (r *Registry) Name() string { return r.cfg.Name }

// Kind returns the registry's Kind.
func (r *Registry) Kind() Kind { return r.cfg.Keys }

// Close stops the registry on this node. Its entries vanish from the other
// nodes when membership removes this node; unregister first to remove them
// at once. Close is idempotent.
func (r *Registry) Close() error {
	err := r.m.Close()
	r.subs.closeAll()
	r.pmu.Lock()
	ps := make([]*pidState, 0, len(r.pids))
	for _, p := range r.pids {
		ps = append(ps, p)
	}
	clear(r.pids)
	r.pmu.Unlock()
	for _, p := range ps {
		p.mu.Lock()
		p.released = true
		cancel := p.cancel
		p.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	}
	return err
}

// Register registers key for pid, a live process of this node, with value.
// In a unique registry it fails with an *AlreadyRegisteredError when this
// node sees a process holding the key; two nodes that register one key
// concurrently (within one sync interval, or on both sides of a
// partition) both succeed, and the conflict is settled when they see each
// other (see Resolver). The value's type must be registered in the codec
// of every node.
//
// The entry is removed cluster-wide when pid exits, by Unregister, or when
// membership declares this node dead.
func (r *Registry) Register(pid proc.PID, key string, value any) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes", ErrInvalidKey, len(key))
	}
	if !r.rt.IsLocal(pid) {
		return fmt.Errorf("%w: %v", ErrNotLocal, pid)
	}
	for {
		ps, err := r.hold(pid)
		if err != nil {
			return err
		}
		ps.mu.Lock()
		if ps.released {
			ps.mu.Unlock()
			continue // released by a concurrent Unregister: take a new hold
		}
		if ps.dead {
			ps.mu.Unlock()
			return fmt.Errorf("%w: %v", ErrNotAlive, pid)
		}
		e, err := r.m.Put(key, pid, value)
		if err == nil {
			ps.refs[e.Ref] = key
		}
		r.releaseIfIdleLocked(pid, ps)
		ps.mu.Unlock()
		var taken *ownermap.TakenError
		if errors.As(err, &taken) {
			return &AlreadyRegisteredError{Key: key, PID: taken.Holder.PID}
		}
		if errors.Is(err, ownermap.ErrClosed) {
			return ErrClosed
		}
		return err
	}
}

// hold returns the state of a local process, watching it on first use.
func (r *Registry) hold(pid proc.PID) (*pidState, error) {
	r.pmu.Lock()
	ps := r.pids[pid]
	if ps != nil {
		r.pmu.Unlock()
		return ps, nil
	}
	ps = &pidState{refs: map[ownermap.Ref]string{}}
	r.pids[pid] = ps
	r.pmu.Unlock()
	// The watch runs at once if the process is already gone.
	cancel := r.rt.Watch(pid, func(_ proc.PID, _ error) { r.exited(pid, ps) })
	ps.mu.Lock()
	ps.cancel = cancel
	ps.mu.Unlock()
	return ps, nil
}

// exited removes every entry of a process that exited. It runs on the
// goroutine that ended the process.
func (r *Registry) exited(pid proc.PID, ps *pidState) {
	ps.mu.Lock()
	ps.dead = true
	refs := ps.refs
	ps.refs = nil
	ps.mu.Unlock()
	for ref := range refs {
		r.m.Remove(ref, ownermap.ReasonExited)
	}
	r.pmu.Lock()
	if r.pids[pid] == ps {
		delete(r.pids, pid)
	}
	r.pmu.Unlock()
}

// releaseIfIdleLocked drops the watch of a process left without entries.
// The caller holds ps.mu.
func (r *Registry) releaseIfIdleLocked(pid proc.PID, ps *pidState) {
	if len(ps.refs) > 0 || ps.dead || ps.released {
		return
	}
	ps.released = true
	if ps.cancel != nil {
		ps.cancel()
	}
	r.pmu.Lock()
	if r.pids[pid] == ps {
		delete(r.pids, pid)
	}
	r.pmu.Unlock()
}

// Unregister removes pid's entries under key and returns how many it
// removed.
func (r *Registry) Unregister(pid proc.PID, key string) int {
	return r.unregister(pid, func(k string, _ any) bool { return k == key }, ownermap.ReasonUnregistered)
}

// UnregisterMatch removes pid's entries under key whose value satisfies
// match, and returns how many it removed.
func (r *Registry) UnregisterMatch(pid proc.PID, key string, match func(value any) bool) int {
	return r.unregister(pid, func(k string, v any) bool { return k == key && match(v) }, ownermap.ReasonUnregistered)
}

func (r *Registry) unregister(pid proc.PID, match func(key string, value any) bool, why ownermap.Reason) int {
	r.pmu.Lock()
	ps := r.pids[pid]
	r.pmu.Unlock()
	if ps == nil {
		return 0
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	n := 0
	for ref, k := range ps.refs {
		e, ok := r.m.Get(ref)
		if !ok || !match(k, e.Value) {
			continue
		}
		if _, ok := r.m.Remove(ref, why); ok {
			n++
		}
		delete(ps.refs, ref)
	}
	r.releaseIfIdleLocked(pid, ps)
	return n
}

// removeRef removes one entry of a local process (a lost conflict).
func (r *Registry) removeRef(pid proc.PID, ref ownermap.Ref, why ownermap.Reason) {
	r.pmu.Lock()
	ps := r.pids[pid]
	r.pmu.Unlock()
	if ps != nil {
		ps.mu.Lock()
		delete(ps.refs, ref)
		defer func() {
			r.releaseIfIdleLocked(pid, ps)
			ps.mu.Unlock()
		}()
	}
	r.m.Remove(ref, why)
}

// UpdateValue sets the value of pid's entries under key to fn(old) and
// returns the new and old values (of the last entry updated). It fails
// with ErrNotRegistered-like proc.ErrNotRegistered when pid holds no entry
// under key.
func (r *Registry) UpdateValue(pid proc.PID, key string, fn func(old any) any) (newValue, oldValue any, err error) {
	r.pmu.Lock()
	ps := r.pids[pid]
	r.pmu.Unlock()
	if ps == nil {
		return nil, nil, fmt.Errorf("%w: %q for %v", proc.ErrNotRegistered, key, pid)
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	found := false
	for ref, k := range ps.refs {
		if k != key {
			continue
		}
		e, ok := r.m.Get(ref)
		if !ok {
			continue
		}
		nv := fn(e.Value)
		if _, err := r.m.Update(ref, e.PID, nv); err != nil {
			return nil, nil, err
		}
		newValue, oldValue, found = nv, e.Value, true
	}
	if !found {
		return nil, nil, fmt.Errorf("%w: %q for %v", proc.ErrNotRegistered, key, pid)
	}
	return newValue, oldValue, nil
}

// Lookup returns the entries of key this node sees: at most one in a
// unique registry (the winner, if processes of several nodes claim it).
// It reads local memory only. The slice is the caller's.
func (r *Registry) Lookup(key string) []Entry {
	es := r.m.Lookup(key)
	if len(es) == 0 {
		return nil
	}
	out := make([]Entry, len(es))
	for i, e := range es {
		out[i] = fromInternal(e)
	}
	return out
}

// WhereIs returns the process registered under key (a string; other types
// are never found), for proc.Via. In a duplicate registry it returns the
// first entry. It reads local memory only.
func (r *Registry) WhereIs(key any) (proc.PID, bool) {
	k, ok := key.(string)
	if !ok {
		return proc.PID{}, false
	}
	es := r.m.Lookup(k)
	if len(es) == 0 {
		return proc.PID{}, false
	}
	return es[0].PID, true
}

// Resolve is WhereIs with an error: it wraps proc.ErrNotRegistered for a
// key nobody holds, and also ErrIncomplete while this node has not heard
// from every live member, when the key may exist elsewhere.
func (r *Registry) Resolve(key any) (proc.PID, error) {
	if pid, ok := r.WhereIs(key); ok {
		return pid, nil
	}
	if !r.m.Complete() {
		return proc.PID{}, fmt.Errorf("%w: %v (%w)", proc.ErrNotRegistered, key, ErrIncomplete)
	}
	return proc.PID{}, fmt.Errorf("%w: %v", proc.ErrNotRegistered, key)
}

// Via returns a destination that sends, casts and calls accept wherever a
// PID is: proc.Call[R](ctx, rt, reg.Via("session:42"), req) works from any
// node that runs the registry.
func (r *Registry) Via(key string) proc.Via { return proc.Via{Registry: r, Key: key} }

// Match returns the entries of key whose value satisfies match.
func (r *Registry) Match(key string, match func(value any) bool) []Entry {
	var out []Entry
	for _, e := range r.m.Lookup(key) {
		if match(e.Value) {
			out = append(out, fromInternal(e))
		}
	}
	return out
}

// CountMatch counts the entries of key whose value satisfies match.
func (r *Registry) CountMatch(key string, match func(value any) bool) int {
	n := 0
	for _, e := range r.m.Lookup(key) {
		if match(e.Value) {
			n++
		}
	}
	return n
}

// Count returns the number of entries this node sees.
func (r *Registry) Count() int { return r.m.Len() }

// Select returns the entries that satisfy match. match runs with a lock
// of the registry held: it must be quick and must not call the registry.
func (r *Registry) Select(match func(Entry) bool) []Entry {
	var out []Entry
	r.m.Range(func(e ownermap.Entry) bool {
		if x := fromInternal(e); match(x) {
			out = append(out, x)
		}
		return true
	})
	return out
}

// Keys returns the keys pid holds, as this node sees them.
func (r *Registry) Keys(pid proc.PID) []string {
	var out []string
	for _, e := range r.Select(func(e Entry) bool { return e.PID == pid }) {
		out = append(out, e.Key)
	}
	return out
}

// Dispatch calls fn with the entries of key, if any, with no lock held.
func (r *Registry) Dispatch(key string, fn func([]Entry)) {
	if es := r.Lookup(key); len(es) > 0 {
		fn(es)
	}
}

// Complete reports whether this node has received the entries of every
// live member, so that a key it does not see is not registered anywhere
// it can know of.
func (r *Registry) Complete() bool { return r.m.Complete() }

// WaitComplete waits until Complete or ctx is done.
func (r *Registry) WaitComplete(ctx context.Context) error { return r.m.WaitComplete(ctx) }

// Sync waits until every connected live member has acknowledged every
// change this node made before the call: they see its registrations and
// no longer see its removals.
func (r *Registry) Sync(ctx context.Context) error { return r.m.WaitAcked(ctx) }

// conflict applies the resolver's verdict to a local contender.
func (r *Registry) conflict(c ownermap.Conflict) {
	pc := Conflict{Key: c.Key, Winner: fromInternal(c.Winner), Loser: fromInternal(c.Loser), Won: c.LocalWon}
	local := pc.Loser
	if pc.Won {
		local = pc.Winner
		r.conflictsWon.Add(1)
	} else {
		r.conflictsLost.Add(1)
	}
	switch r.cfg.Resolver.Settle(pc) {
	case Keep:
	case Notify:
		_ = r.rt.Send(local.PID, pc)
	case Unregister:
		r.removeRef(local.PID, local.e.Ref, ownermap.ReasonConflict)
		_ = r.rt.Send(local.PID, pc)
	case Stop:
		r.removeRef(local.PID, local.e.Ref, ownermap.ReasonConflict)
		winner := pc.Winner.PID
		if pc.Won {
			winner = pc.Loser.PID
		}
		_ = r.rt.Exit(local.PID, &ConflictError{Key: c.Key, Winner: winner})
	}
}

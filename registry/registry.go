package registry

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/grovedev/grove/proc"
)

// Registry maps keys to the local processes that registered them, and
// forgets a process's entries when it exits. See the package documentation
// for the concurrency contract.
type Registry struct {
	rt    *proc.Runtime
	kind  Kind
	seed  maphash.Seed
	parts []partition
	pids  []pidShard
	ev    events

	watches atomic.Int64 // installed exit watches, one per registered process
}

var _ proc.Resolver = (*Registry)(nil)

// New returns an empty registry of processes of rt.
func New(rt *proc.Runtime, cfg Config) (*Registry, error) {
	if rt == nil {
		return nil, fmt.Errorf("registry: nil runtime")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := &Registry{
		rt:    rt,
		kind:  cfg.Keys,
		seed:  maphash.MakeSeed(),
		parts: make([]partition, cfg.Partitions),
		pids:  make([]pidShard, cfg.Partitions),
	}
	for i := range r.parts {
		p := &r.parts[i]
		if r.kind == Unique {
			p.mu.unique = make(map[any]slot)
		} else {
			p.mu.dup = make(map[any]*dupKey)
		}
		r.pids[i].mu.m = make(map[proc.PID]*pidState)
	}
	r.ev.listeners = slices.Clone(cfg.Listeners)
	r.ev.callbacks = slices.Clone(cfg.Callbacks)
	r.ev.on = len(r.ev.listeners)+len(r.ev.callbacks) > 0
	return r, nil
}

// Kind returns the kind of the registry's keys.
func (r *Registry) Kind() Kind { return r.kind }

// Partitions returns the number of partitions.
func (r *Registry) Partitions() int { return len(r.parts) }

// partition returns the partition of key, nil for a key that is not
// comparable (and so cannot be registered).
func (r *Registry) partition(key any) *partition {
	h, ok := hashKey(r.seed, key)
	if !ok {
		return nil
	}
	return &r.parts[h%uint64(len(r.parts))]
}

func errNotAlive(pid proc.PID) error { return fmt.Errorf("%w: %v", ErrNotAlive, pid) }

// queueRemovedLocked queues an Unregistered event for each removed entry.
// The caller holds the lock of key's partition.
func (r *Registry) queueRemovedLocked(key any, removed []slot, reason error) {
	if !r.ev.on {
		return
	}
	for _, s := range removed {
		r.ev.queueLocked(Unregistered{Registry: r, Key: key, PID: s.pid, Value: s.value, Reason: reason})
	}
}

// Register adds an entry for key with value, owned by the local process
// pid, which must be alive. In a unique registry it fails with an
// *AlreadyRegisteredError (ErrAlreadyRegistered) when a live process, pid
// included, holds the key; in a duplicate registry it always adds a new
// entry, even when pid has registered key before.
//
// A key whose holder has exited is free, even in the moment before the
// registry's cleanup of that holder has run: Register does that cleanup
// itself and retries, as Elixir's Registry deletes a stale entry. So a
// process restarted under its key by a supervisor, which learns of the
// exit through a link, never finds the key taken by its former self.
//
// The entry is removed when pid exits, or by Unregister. Listeners have been
// told of the registration when Register returns.
func (r *Registry) Register(pid proc.PID, key any, value any) error {
	if !r.rt.IsLocal(pid) {
		return fmt.Errorf("%w: %v", ErrNotLocal, pid)
	}
	p := r.partition(key)
	if p == nil {
		return fmt.Errorf("%w: %T", ErrInvalidKey, key)
	}
	if key != key { // a NaN, or a value holding one: never found again
		return fmt.Errorf("%w: %v is not equal to itself", ErrInvalidKey, key)
	}
	var stale proc.PID
	for {
		err := r.register(p, pid, key, value)
		var taken *AlreadyRegisteredError
		if !errors.As(err, &taken) || taken.PID == pid || taken.PID == stale || r.rt.Alive(taken.PID) {
			return err
		}
		// The holder has exited; its entries go now rather than when the
		// runtime gets to the registry's watch.
		stale = taken.PID
		r.cleanUpExited(stale)
	}
}

// cleanUpExited removes the entries of pid, a process that has exited,
// with its exit reason.
func (r *Registry) cleanUpExited(pid proc.PID) {
	ps := r.lookState(pid)
	if ps == nil {
		return
	}
	// The watch function runs at once for a process that has exited, with
	// its reason; the registry's own watch, when it comes, finds the
	// state dead.
	r.rt.OnExit(pid, func(_ proc.PID, reason error) { r.exited(ps, reason) })()
}

func (r *Registry) register(p *partition, pid proc.PID, key, value any) error {
	if !r.rt.Alive(pid) {
		return errNotAlive(pid)
	}
	if r.kind == Unique {
		// Refuse a taken name before watching the process for nothing.
		p.mu.RLock()
		s, taken := p.mu.unique[key]
		p.mu.RUnlock()
		if taken {
			return &AlreadyRegisteredError{Key: key, PID: s.pid}
		}
	}
	ps, err := r.lockState(pid)
	if err != nil {
		return err
	}
	if err := r.watchLocked(ps); err != nil {
		ps.mu.Unlock()
		return err
	}
	p.mu.Lock()
	err = p.insertLocked(r.kind, key, pid, value)
	if err == nil && r.ev.on {
		r.ev.queueLocked(Registered{Registry: r, Key: key, PID: pid, Value: value})
	}
	p.mu.Unlock()
	if err == nil {
		ps.mu.keys[key]++
		ps.mu.n++
	} else {
		r.releaseIfIdleLocked(ps)
	}
	ps.mu.Unlock()
	if err == nil {
		r.ev.deliver(r.rt)
	}
	return err
}

// Unregister removes every entry of pid under key and returns how many it
// removed. Unregistering a key pid does not hold does nothing.
func (r *Registry) Unregister(pid proc.PID, key any) int {
	return r.unregister(pid, key, nil)
}

// UnregisterMatch removes the entries of pid under key whose value satisfies
// match and returns how many it removed. match runs with a partition lock
// held: see the package documentation for what it must not do.
func (r *Registry) UnregisterMatch(pid proc.PID, key any, match func(value any) bool) int {
	if match == nil {
		return 0
	}
	return r.unregister(pid, key, match)
}

func (r *Registry) unregister(pid proc.PID, key any, match func(any) bool) int {
	p := r.partition(key)
	if p == nil {
		return 0
	}
	ps := r.lookState(pid)
	if ps == nil {
		return 0
	}
	ps.mu.Lock()
	if ps.mu.detached || ps.mu.keys[key] == 0 {
		ps.mu.Unlock()
		return 0
	}
	var buf [4]slot
	p.mu.Lock()
	removed := p.removeLocked(r.kind, key, pid, match, buf[:0])
	r.queueRemovedLocked(key, removed, nil)
	p.mu.Unlock()
	n := len(removed)
	if left := ps.mu.keys[key] - n; left > 0 {
		ps.mu.keys[key] = left
	} else {
		delete(ps.mu.keys, key)
	}
	ps.mu.n -= n
	r.releaseIfIdleLocked(ps)
	ps.mu.Unlock()
	if n > 0 {
		r.ev.deliver(r.rt)
	}
	return n
}

// Lookup returns the entries of key: at most one in a unique registry, in
// no particular order in a duplicate one. The slice is the caller's.
func (r *Registry) Lookup(key any) []Entry {
	return r.Match(key, nil)
}

// Match returns the entries of key whose value satisfies match; a nil match
// takes every entry. match runs with a partition's read lock held: it must
// be quick, must not call the registry and must not end processes (see the
// package documentation).
func (r *Registry) Match(key any, match func(value any) bool) []Entry {
	p := r.partition(key)
	if p == nil {
		return nil
	}
	p.mu.RLock()
	out := p.appendLocked(r.kind, key, match, nil)
	p.mu.RUnlock()
	return out
}

// CountMatch returns the number of entries of key whose value satisfies
// match; a nil match counts every entry. match runs as in Match.
func (r *Registry) CountMatch(key any, match func(value any) bool) int {
	p := r.partition(key)
	if p == nil {
		return 0
	}
	n := 0
	p.mu.RLock()
	if r.kind == Unique {
		if s, ok := p.mu.unique[key]; ok && (match == nil || match(s.value)) {
			n = 1
		}
	} else if d := p.mu.dup[key]; d != nil {
		if match == nil {
			n = len(d.entries)
		} else {
			for _, e := range d.entries {
				if match(e.Value) {
					n++
				}
			}
		}
	}
	p.mu.RUnlock()
	return n
}

// WhereIs returns the process holding key in a unique registry. It always
// reports false for a duplicate registry, whose keys name no single
// process. It makes the registry a proc.Resolver, for Via names.
func (r *Registry) WhereIs(key any) (proc.PID, bool) {
	if r.kind != Unique {
		return proc.PID{}, false
	}
	p := r.partition(key)
	if p == nil {
		return proc.PID{}, false
	}
	p.mu.RLock()
	s, ok := p.mu.unique[key]
	p.mu.RUnlock()
	return s.pid, ok
}

// Via returns a destination that sends to the process holding key in this
// (unique) registry, accepted wherever the runtime takes a proc.Dest:
// Runtime.SendTo, CallTo, Cast and proc.Call.
func (r *Registry) Via(key any) proc.Via { return proc.Via{Registry: r, Key: key} }

// Keys returns the keys pid has registered, in no particular order. In a
// duplicate registry a key appears once per entry.
func (r *Registry) Keys(pid proc.PID) []any {
	ps := r.lookState(pid)
	if ps == nil {
		return nil
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.mu.detached {
		return nil
	}
	out := make([]any, 0, ps.mu.n)
	for k, n := range ps.mu.keys {
		for range n {
			out = append(out, k)
		}
	}
	return out
}

// Values returns the values pid registered under key: at most one in a
// unique registry.
func (r *Registry) Values(key any, pid proc.PID) []any {
	p := r.partition(key)
	if p == nil {
		return nil
	}
	var out []any
	p.mu.RLock()
	defer p.mu.RUnlock()
	if r.kind == Unique {
		if s, ok := p.mu.unique[key]; ok && s.pid == pid {
			out = append(out, s.value)
		}
		return out
	}
	if d := p.mu.dup[key]; d != nil {
		for _, i := range d.idx[pid] {
			out = append(out, d.entries[i].Value)
		}
	}
	return out
}

// UpdateValue replaces the value of key, held by pid in a unique registry,
// with fn(old), and returns the new and the old value. It fails with
// ErrNotRegistered when pid does not hold key and with ErrNotUnique on a
// duplicate registry. fn runs with the partition's write lock held, under
// the same rules as the predicate of Match. Listeners are not told of
// updates.
func (r *Registry) UpdateValue(pid proc.PID, key any, fn func(old any) any) (newValue, oldValue any, err error) {
	if r.kind != Unique {
		return nil, nil, ErrNotUnique
	}
	p := r.partition(key)
	if p == nil {
		return nil, nil, fmt.Errorf("%w: %T", ErrInvalidKey, key)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.mu.unique[key]
	if !ok || s.pid != pid {
		return nil, nil, fmt.Errorf("%w: %v, %v", ErrNotRegistered, key, pid)
	}
	old := s.value
	s.value = fn(old)
	p.mu.unique[key] = s
	return s.value, old, nil
}

// Count returns the number of entries in the registry.
func (r *Registry) Count() int {
	n := 0
	for i := range r.parts {
		p := &r.parts[i]
		p.mu.RLock()
		n += p.mu.count
		p.mu.RUnlock()
	}
	return n
}

// Select returns the entries for which match returns true, like Elixir's
// Registry.select with a Go predicate in place of a match specification.
// It visits one partition at a time, under the partition's read lock, so
// the result is not a snapshot of the whole registry when it changes
// meanwhile. match runs as in Match.
func (r *Registry) Select(match func(key any, pid proc.PID, value any) bool) []Entry {
	var out []Entry
	for i := range r.parts {
		p := &r.parts[i]
		p.mu.RLock()
		for k, s := range p.mu.unique {
			if match(k, s.pid, s.value) {
				out = append(out, Entry{k, s.pid, s.value})
			}
		}
		for _, d := range p.mu.dup {
			for _, e := range d.entries {
				if match(e.Key, e.PID, e.Value) {
					out = append(out, e)
				}
			}
		}
		p.mu.RUnlock()
	}
	return out
}

// CountSelect returns the number of entries for which match returns true,
// like Elixir's Registry.count_select; it visits partitions as Select does.
func (r *Registry) CountSelect(match func(key any, pid proc.PID, value any) bool) int {
	n := 0
	for i := range r.parts {
		p := &r.parts[i]
		p.mu.RLock()
		for k, s := range p.mu.unique {
			if match(k, s.pid, s.value) {
				n++
			}
		}
		for _, d := range p.mu.dup {
			for _, e := range d.entries {
				if match(e.Key, e.PID, e.Value) {
					n++
				}
			}
		}
		p.mu.RUnlock()
	}
	return n
}

// entryBufs recycles the slices Dispatch hands to its callback.
var entryBufs = sync.Pool{New: func() any { return new([]Entry) }}

// Dispatch calls fn with the entries of key, for example to send a message
// to every process of a topic; fn is not called when key has no entries.
// fn runs without any registry lock held, on a copy taken under the
// partition's read lock: it may call the registry, but must not keep the
// slice, which is reused after fn returns.
func (r *Registry) Dispatch(key any, fn func(entries []Entry)) {
	p := r.partition(key)
	if p == nil {
		return
	}
	buf := entryBufs.Get().(*[]Entry)
	p.mu.RLock()
	*buf = p.appendLocked(r.kind, key, nil, (*buf)[:0])
	p.mu.RUnlock()
	if len(*buf) > 0 {
		fn(*buf)
	}
	clear(*buf)
	if cap(*buf) <= 1<<16 {
		entryBufs.Put(buf)
	}
}

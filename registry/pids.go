package registry

import (
	"sync"

	"github.com/grovedev/grove/internal/shrinkmap"
	"github.com/grovedev/grove/proc"
)

// pidState is what the registry knows about one registered process: its
// keys and the watch that unregisters them when it exits. Every change to the
// entries of the process happens under mu, which is how a registration
// racing with the exit of its process cannot leave an entry behind: the
// exit handler takes mu, marks the state dead and removes every key the
// state lists; a registration either ran before it (and its key is listed)
// or finds the state dead (or detached) and fails.
//
// Lock order: pidState.mu, then pidShard.mu, partition.mu, events.mu.
type pidState struct {
	pid proc.PID
	mu  struct {
		sync.Mutex
		keys     map[any]int // key → number of entries of the process under it
		n        int         // entries of the process
		watching bool        // a watch is installed, or being installed
		cancel   func()      // cancels the watch; nil while it is being installed
		pending  int         // registrations installing the watch, with mu released
		dead     bool        // the process exited and its entries were removed
		detached bool        // no longer in the pid index: look the pid up again
	}
}

// pidShard is one part of the index from PIDs to their states.
type pidShard struct {
	mu struct {
		sync.Mutex
		m    map[proc.PID]*pidState
		peak int // the largest len(m) since it was rebuilt
	}
	_ [64]byte
}

func (r *Registry) pidShard(pid proc.PID) *pidShard {
	return &r.pids[pid.ID%uint64(len(r.pids))]
}

// lockState returns the state of pid with its mu held, creating it when the
// process has none. It fails with ErrNotAlive when the state is dead.
func (r *Registry) lockState(pid proc.PID) (*pidState, error) {
	sh := r.pidShard(pid)
	for {
		sh.mu.Lock()
		ps := sh.mu.m[pid]
		if ps == nil {
			ps = &pidState{pid: pid}
			ps.mu.keys = make(map[any]int, 1)
			sh.mu.m[pid] = ps
			sh.mu.peak = max(sh.mu.peak, len(sh.mu.m))
		}
		sh.mu.Unlock()
		ps.mu.Lock()
		if ps.mu.dead {
			ps.mu.Unlock()
			return nil, errNotAlive(pid)
		}
		if !ps.mu.detached {
			return ps, nil
		}
		ps.mu.Unlock() // released while we were getting it: look again
	}
}

// lookState returns the state of pid, or nil.
func (r *Registry) lookState(pid proc.PID) *pidState {
	sh := r.pidShard(pid)
	sh.mu.Lock()
	ps := sh.mu.m[pid]
	sh.mu.Unlock()
	return ps
}

// watchLocked makes sure the exit of ps's process is watched. The caller
// holds ps.mu; watchLocked releases it while installing the watch, since
// the watch function runs at once when the process is gone, and holds it
// again on return. It fails with ErrNotAlive when the process exited.
func (r *Registry) watchLocked(ps *pidState) error {
	if ps.mu.watching {
		return nil
	}
	ps.mu.watching = true
	ps.mu.pending++
	ps.mu.Unlock()
	cancel := r.rt.OnExit(ps.pid, func(_ proc.PID, reason error) { r.exited(ps, reason) })
	ps.mu.Lock()
	ps.mu.pending--
	if ps.mu.dead {
		return errNotAlive(ps.pid)
	}
	ps.mu.cancel = cancel
	r.watches.Add(1)
	return nil
}

// releaseIfIdleLocked drops the watch and the state of a process left
// without entries. The caller holds ps.mu.
func (r *Registry) releaseIfIdleLocked(ps *pidState) {
	if ps.mu.n > 0 || ps.mu.pending > 0 || ps.mu.dead || ps.mu.detached {
		return
	}
	if ps.mu.cancel != nil {
		ps.mu.cancel()
		ps.mu.cancel = nil
		r.watches.Add(-1)
	}
	ps.mu.watching = false
	r.detachLocked(ps)
}

// detachLocked removes ps from the pid index. The caller holds ps.mu.
func (r *Registry) detachLocked(ps *pidState) {
	ps.mu.detached = true
	sh := r.pidShard(ps.pid)
	sh.mu.Lock()
	if sh.mu.m[ps.pid] == ps {
		delete(sh.mu.m, ps.pid)
		sh.mu.m, sh.mu.peak = shrinkmap.Shrink(sh.mu.m, sh.mu.peak)
	}
	sh.mu.Unlock()
}

// exited removes every entry of a process that exited. It runs on the
// goroutine that ended the process (its own, or one that killed it), or on
// a registering one when the process was already gone.
func (r *Registry) exited(ps *pidState, reason error) {
	ps.mu.Lock()
	if ps.mu.dead || ps.mu.detached {
		// detached: the watch was cancelled while the process was exiting.
		ps.mu.Unlock()
		return
	}
	ps.mu.dead = true
	if ps.mu.cancel != nil {
		ps.mu.cancel = nil
		r.watches.Add(-1)
	}
	var removed []slot
	for key := range ps.mu.keys {
		p := r.partition(key)
		if p == nil {
			continue
		}
		p.mu.Lock()
		n := len(removed)
		removed = p.removeLocked(r.kind, key, ps.pid, nil, removed)
		r.queueRemovedLocked(key, removed[n:], reason)
		p.mu.Unlock()
	}
	ps.mu.keys = nil
	ps.mu.n = 0
	r.detachLocked(ps)
	ps.mu.Unlock()
	r.ev.deliver(r.rt)
}

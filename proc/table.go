package proc

import (
	"sync"

	"github.com/grovedev/grove/internal/shrinkmap"
)

const tableShards = 64

// table maps the IDs of a runtime's live processes to the processes. It is
// sharded so that spawns and lookups on different cores rarely meet on a
// lock.
type table struct {
	shards [tableShards]tableShard
}

type tableShard struct {
	mu     sync.RWMutex
	m      map[uint64]*Process
	peak   int      // the largest len(m) since m was last rebuilt
	closed bool     // the runtime is closing: no process is added any more
	_      [32]byte // keep shards on separate cache lines
}

func (t *table) shard(id uint64) *tableShard { return &t.shards[id%tableShards] }

// add records p. It reports false once the table is closed: a spawn that
// races with Runtime.Close either is in the table before Close looks, or
// fails.
func (t *table) add(p *Process) bool {
	s := t.shard(p.pid.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.m == nil {
		s.m = make(map[uint64]*Process)
	}
	s.m[p.pid.ID] = p
	s.peak = max(s.peak, len(s.m))
	return true
}

// close makes add refuse processes from now on.
func (t *table) close() {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	}
}

// remove deletes id if it still maps to p.
func (t *table) remove(id uint64, p *Process) {
	s := t.shard(id)
	s.mu.Lock()
	if s.m[id] == p {
		delete(s.m, id)
		s.m, s.peak = shrinkmap.Shrink(s.m, s.peak)
	}
	s.mu.Unlock()
}

// get returns the live process with the given PID, or nil. The caller has
// checked that pid belongs to this runtime.
func (t *table) get(pid PID) *Process {
	s := t.shard(pid.ID)
	s.mu.RLock()
	p := s.m[pid.ID]
	s.mu.RUnlock()
	if p == nil || p.pid != pid {
		return nil
	}
	return p
}

// count returns the number of live processes.
func (t *table) count() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// all returns the live processes.
func (t *table) all() []*Process {
	var out []*Process
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		for _, p := range s.m {
			out = append(out, p)
		}
		s.mu.RUnlock()
	}
	return out
}

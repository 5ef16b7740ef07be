package registry

import (
	"hash/maphash"
	"slices"
	"sync"

	"github.com/grovedev/grove/internal/shrinkmap"
	"github.com/grovedev/grove/proc"
)

// Entry is one registration: the key, the process that registered it and
// the value it registered with.
type Entry struct {
	Key   any
	PID   proc.PID
	Value any
}

// slot is an entry as stored under its key.
type slot struct {
	pid   proc.PID
	value any
}

// dupKey holds the entries of one duplicate key. Entries are unordered:
// removal moves the last entry into the hole, and idx keeps, for every
// process, the positions of its entries so that removing them costs their
// number, not the number of entries of the key. Entries carry their key so
// that reading them all is one copy.
type dupKey struct {
	entries []Entry
	idx     map[proc.PID][]int
	peak    int // the largest len(idx) since it was rebuilt
}

func (d *dupKey) add(key any, pid proc.PID, value any) {
	d.idx[pid] = append(d.idx[pid], len(d.entries))
	d.peak = max(d.peak, len(d.idx))
	d.entries = append(d.entries, Entry{key, pid, value})
}

// remove deletes the entries of pid whose value satisfies match (all of
// them when match is nil) and appends them to out.
func (d *dupKey) remove(pid proc.PID, match func(any) bool, out []slot) []slot {
	pos := d.idx[pid]
	switch len(pos) {
	case 0:
		return out
	case 1: // the common case, without the bookkeeping below
		if e := d.entries[pos[0]]; match == nil || match(e.Value) {
			out = append(out, slot{e.PID, e.Value})
			d.removeAt(pos[0])
		}
		return out
	}
	var del []int
	if match == nil {
		del = slices.Clone(pos)
	} else {
		for _, i := range pos {
			if match(d.entries[i].Value) {
				del = append(del, i)
			}
		}
	}
	// Going from the highest position down, the entry moved into a hole
	// always comes from above it, so the positions still to delete stay
	// valid.
	slices.Sort(del)
	for j := len(del) - 1; j >= 0; j-- {
		e := d.entries[del[j]]
		out = append(out, slot{e.PID, e.Value})
		d.removeAt(del[j])
	}
	return out
}

func (d *dupKey) removeAt(i int) {
	pid := d.entries[i].PID
	if pos := deleteInt(d.idx[pid], i); len(pos) == 0 {
		delete(d.idx, pid)
		d.idx, d.peak = shrinkmap.Shrink(d.idx, d.peak)
	} else {
		d.idx[pid] = pos
	}
	last := len(d.entries) - 1
	if i != last {
		moved := d.entries[last]
		d.entries[i] = moved
		pos := d.idx[moved.PID]
		pos[slices.Index(pos, last)] = i
	}
	d.entries[last] = Entry{}
	d.entries = d.entries[:last]
	if cap(d.entries) >= shrinkmap.MinPeak && len(d.entries) <= cap(d.entries)/4 {
		d.entries = slices.Clip(slices.Clone(d.entries))
	}
}

// deleteInt removes the first v from s, in place.
func deleteInt(s []int, v int) []int {
	if i := slices.Index(s, v); i >= 0 {
		s[i] = s[len(s)-1]
		s = s[:len(s)-1]
	}
	return s
}

// partition holds the keys that hash to it.
type partition struct {
	mu struct {
		sync.RWMutex
		unique map[any]slot    // unique registries
		dup    map[any]*dupKey // duplicate registries
		count  int             // entries in this partition
		peak   int             // the largest len(unique) or len(dup) since the map was rebuilt
	}
	_ [64]byte // keep partitions' locks on separate cache lines
}

// hashKey hashes a key for choosing its partition. ok is false for a key
// that is not comparable.
func hashKey(seed maphash.Seed, key any) (h uint64, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return maphash.Comparable(seed, key), true
}

// insertLocked adds an entry, or reports the holder of a taken unique key.
// The caller holds p.mu for writing.
func (p *partition) insertLocked(kind Kind, key any, pid proc.PID, value any) error {
	if kind == Unique {
		if s, taken := p.mu.unique[key]; taken {
			return &AlreadyRegisteredError{Key: key, PID: s.pid}
		}
		p.mu.unique[key] = slot{pid, value}
		p.mu.peak = max(p.mu.peak, len(p.mu.unique))
	} else {
		d := p.mu.dup[key]
		if d == nil {
			d = &dupKey{idx: make(map[proc.PID][]int, 1)}
			p.mu.dup[key] = d
			p.mu.peak = max(p.mu.peak, len(p.mu.dup))
		}
		d.add(key, pid, value)
	}
	p.mu.count++
	return nil
}

// removeLocked deletes the entries of pid under key whose value satisfies
// match (all when match is nil), appending them to out. The caller holds
// p.mu for writing.
func (p *partition) removeLocked(kind Kind, key any, pid proc.PID, match func(any) bool, out []slot) []slot {
	n := len(out)
	if kind == Unique {
		s, ok := p.mu.unique[key]
		if !ok || s.pid != pid || (match != nil && !match(s.value)) {
			return out
		}
		delete(p.mu.unique, key)
		p.mu.unique, p.mu.peak = shrinkmap.Shrink(p.mu.unique, p.mu.peak)
		out = append(out, s)
	} else {
		d := p.mu.dup[key]
		if d == nil {
			return out
		}
		out = d.remove(pid, match, out)
		if len(d.entries) == 0 {
			delete(p.mu.dup, key)
			p.mu.dup, p.mu.peak = shrinkmap.Shrink(p.mu.dup, p.mu.peak)
		}
	}
	p.mu.count -= len(out) - n
	return out
}

// appendLocked appends the entries of key whose value satisfies match (all
// when match is nil) to out. The caller holds p.mu.
func (p *partition) appendLocked(kind Kind, key any, match func(any) bool, out []Entry) []Entry {
	if kind == Unique {
		if s, ok := p.mu.unique[key]; ok && (match == nil || match(s.value)) {
			out = append(out, Entry{key, s.pid, s.value})
		}
		return out
	}
	if d := p.mu.dup[key]; d != nil {
		if match == nil {
			return append(out, d.entries...)
		}
		for _, e := range d.entries {
			if match(e.Value) {
				out = append(out, e)
			}
		}
	}
	return out
}

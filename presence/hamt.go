package presence

import "math/bits"

// This file is a persistent hash map (a hash array mapped trie, Bagwell
// 2001): every change returns a new map that shares all but the changed path
// with the old one, so a reader holding a map reads it without locks while
// writers build the next. A map value is immutable; the zero value is empty.

type hmap[K comparable, V any] struct {
	root *hnode[K, V]
	size int
}

type hnode[K comparable, V any] struct {
	bitmap uint32
	slots  []hslot[K, V] // one per set bit, in bit order
}

// hslot holds either a child node or a leaf.
type hslot[K comparable, V any] struct {
	sub  *hnode[K, V]
	leaf *hleaf[K, V]
}

// hleaf is an entry; next chains entries whose whole hashes are equal.
type hleaf[K comparable, V any] struct {
	h    uint64
	k    K
	v    V
	next *hleaf[K, V]
}

const hbits = 5

func hpos(h uint64, shift uint) uint32 { return 1 << ((h >> shift) & 31) }

func (n *hnode[K, V]) index(bit uint32) int { return bits.OnesCount32(n.bitmap & (bit - 1)) }

// Len returns the number of entries.
func (m hmap[K, V]) Len() int { return m.size }

// Get returns the value of k.
func (m hmap[K, V]) Get(h uint64, k K) (V, bool) {
	n := m.root
	for shift := uint(0); n != nil; shift += hbits {
		bit := hpos(h, shift)
		if n.bitmap&bit == 0 {
			break
		}
		s := n.slots[n.index(bit)]
		if s.sub != nil {
			n = s.sub
			continue
		}
		for l := s.leaf; l != nil; l = l.next {
			if l.h == h && l.k == k {
				return l.v, true
			}
		}
		break
	}
	var zero V
	return zero, false
}

// Set returns the map with k set to v.
func (m hmap[K, V]) Set(h uint64, k K, v V) hmap[K, V] {
	root, added := set(m.root, h, 0, &hleaf[K, V]{h: h, k: k, v: v})
	if added {
		m.size++
	}
	m.root = root
	return m
}

func set[K comparable, V any](n *hnode[K, V], h uint64, shift uint, l *hleaf[K, V]) (*hnode[K, V], bool) {
	bit := hpos(h, shift)
	if n == nil {
		return &hnode[K, V]{bitmap: bit, slots: []hslot[K, V]{{leaf: l}}}, true
	}
	i := n.index(bit)
	if n.bitmap&bit == 0 {
		c := &hnode[K, V]{bitmap: n.bitmap | bit, slots: make([]hslot[K, V], len(n.slots)+1)}
		copy(c.slots, n.slots[:i])
		c.slots[i] = hslot[K, V]{leaf: l}
		copy(c.slots[i+1:], n.slots[i:])
		return c, true
	}
	c := &hnode[K, V]{bitmap: n.bitmap, slots: append([]hslot[K, V](nil), n.slots...)}
	s := n.slots[i]
	switch {
	case s.sub != nil:
		sub, added := set(s.sub, h, shift+hbits, l)
		c.slots[i] = hslot[K, V]{sub: sub}
		return c, added
	case s.leaf.h == h:
		// Same whole hash: replace the key in the chain or add to it.
		chain, added := chainSet(s.leaf, l)
		c.slots[i] = hslot[K, V]{leaf: chain}
		return c, added
	default:
		// Two keys meet: push the old one down a level.
		sub, _ := set(nil, s.leaf.h, shift+hbits, s.leaf)
		sub, _ = set(sub, h, shift+hbits, l)
		c.slots[i] = hslot[K, V]{sub: sub}
		return c, true
	}
}

// chainSet returns the chain with l's key set, copying what precedes it.
func chainSet[K comparable, V any](chain, l *hleaf[K, V]) (*hleaf[K, V], bool) {
	if chain == nil {
		return l, true
	}
	if chain.k == l.k {
		return &hleaf[K, V]{h: l.h, k: l.k, v: l.v, next: chain.next}, false
	}
	rest, added := chainSet(chain.next, l)
	return &hleaf[K, V]{h: chain.h, k: chain.k, v: chain.v, next: rest}, added
}

// Delete returns the map without k.
func (m hmap[K, V]) Delete(h uint64, k K) hmap[K, V] {
	root, removed := del(m.root, h, 0, k)
	if removed {
		m.size--
		m.root = root
	}
	return m
}

func del[K comparable, V any](n *hnode[K, V], h uint64, shift uint, k K) (*hnode[K, V], bool) {
	if n == nil {
		return nil, false
	}
	bit := hpos(h, shift)
	if n.bitmap&bit == 0 {
		return n, false
	}
	i := n.index(bit)
	s := n.slots[i]
	var repl hslot[K, V]
	switch {
	case s.sub != nil:
		sub, removed := del(s.sub, h, shift+hbits, k)
		if !removed {
			return n, false
		}
		switch {
		case sub == nil:
		case len(sub.slots) == 1 && sub.slots[0].leaf != nil:
			repl = hslot[K, V]{leaf: sub.slots[0].leaf} // pull a lone leaf up
		default:
			repl = hslot[K, V]{sub: sub}
		}
	default:
		chain, removed := chainDel(s.leaf, h, k)
		if !removed {
			return n, false
		}
		if chain != nil {
			repl = hslot[K, V]{leaf: chain}
		}
	}
	if repl.sub == nil && repl.leaf == nil {
		if len(n.slots) == 1 {
			return nil, true
		}
		c := &hnode[K, V]{bitmap: n.bitmap &^ bit, slots: make([]hslot[K, V], 0, len(n.slots)-1)}
		c.slots = append(c.slots, n.slots[:i]...)
		c.slots = append(c.slots, n.slots[i+1:]...)
		return c, true
	}
	c := &hnode[K, V]{bitmap: n.bitmap, slots: append([]hslot[K, V](nil), n.slots...)}
	c.slots[i] = repl
	return c, true
}

func chainDel[K comparable, V any](chain *hleaf[K, V], h uint64, k K) (*hleaf[K, V], bool) {
	if chain == nil {
		return nil, false
	}
	if chain.h == h && chain.k == k {
		return chain.next, true
	}
	rest, removed := chainDel(chain.next, h, k)
	if !removed {
		return chain, false
	}
	return &hleaf[K, V]{h: chain.h, k: chain.k, v: chain.v, next: rest}, true
}

// Range calls fn for every entry, in no particular order, until it returns
// false.
func (m hmap[K, V]) Range(fn func(K, V) bool) {
	if m.root != nil {
		m.root.each(fn)
	}
}

func (n *hnode[K, V]) each(fn func(K, V) bool) bool {
	for _, s := range n.slots {
		if s.sub != nil {
			if !s.sub.each(fn) {
				return false
			}
			continue
		}
		for l := s.leaf; l != nil; l = l.next {
			if !fn(l.k, l.v) {
				return false
			}
		}
	}
	return true
}

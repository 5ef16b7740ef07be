package presence

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/grovedev/grove/proc"
)

// views holds what readers see: per topic, an immutable map from key to the
// presences tracked under it, swapped atomically by writers. Readers never
// lock; writers hold the Tracker's lock.
type views struct {
	seed   maphash.Seed
	topics sync.Map // string -> *topicView
}

type topicView struct {
	cur atomic.Pointer[topicState]
	// index is where each presence stands in the current vector; only
	// writers (under the Tracker's lock) use it.
	index map[pkey]int
}

// topicState is one version of a topic's presences, in two forms that
// share their unchanged parts with earlier versions: by key, for Get, and
// in a vector of contiguous chunks, for List and Range.
type topicState struct {
	keys  hmap[string, []Presence] // a key's presences, one per process
	vec   pvec
	count int
	cache atomic.Pointer[[]Presence]
}

func newViews() *views { return &views{seed: maphash.MakeSeed()} }

func (v *views) load(topic string) *topicState {
	tv, ok := v.topics.Load(topic)
	if !ok {
		return nil
	}
	return tv.(*topicView).cur.Load()
}

func (v *views) hash(key string) uint64 { return maphash.String(v.seed, key) }

// set puts p in its topic, replacing the presence of the same process and
// key. It returns the one replaced.
func (v *views) set(p Presence) (old Presence, replaced bool) {
	tvAny, _ := v.topics.LoadOrStore(p.Topic, &topicView{index: make(map[pkey]int)})
	tv := tvAny.(*topicView)
	st := tv.cur.Load()
	if st == nil {
		st = &topicState{}
	}
	h := v.hash(p.Key)
	list, _ := st.keys.Get(h, p.Key)
	next := &topicState{count: st.count}
	k := pkey{p.Key, p.PID}
	if i := slices.IndexFunc(list, func(q Presence) bool { return q.PID == p.PID }); i >= 0 {
		old, replaced = list[i], true
		list = slices.Clone(list)
		list[i] = p
		next.vec = st.vec.Set(tv.index[k], p)
	} else {
		list = append(slices.Clip(list), p)
		next.count++
		tv.index[k] = st.vec.Len()
		next.vec = st.vec.Push(p)
	}
	next.keys = st.keys.Set(h, p.Key, list)
	tv.cur.Store(next)
	return old, replaced
}

// del removes the presence of pid under key, returning it.
func (v *views) del(topic, key string, pid proc.PID) (Presence, bool) {
	tvAny, ok := v.topics.Load(topic)
	if !ok {
		return Presence{}, false
	}
	tv := tvAny.(*topicView)
	st := tv.cur.Load()
	if st == nil {
		return Presence{}, false
	}
	h := v.hash(key)
	list, _ := st.keys.Get(h, key)
	i := slices.IndexFunc(list, func(q Presence) bool { return q.PID == pid })
	if i < 0 {
		return Presence{}, false
	}
	old := list[i]
	next := &topicState{count: st.count - 1}
	if len(list) == 1 {
		next.keys = st.keys.Delete(h, key)
	} else {
		next.keys = st.keys.Set(h, key, slices.Delete(slices.Clone(list), i, i+1))
	}
	// The vector's last presence takes the place of the one removed.
	k := pkey{key, pid}
	at, last := tv.index[k], st.vec.Len()-1
	vec := st.vec
	if at != last {
		moved := vec.Get(last)
		vec = vec.Set(at, moved)
		tv.index[pkey{moved.Key, moved.PID}] = at
	}
	next.vec = vec.Pop()
	delete(tv.index, k)
	if next.count == 0 {
		// The topic goes with its last presence; a reader holding the old
		// state still reads it whole.
		v.topics.Delete(topic)
		tv.cur.Store(next)
		return old, true
	}
	tv.cur.Store(next)
	return old, true
}

// flat returns every presence of the topic in one slice, built once per
// version by the first reader that asks (readers racing to build it build
// the same thing). The slice is shared: never modify it.
func (st *topicState) flat() []Presence {
	if st == nil {
		return nil
	}
	if f := st.cache.Load(); f != nil {
		return *f
	}
	out := st.build()
	st.cache.Store(&out)
	return out
}

// list returns every presence of the topic in a new slice, copied chunk
// by chunk from the vector.
func (st *topicState) list() []Presence {
	if st == nil {
		return nil
	}
	if f := st.cache.Load(); f != nil {
		return slices.Clone(*f)
	}
	return st.build()
}

func (st *topicState) build() []Presence { return st.vec.AppendTo(make([]Presence, 0, st.count)) }

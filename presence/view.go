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
}

// topicState is one version of a topic's presences.
type topicState struct {
	keys  hmap[string, []Presence] // a key's presences, one per process
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
	tvAny, _ := v.topics.LoadOrStore(p.Topic, &topicView{})
	tv := tvAny.(*topicView)
	st := tv.cur.Load()
	if st == nil {
		st = &topicState{}
	}
	h := v.hash(p.Key)
	list, _ := st.keys.Get(h, p.Key)
	next := &topicState{count: st.count}
	if i := slices.IndexFunc(list, func(q Presence) bool { return q.PID == p.PID }); i >= 0 {
		old, replaced = list[i], true
		list = slices.Clone(list)
		list[i] = p
	} else {
		list = append(slices.Clip(list), p)
		next.count++
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

// list returns every presence of the topic in a new slice. The first
// list of a version builds the shared one too, so that later lists of the
// same version only copy it.
func (st *topicState) list() []Presence {
	if st == nil {
		return nil
	}
	return slices.Clone(st.flat())
}

func (st *topicState) build() []Presence {
	out := make([]Presence, 0, st.count)
	if st.keys.root != nil {
		out = appendAll(out, st.keys.root)
	}
	return out
}

func appendAll(out []Presence, n *hnode[string, []Presence]) []Presence {
	for i := range n.slots {
		s := &n.slots[i]
		if s.sub != nil {
			out = appendAll(out, s.sub)
			continue
		}
		for l := s.leaf; l != nil; l = l.next {
			out = append(out, l.v...)
		}
	}
	return out
}

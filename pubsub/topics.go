package pubsub

import (
	"hash/maphash"
	"sync"
)

const topicShards = 32

// topics maps topic names to their local subscriptions. A topic exists
// while it has subscribers: the last unsubscribe removes it, so the table
// does not grow with topics nobody listens to any more.
//
// Lock order: a shard's lock, then a topic's. Subscribe takes them one
// after the other, never nested the other way.
type topics struct {
	seed   maphash.Seed
	shards [topicShards]topicShard
}

type topicShard struct {
	mu sync.RWMutex
	m  map[string]*topic
	_  [32]byte // keep shards on separate cache lines
}

// topic holds the local subscriptions of one topic. Broadcasts hold its
// read lock while they hand the message to each subscription.
type topic struct {
	name string
	mu   sync.RWMutex
	subs []*Subscription
	dead bool // removed from its shard; add there again
}

func newTopics() *topics {
	t := &topics{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*topic)
	}
	return t
}

func (t *topics) shard(name string) *topicShard {
	return &t.shards[maphash.String(t.seed, name)%topicShards]
}

// get returns the topic, or nil when it has no subscribers.
func (t *topics) get(name string) *topic {
	sh := t.shard(name)
	sh.mu.RLock()
	tp := sh.m[name]
	sh.mu.RUnlock()
	return tp
}

// add puts s in its topic, creating the topic if needed.
func (t *topics) add(s *Subscription) {
	sh := t.shard(s.topic)
	for {
		sh.mu.Lock()
		tp := sh.m[s.topic]
		if tp == nil {
			tp = &topic{name: s.topic}
			sh.m[s.topic] = tp
		}
		sh.mu.Unlock()
		tp.mu.Lock()
		if tp.dead {
			tp.mu.Unlock()
			continue
		}
		s.index = len(tp.subs)
		tp.subs = append(tp.subs, s)
		tp.mu.Unlock()
		return
	}
}

// remove takes s out of its topic (if it is there) and drops the topic when
// it was the last one.
func (t *topics) remove(s *Subscription) {
	tp := t.get(s.topic)
	if tp == nil {
		return
	}
	tp.mu.Lock()
	i := s.index
	if i < 0 || i >= len(tp.subs) || tp.subs[i] != s {
		tp.mu.Unlock()
		return
	}
	last := len(tp.subs) - 1
	tp.subs[i] = tp.subs[last]
	tp.subs[i].index = i
	tp.subs[last] = nil
	tp.subs = tp.subs[:last]
	s.index = -1
	empty := len(tp.subs) == 0
	if cap(tp.subs) > 64 && len(tp.subs) < cap(tp.subs)/4 {
		tp.subs = append([]*Subscription(nil), tp.subs...)
	}
	tp.mu.Unlock()
	if !empty {
		return
	}
	sh := t.shard(s.topic)
	sh.mu.Lock()
	tp.mu.Lock()
	if len(tp.subs) == 0 && sh.m[s.topic] == tp {
		tp.dead = true
		delete(sh.m, s.topic)
	}
	tp.mu.Unlock()
	sh.mu.Unlock()
}

// count returns the number of subscriptions of a topic.
func (t *topics) count(name string) int {
	tp := t.get(name)
	if tp == nil {
		return 0
	}
	tp.mu.RLock()
	defer tp.mu.RUnlock()
	return len(tp.subs)
}

// names returns the topics that have subscribers.
func (t *topics) names() []string {
	var out []string
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		for name := range sh.m {
			out = append(out, name)
		}
		sh.mu.RUnlock()
	}
	return out
}

// all returns every subscription.
func (t *topics) all() []*Subscription {
	var out []*Subscription
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		tps := make([]*topic, 0, len(sh.m))
		for _, tp := range sh.m {
			tps = append(tps, tp)
		}
		sh.mu.RUnlock()
		for _, tp := range tps {
			tp.mu.RLock()
			out = append(out, tp.subs...)
			tp.mu.RUnlock()
		}
	}
	return out
}

package names

import (
	"sync"

	"github.com/grovedev/grove/internal/ownermap"
	"github.com/grovedev/grove/proc"
)

// EventKind says how this node's view of a key changed.
type EventKind int

// Kinds of events.
const (
	// Registered: the entry became visible (registered here or elsewhere,
	// or its node came back, or it won a conflict in this view).
	Registered EventKind = iota + 1
	// Updated: a visible entry's value changed.
	Updated
	// Unregistered: the entry left the view; Reason says why.
	Unregistered
)

func (k EventKind) String() string {
	switch k {
	case Registered:
		return "registered"
	case Updated:
		return "updated"
	case Unregistered:
		return "unregistered"
	}
	return "unknown"
}

// Reason says why an entry left the view.
type Reason int

// Reasons.
const (
	ReasonNone         Reason = iota
	ReasonUnregistered        // Unregister on its node
	ReasonExited              // its process exited
	ReasonConflict            // it lost a conflict (or a resolver removed it)
	ReasonHandoff             // replaced by its handed-off successor
	ReasonNodeDown            // its node was declared dead, left, or restarted
	ReasonShadowed            // a contender that wins now holds the key in this view
)

func (r Reason) String() string { return ownermap.Reason(r).String() }

// Event is one change of this node's view: of the winner of each key in a
// unique registry, of every entry in a duplicate one.
type Event struct {
	Kind   EventKind
	Entry  Entry
	Reason Reason // for Unregistered
}

// Subscribe calls fn with every change of this node's view from now on,
// in order, on a goroutine of the subscription, never concurrently with
// itself; a slow fn delays only its own subscription. cancel may be called
// more than once; it does not wait for a call of fn in progress.
func (r *Registry) Subscribe(fn func(Event)) (cancel func()) { return r.subs.add(fn) }

// SubscribeProcess sends every change (an Event, to HandleInfo) to pid
// until cancel is called or pid exits.
func (r *Registry) SubscribeProcess(pid proc.PID) (cancel func()) {
	stop := r.subs.add(func(e Event) {
		// A refusal by a process that exited is the watch's business.
		_ = r.rt.Send(pid, e)
	})
	unwatch := r.rt.Watch(pid, func(proc.PID, error) { stop() })
	return func() {
		stop()
		unwatch()
	}
}

func (r *Registry) events(evs []ownermap.Event) {
	out := make([]Event, 0, len(evs))
	for _, e := range evs {
		var k EventKind
		switch e.Kind {
		case ownermap.Added:
			k = Registered
		case ownermap.Updated:
			k = Updated
		case ownermap.Removed:
			k = Unregistered
		}
		out = append(out, Event{Kind: k, Entry: fromInternal(e.Entry), Reason: Reason(e.Reason)})
	}
	r.subs.push(out)
}

// subscribers fans events out, each subscription on its own goroutine.
type subscribers struct {
	mu     sync.Mutex
	next   int
	subs   map[int]*subscription
	closed bool
}

type subscription struct {
	fn   func(Event)
	wake chan struct{}
	quit chan struct{}
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	q    []Event
}

func (s *subscribers) add(fn func(Event)) func() {
	sub := &subscription{fn: fn, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return func() {}
	}
	if s.subs == nil {
		s.subs = map[int]*subscription{}
	}
	id := s.next
	s.next++
	s.subs[id] = sub
	s.mu.Unlock()
	go sub.run()
	return func() {
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
		sub.stop()
	}
}

func (s *subscribers) push(evs []Event) {
	if len(evs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		sub.mu.Lock()
		sub.q = append(sub.q, evs...)
		sub.mu.Unlock()
		select {
		case sub.wake <- struct{}{}:
		default:
		}
	}
}

func (s *subscribers) closeAll() {
	s.mu.Lock()
	s.closed = true
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	for _, sub := range subs {
		sub.stop()
		<-sub.done
	}
}

func (sub *subscription) stop() { sub.once.Do(func() { close(sub.quit) }) }

func (sub *subscription) run() {
	defer close(sub.done)
	for {
		select {
		case <-sub.quit:
			return
		case <-sub.wake:
		}
		sub.mu.Lock()
		q := sub.q
		sub.q = nil
		sub.mu.Unlock()
		for _, e := range q {
			select {
			case <-sub.quit:
				return
			default:
			}
			sub.fn(e)
		}
	}
}

package replica

import (
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Kind is the kind of a change event.
type Kind int

// The kinds of change events.
const (
	// Changed: the value of a replica that is not a map or set changed.
	Changed Kind = iota + 1
	// Added: a key (Map) or element (Set) appeared.
	Added
	// Updated: the value of a key of a Map changed.
	Updated
	// Removed: a key or element disappeared.
	Removed
)

// String returns the name of k.
func (k Kind) String() string {
	switch k {
	case Changed:
		return "changed"
	case Added:
		return "added"
	case Updated:
		return "updated"
	case Removed:
		return "removed"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Event is a change of a replica's value, local or from a peer.
type Event struct {
	// Replica is the replica's name.
	Replica string
	Kind    Kind
	// Key is the key (Map, of type K) or element (Set, of type E); nil for
	// Changed.
	Key any
	// Value is the new value: of the key for Added and Updated on a Map,
	// the counter's value (int64) for Counter, nil otherwise.
	Value any
}

// String formats e for logs.
func (e Event) String() string {
	return fmt.Sprintf("%s %s %v=%v", e.Replica, e.Kind, e.Key, e.Value)
}

// differ computes the events of a change, called with the replica's lock
// held, only while there are subscribers; reset re-bases it on the current
// state without events (on the first subscription).
type differ interface {
	diff() []Event
	reset()
}

// dispatcher delivers events to subscribers, in order, on its own
// goroutine.
type dispatcher struct {
	mu struct {
		sync.Mutex
		queue  []Event
		subs   map[uint64]func(Event)
		nextID uint64
		closed bool
	}
	wake chan struct{}
	done chan struct{}
}

func newDispatcher() *dispatcher {
	d := &dispatcher{wake: make(chan struct{}, 1), done: make(chan struct{})}
	d.mu.subs = map[uint64]func(Event){}
	return d
}

// subscribed reports whether anybody listens.
func (d *dispatcher) subscribed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.mu.subs) > 0
}

// add registers fn and returns its cancel, and whether it was the first.
func (d *dispatcher) add(fn func(Event)) (cancel func(), first bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := d.mu.nextID
	d.mu.nextID++
	first = len(d.mu.subs) == 0
	d.mu.subs[id] = fn
	return onceFunc(func() {
		d.mu.Lock()
		delete(d.mu.subs, id)
		d.mu.Unlock()
	}), first
}

// push queues events for delivery.
func (d *dispatcher) push(evs []Event) {
	if len(evs) == 0 {
		return
	}
	d.mu.Lock()
	if !d.mu.closed {
		d.mu.queue = append(d.mu.queue, evs...)
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// run delivers events until stop is closed.
func (d *dispatcher) run(stop <-chan struct{}) {
	defer close(d.done)
	for {
		select {
		case <-stop:
			d.mu.Lock()
			d.mu.closed, d.mu.queue = true, nil
			d.mu.Unlock()
			return
		case <-d.wake:
		}
		for {
			d.mu.Lock()
			evs := d.mu.queue
			d.mu.queue = nil
			subs := make([]func(Event), 0, len(d.mu.subs))
			for _, id := range slices.Sorted(maps.Keys(d.mu.subs)) { // in subscription order
				subs = append(subs, d.mu.subs[id])
			}
			d.mu.Unlock()
			if len(evs) == 0 {
				break
			}
			for _, e := range evs {
				for _, fn := range subs {
					fn(e)
				}
			}
		}
	}
}

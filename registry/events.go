package registry

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/grovedev/grove/proc"
)

// Event is a change of a registry, delivered to its listeners: a Registered
// or an Unregistered value.
type Event interface {
	isEvent()
}

// Registered is sent to listeners when a process registers a key.
type Registered struct {
	Registry *Registry
	Key      any
	PID      proc.PID
	Value    any
}

// Unregistered is sent to listeners when an entry is removed, once per entry:
// every Registered is followed, eventually, by exactly one Unregistered for
// the same entry.
type Unregistered struct {
	Registry *Registry
	Key      any
	PID      proc.PID
	Value    any   // the value the entry held when it was removed
	Reason   error // nil for Unregister and UnregisterMatch; the exit reason when the process exited
}

func (Registered) isEvent()   {}
func (Unregistered) isEvent() {}

// events orders and delivers the events of a registry with listeners.
//
// Writers queue events while they hold the lock of the partition they
// change, which puts the events of every key in the order the changes took
// effect. After releasing its locks, a writer delivers the queue: deliverMu
// lets one goroutine at a time take and deliver queued events, in queue
// order, so all listeners see one total order. A writer returns only after
// its own events were delivered, by itself or by the goroutine that took
// them.
//
// Lock order: partition.mu, then events.mu; deliverMu, then events.mu.
type events struct {
	on        bool // the registry has listeners; immutable
	listeners []proc.PID
	callbacks []func(Event)
	deliverMu sync.Mutex
	mu        struct {
		sync.Mutex
		q []Event
	}
}

// queueLocked appends ev. The caller holds the lock of the partition that
// changed.
func (e *events) queueLocked(ev Event) {
	e.mu.Lock()
	e.mu.q = append(e.mu.q, ev)
	e.mu.Unlock()
}

// deliver hands every queued event to the listeners.
func (e *events) deliver(rt *proc.Runtime) {
	if !e.on {
		return
	}
	e.deliverMu.Lock()
	defer e.deliverMu.Unlock()
	for {
		e.mu.Lock()
		q := e.mu.q
		e.mu.q = nil
		e.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, ev := range q {
			for _, cb := range e.callbacks {
				callback(rt, cb, ev)
			}
			for _, l := range e.listeners {
				if err := rt.Send(l, ev); err != nil {
					level := slog.LevelWarn
					if errors.Is(err, proc.ErrNotAlive) {
						level = slog.LevelDebug
					}
					rt.Logger().Log(context.Background(), level, "registry: listener missed an event",
						slog.String("listener", l.String()), slog.Any("error", err))
				}
			}
		}
	}
}

// callback calls cb, turning a panic into a logged error: a callback runs
// on the goroutine of a change, which may be an exiting process's, and must
// not take it down.
func callback(rt *proc.Runtime, cb func(Event), ev Event) {
	defer func() {
		if v := recover(); v != nil {
			rt.Logger().Error("registry: event callback panicked", slog.Any("panic", v))
		}
	}()
	cb(ev)
}

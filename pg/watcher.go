package pg

import (
	"log/slog"
	"runtime/debug"
	"sync"
)

// watcher runs a Watch function over its events, in order, on a goroutine
// that exists while events wait.
type watcher struct {
	s  *Scope
	fn func(Event)
	mu struct {
		sync.Mutex
		queue   []Event
		running bool
		stopped bool
	}
}

func newWatcher(s *Scope, fn func(Event)) *watcher { return &watcher{s: s, fn: fn} }

// push queues an event; called with the scope's lock held, which orders
// the events of every watcher.
func (w *watcher) push(e Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.stopped {
		return
	}
	w.mu.queue = append(w.mu.queue, e)
	if !w.mu.running {
		w.mu.running = true
		w.s.wg.Add(1)
		go w.run()
	}
}

func (w *watcher) run() {
	defer w.s.wg.Done()
	for {
		w.mu.Lock()
		if len(w.mu.queue) == 0 || w.mu.stopped {
			w.mu.running = false
			w.mu.queue = nil
			w.mu.Unlock()
			return
		}
		e := w.mu.queue[0]
		w.mu.queue = w.mu.queue[1:]
		w.mu.Unlock()
		w.call(e)
	}
}

func (w *watcher) call(e Event) {
	defer func() {
		if r := recover(); r != nil {
			w.s.log.Error("pg: watch function panicked", slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
		}
	}()
	w.fn(e)
}

// stop drops the events not yet handled; a call in progress finishes.
func (w *watcher) stop() {
	w.mu.Lock()
	w.mu.stopped = true
	w.mu.queue = nil
	w.mu.Unlock()
}

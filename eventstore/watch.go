package eventstore

import "sync"

// Watchers is the change signal that stores give out through Watch: a set
// of channels of capacity one, each receiving a value when Notify runs and
// it holds none (so a slow watcher costs nothing and misses nothing that a
// read would not show it). The zero value is ready. Safe for concurrent
// use.
type Watchers struct {
	mu struct {
		sync.Mutex
		chans  map[*chan struct{}]struct{}
		closed bool
	}
}

// Add registers a watcher; cancel removes it and closes its channel.
// After Close, Add returns a closed channel.
func (w *Watchers) Add() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.closed {
		close(ch)
		return ch, func() {}
	}
	if w.mu.chans == nil {
		w.mu.chans = map[*chan struct{}]struct{}{}
	}
	w.mu.chans[&ch] = struct{}{}
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, ok := w.mu.chans[&ch]; ok {
			delete(w.mu.chans, &ch)
			close(ch)
		}
	}
}

// Notify signals every watcher.
func (w *Watchers) Notify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.mu.chans {
		select {
		case *ch <- struct{}{}:
		default:
		}
	}
}

// Close closes every watcher's channel; later watchers get closed ones.
func (w *Watchers) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.closed {
		return
	}
	w.mu.closed = true
	for ch := range w.mu.chans {
		close(*ch)
	}
	w.mu.chans = nil
}

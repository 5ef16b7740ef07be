package supervisor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/grovedev/grove/proc"
)

// App is the root of a node's supervision tree: a supervisor without parent
// whose children are the node's top-level trees, started in order and
// stopped in reverse order by Close.
type App struct {
	rt      *proc.Runtime
	pid     proc.PID
	done    chan struct{} // closed when the root supervisor has exited
	reason  error         // its exit reason, written before done is closed
	closing atomic.Bool
	closed  chan struct{} // closed when the first Close returns
	mu      struct {
		sync.Mutex
		err error // the first Close's result
	}
}

// StartApp starts the root supervisor for spec on rt and returns once all
// its children have started. If one fails to start, those already started
// are stopped in reverse order and StartApp returns the *StartError.
func StartApp(rt *proc.Runtime, spec Spec) (*App, error) {
	pid, err := Start(rt, spec)
	if err != nil {
		return nil, err
	}
	a := &App{rt: rt, pid: pid, done: make(chan struct{}), closed: make(chan struct{})}
	rt.Watch(pid, func(_ proc.PID, reason error) {
		a.reason = reason
		close(a.done)
	})
	return a, nil
}

// PID returns the root supervisor's PID, for the functions of this package
// (WhichChildren, StartChild...).
func (a *App) PID() proc.PID { return a.pid }

// Done returns a channel closed once the root supervisor has exited: after
// Close, or on its own when its restart intensity was exceeded.
func (a *App) Done() <-chan struct{} { return a.done }

// Err returns the root supervisor's exit reason once Done is closed (a
// proc.ShutdownError wrapping ErrMaxRestarts if it gave up, proc.ErrShutdown
// after Close), nil before.
func (a *App) Err() error {
	select {
	case <-a.done:
		return a.reason
	default:
		return nil
	}
}

// Wait waits until the root supervisor has exited and returns its reason,
// or returns ctx's error.
func (a *App) Wait(ctx context.Context) error {
	select {
	case <-a.done:
		return a.reason
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the tree: the root supervisor stops its children in reverse
// start order, each within its Shutdown timeout, and exits. If ctx ends
// first, the root is killed (its children receive the kill reason through
// their links) and Close returns ctx's error. Close is idempotent: later
// calls wait for the first one and return its result. It returns nil when
// the tree had already stopped on its own (see Err).
func (a *App) Close(ctx context.Context) error {
	if !a.closing.CompareAndSwap(false, true) {
		select {
		case <-a.closed:
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.mu.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := a.rt.Stop(ctx, a.pid, proc.ErrShutdown)
	switch {
	case err == nil, errors.Is(err, proc.ErrNotAlive):
		err = nil
	default:
		_ = a.rt.Exit(a.pid, proc.ErrKill)
	}
	<-a.done // the kill above is synchronous
	a.mu.Lock()
	a.mu.err = err
	a.mu.Unlock()
	close(a.closed)
	return err
}

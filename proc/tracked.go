package proc

import "fmt"

// Tracker is told when a message delivered with DeliverRemoteTracked
// leaves its mailbox: the distribution layer uses it to bound the memory
// that messages from other nodes hold while they wait in mailboxes.
//
// Concurrency: Release is called once per tracked message, from the
// receiving process's goroutine or from the goroutine that ends the
// process, concurrently for different processes, and must not block.
type Tracker interface {
	// Release says that a message of size bytes (the size given at
	// delivery) no longer waits: its process took it to handle it, or
	// exited with the message unhandled.
	Release(size int)
}

type trackerBox struct{ t Tracker }

// TrackRemote sets the Tracker that DeliverRemoteTracked reports to; the
// distribution layer sets it once, before delivering. Nil stops tracking
// (messages already queued are then released to nobody).
func (rt *Runtime) TrackRemote(t Tracker) {
	if t == nil {
		rt.tracker.Store(nil)
		return
	}
	rt.tracker.Store(&trackerBox{t})
}

// DeliverRemoteTracked is DeliverRemote for a message whose memory the
// runtime's Tracker accounts for: Release(size) is called once the
// process takes the message to handle it, or exits without handling it.
// It is not called when DeliverRemoteTracked returns an error. size must
// be positive and below 4 GiB; the message costs no more memory than an
// untracked one.
func (rt *Runtime) DeliverRemoteTracked(to PID, msg any, cast bool, size int) error {
	kind := kindInfo
	if cast {
		kind = kindCast
	}
	return rt.push(to, envelope{kind: kind, size: uint32(size), msg: msg})
}

// DeliverRemoteNameTracked is DeliverRemoteTracked to a registered name.
func (rt *Runtime) DeliverRemoteNameTracked(name string, msg any, cast bool, size int) error {
	p := rt.names.lookup(name)
	if p == nil {
		return fmt.Errorf("%w: %q", ErrNotRegistered, name)
	}
	kind := kindInfo
	if cast {
		kind = kindCast
	}
	return p.push(envelope{kind: kind, size: uint32(size), msg: msg})
}

// untrack releases a tracked envelope.
func (rt *Runtime) untrack(e *envelope) {
	if e.size == 0 {
		return
	}
	if b := rt.tracker.Load(); b != nil {
		b.t.Release(int(e.size))
	}
	e.size = 0
}

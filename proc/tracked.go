package proc

import "fmt"

// Tracker is told when a message delivered with DeliverRemoteTracked
// leaves the mailbox: the distribution layer uses it to bound the memory
// that messages from other nodes hold while they wait in mailboxes.
//
// Concurrency: Release is called once per tracked message, from the
// receiving process's goroutine or from the goroutine that ends the
// process, and must not block.
type Tracker interface {
	// Release says that a message of size bytes (the size given at
	// delivery) no longer waits: its process took it to handle it, or
	// exited with the message unhandled.
	Release(size int)
}

// kindTracked marks an envelope whose msg is a *tracked.
const kindTracked uint8 = 0x80

type tracked struct {
	msg  any
	t    Tracker
	size int
}

// DeliverRemoteTracked is DeliverRemote for a message whose memory the
// caller accounts for: t.Release(size) is called once the process takes
// the message to handle it, or exits without handling it. It is not called
// when DeliverRemoteTracked returns an error.
func (rt *Runtime) DeliverRemoteTracked(to PID, msg any, cast bool, t Tracker, size int) error {
	kind := kindInfo
	if cast {
		kind = kindCast
	}
	return rt.push(to, envelope{kind: kind | kindTracked, msg: &tracked{msg: msg, t: t, size: size}})
}

// DeliverRemoteNameTracked is DeliverRemoteTracked to a registered name.
func (rt *Runtime) DeliverRemoteNameTracked(name string, msg any, cast bool, t Tracker, size int) error {
	p := rt.names.lookup(name)
	if p == nil {
		return fmt.Errorf("%w: %q", ErrNotRegistered, name)
	}
	kind := kindInfo
	if cast {
		kind = kindCast
	}
	return p.push(envelope{kind: kind | kindTracked, msg: &tracked{msg: msg, t: t, size: size}})
}

// untrack releases a tracked envelope and returns the plain one.
func untrack(e envelope) envelope {
	if e.kind&kindTracked == 0 {
		return e
	}
	tm := e.msg.(*tracked)
	tm.t.Release(tm.size)
	return envelope{kind: e.kind &^ kindTracked, msg: tm.msg}
}

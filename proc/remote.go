package proc

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Remote carries messages, calls and signals to processes of other nodes.
// The distribution layer implements it and attaches it with
// Runtime.SetRemote; a runtime without one refuses PIDs of other nodes with
// ErrNoRoute.
//
// The runtime calls these methods from any goroutine, concurrently. Apart
// from Call and CallName, which wait for the answer until ctx is done, they
// must queue their work and return without waiting on the network. Messages
// and signals from one local process to one remote process must arrive in
// the order of the calls.
type Remote interface {
	// Send delivers msg to the remote process to, for HandleCast when cast
	// is true and HandleInfo otherwise.
	Send(from, to PID, msg any, cast bool) error
	// SendName delivers msg to the process registered as name on node.
	SendName(from PID, node, name string, msg any, cast bool) error
	// Call calls the remote process to and waits for the answer.
	Call(ctx context.Context, from, to PID, req any) (any, error)
	// CallName calls the process registered as name on node.
	CallName(ctx context.Context, from PID, node, name string, req any) (any, error)
	// Link asks the node of to to record a link between from and to.
	Link(from, to PID) error
	// Unlink removes such a link.
	Unlink(from, to PID)
	// Exit delivers an exit signal; viaLink tells a linked process's exit
	// from an explicit Exit call.
	Exit(from, to PID, reason error, viaLink bool) error
	// Monitor asks the node of target to tell watcher when target exits.
	Monitor(watcher, target PID, ref Ref) error
	// Demonitor cancels such a monitor.
	Demonitor(watcher, target PID, ref Ref)
	// Down tells a remote watcher that the local target exited.
	Down(watcher PID, ref Ref, target PID, reason error)
}

// NodeName is a process registered under Name on another node, like
// Erlang's {Name, Node}.
type NodeName struct {
	Node string
	Name string
}

func (NodeName) isDest() {}

func (n NodeName) String() string { return n.Name + "@" + n.Node }

type remoteBox struct{ r Remote }

// remoteHolder keeps the attached Remote.
type remoteHolder struct{ v atomic.Pointer[remoteBox] }

func (h *remoteHolder) get() Remote {
	if b := h.v.Load(); b != nil {
		return b.r
	}
	return nil
}

// SetRemote attaches the distribution layer. Call it once, before the node
// talks to others; nil detaches it.
func (rt *Runtime) SetRemote(r Remote) {
	if r == nil {
		rt.remote.v.Store(nil)
		return
	}
	rt.remote.v.Store(&remoteBox{r})
}

// isRemote reports whether pid belongs to another node.
func (rt *Runtime) isRemote(pid PID) bool { return pid.Node != rt.name && !pid.IsZero() }

// route returns the Remote for pid, or the error for a PID nobody can reach.
func (rt *Runtime) route(pid PID) (Remote, error) {
	if !rt.isRemote(pid) {
		return nil, fmt.Errorf("%w: %v", ErrNotAlive, pid)
	}
	r := rt.remote.get()
	if r == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoRoute, pid.Node)
	}
	return r, nil
}

// The methods below are the distribution layer's way in: it calls them for
// what arrives from other nodes.

// DeliverRemote delivers a message that came from another node to the local
// process to. It fails with ErrNotAlive or ErrMailboxFull like Send.
func (rt *Runtime) DeliverRemote(to PID, msg any, cast bool) error {
	kind := kindInfo
	if cast {
		kind = kindCast
	}
	return rt.push(to, envelope{kind: kind, msg: msg})
}

// DeliverRemoteName delivers a message from another node to the process
// registered as name.
func (rt *Runtime) DeliverRemoteName(name string, msg any, cast bool) error {
	p := rt.names.lookup(name)
	if p == nil {
		return fmt.Errorf("%w: %q", ErrNotRegistered, name)
	}
	kind := kindInfo
	if cast {
		kind = kindCast
	}
	return p.push(envelope{kind: kind, msg: msg})
}

// DeliverRemoteCall hands a call from the remote process caller to the
// local process to; reply is called once with the answer, from any
// goroutine. If the process is gone the error says so and reply is not
// called.
func (rt *Runtime) DeliverRemoteCall(to, caller PID, req any, reply func(any, error)) error {
	t := rt.table.get(to)
	if t == nil {
		return &ExitError{PID: to, Reason: ErrNoProc}
	}
	return rt.deliverCall(t, caller, req, reply)
}

// DeliverRemoteCallName is DeliverRemoteCall to a registered name.
func (rt *Runtime) DeliverRemoteCallName(name string, caller PID, req any, reply func(any, error)) error {
	t := rt.names.lookup(name)
	if t == nil {
		return fmt.Errorf("%w: %q", ErrNotRegistered, name)
	}
	return rt.deliverCall(t, caller, req, reply)
}

func (rt *Runtime) deliverCall(t *Process, caller PID, req any, reply func(any, error)) error {
	// The caller is on another node and cannot wait on t's exit: a watch
	// answers the call with t's exit instead, and the answer removes it.
	ref := rt.MakeRef()
	slot := &replySlot{}
	slot.remote = func(v any, err error) {
		t.removeWatcher(ref)
		reply(v, err)
	}
	w := watcher{fn: func(_ PID, reason error) {
		slot.reply(0, nil, &ExitError{PID: t.pid, Reason: reason})
	}, call: true}
	if !t.addWatcher(ref, w) {
		return &ExitError{PID: t.pid, Reason: t.exitReason()}
	}
	c := &callRequest{from: From{caller: caller, slot: slot}, req: req}
	prev, err := t.mbox.push(envelope{kind: kindCall, msg: c}, pushUser)
	if err != nil {
		if !slot.gen.CompareAndSwap(0, 1) {
			return nil // t exited meanwhile and its watch answered
		}
		t.removeWatcher(ref)
		if err == ErrNotAlive {
			return &ExitError{PID: t.pid, Reason: t.exitReason()}
		}
		return fmt.Errorf("%w: %v", err, t.pid)
	}
	t.activate(prev)
	return nil
}

// LinkFromRemote records a link between the remote process from and the
// local process to. If to is gone it returns its exit reason (ErrNoProc if
// unknown), which the caller sends back as an exit signal.
func (rt *Runtime) LinkFromRemote(from, to PID) error {
	t := rt.table.get(to)
	if t == nil {
		return ErrNoProc
	}
	if !t.addLink(from) {
		return t.exitReason()
	}
	return nil
}

// UnlinkFromRemote removes a link between a remote and a local process.
func (rt *Runtime) UnlinkFromRemote(from, to PID) {
	if t := rt.table.get(to); t != nil {
		t.removeLink(from)
	}
}

// ExitFromRemote delivers an exit signal from a remote process. A link's
// signal (viaLink) is ignored unless the link still exists.
func (rt *Runtime) ExitFromRemote(from, to PID, reason error, viaLink bool) {
	t := rt.table.get(to)
	if t == nil {
		return
	}
	if !viaLink {
		t.exitSignal(from, reason)
	} else if t.linkSignal(from, reason) {
		handleExits(t)
	}
}

// MonitorFromRemote makes the remote process w monitor the local
// target. If target is gone it returns its exit reason, which the caller
// sends back as the DOWN.
func (rt *Runtime) MonitorFromRemote(w, target PID, ref Ref) error {
	t := rt.table.get(target)
	if t == nil {
		return ErrNoProc
	}
	if !t.addWatcher(ref, watcher{pid: w}) {
		return t.exitReason()
	}
	return nil
}

// DemonitorFromRemote cancels a remote monitor of a local process.
func (rt *Runtime) DemonitorFromRemote(target PID, ref Ref) {
	if t := rt.table.get(target); t != nil {
		t.removeWatcher(ref)
	}
}

// DownFromRemote delivers the DOWN of a remote process to the local watcher
// that monitors it with ref.
func (rt *Runtime) DownFromRemote(w PID, ref Ref, target PID, reason error) {
	if t := rt.table.get(w); t != nil {
		t.deliverDown(ref, target, reason)
	}
}

// NodeDown tells every local process linked to or monitoring a process of
// node that the connection is lost: links get an exit signal and monitors
// a DOWN, both with ErrNoConnection; monitors that node's processes held
// here are dropped. It scans all local processes.
func (rt *Runtime) NodeDown(node string) {
	if node == rt.name {
		return
	}
	type down struct {
		ref    Ref
		target PID
	}
	for _, p := range rt.table.all() {
		var links []PID
		var downs []down
		p.metaMu.Lock()
		if m := p.meta; m != nil && !m.dead {
			for pid := range m.links {
				if pid.Node == node {
					links = append(links, pid)
				}
			}
			for ref, target := range m.monitors {
				if target.Node == node {
					downs = append(downs, down{ref, target})
				}
			}
			for ref, w := range m.watchers {
				if w.pid.Node == node {
					delete(m.watchers, ref)
				}
			}
		}
		p.metaMu.Unlock()
		for _, d := range downs {
			p.deliverDown(d.ref, d.target, ErrNoConnection)
		}
		for _, pid := range links {
			if p.linkSignal(pid, ErrNoConnection) {
				handleExits(p)
			}
		}
	}
}

// Package peerset finds and watches the instances of one named cluster
// service on the other nodes: the server processes that pubsub, pg and
// presence run on every node under a registered name.
//
// A Set belongs to one server process and is driven from its callbacks:
// Start from Init, Handle from HandleInfo. It says hello to the service on
// every node that connects, learns each peer's server PID from the answer,
// monitors it, and reports a Change when a peer appears, asks to be resynced
// or goes away (its process exited, its node restarted, or the link broke).
// A peer that is lost while its node stays connected (a link that broke and
// came back at once) is greeted again, so the service resynchronises.
//
// Everything a server sends to a peer server must go through Send: messages
// by name from the server process travel on one ordered lane, so a peer
// handles our hello before any state that follows it. Messages that carry
// the sender's server PID are to be applied only when Current says that PID
// is the peer's current one; anything else is stale.
package peerset

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
)

// HelloTypeName is the codec name of Hello.
const HelloTypeName = "grove.peerset.Hello"

// Hello introduces a service's server to the same service on another node.
type Hello struct {
	_ struct{} `cbor:",toarray"`
	// Service is the registered name of the service's server.
	Service string
	// PID is the sending server.
	PID proc.PID
	// Reply is set on the answer to a Hello, which is not answered again.
	Reply bool
}

// RegisterTypes registers Hello in r unless it is there already.
func RegisterTypes(r *codec.Registry) error {
	return Ensure[Hello](r, HelloTypeName)
}

// Ensure registers T under name in r unless name is registered already
// (by an earlier call for the same type).
func Ensure[T any](r *codec.Registry, name string) error {
	if _, ok := r.Name(codec.TypeID(name)); ok {
		return nil
	}
	return codec.Register[T](r, name)
}

// Peer is the server of the service on another node.
type Peer struct {
	Node string
	PID  proc.PID
	ref  proc.Ref
}

// Change reports a peer that came up (new, restarted, or asking for a
// resync: Up) or went away (Up false, with the exit reason of its monitor).
type Change struct {
	Up     bool
	Peer   Peer
	Reason error
}

// Set is the peers of one service as its server process sees them. Only
// Peers and Len may be called from other goroutines; every other method
// must be called from the owning process's callbacks.
type Set struct {
	service string
	nd      *node.Node
	self    proc.PID
	peers   map[string]*Peer
	snap    atomic.Pointer[[]Peer]
}

// New returns the set of service's peers as seen through nd. A nil nd gives
// a set that never has peers (a service running on one node).
func New(nd *node.Node, service string) *Set {
	s := &Set{service: service, nd: nd, peers: make(map[string]*Peer)}
	s.snap.Store(&[]Peer{})
	return s
}

// Start must be called from the server's Init: it subscribes the process to
// node events and greets every connected node.
func (s *Set) Start(p *proc.Process) {
	s.self = p.Self()
	if s.nd == nil {
		return
	}
	s.nd.MonitorNodes(p.Self())
	for _, n := range s.nd.Nodes() {
		s.hello(p, n, false)
	}
}

// Send sends msg to the service's server on node, by name from p, on the
// lane every message of this server to that node takes.
func (s *Set) Send(p *proc.Process, node string, msg any) error {
	return p.SendTo(proc.NodeName{Node: node, Name: s.service}, msg)
}

// Resync greets the peer on node again, which makes it send its state anew
// (it reports the greeting as a Change with Up set): for a service that
// found a gap in what the peer sent.
func (s *Set) Resync(p *proc.Process, node string) { s.hello(p, node, false) }

func (s *Set) hello(p *proc.Process, node string, reply bool) {
	// A node without the service refuses the message; the node counts it.
	_ = s.Send(p, node, Hello{Service: s.service, PID: s.self, Reply: reply})
}

// Handle handles a message that belongs to the set: node events, Hello, and
// the DOWN of a peer's monitor. It reports whether msg was one, and the
// changes it caused, in order.
func (s *Set) Handle(p *proc.Process, msg any) ([]Change, bool) {
	switch m := msg.(type) {
	case node.NodeUp:
		s.hello(p, m.Node, false)
		return nil, true
	case node.NodeDown:
		// The monitors of the node's peers fire on their own.
		return nil, true
	case Hello:
		if m.Service != s.service || m.PID.IsZero() || m.PID.Node == s.self.Node {
			return nil, true
		}
		return s.handleHello(p, m), true
	case proc.Down:
		for name, pr := range s.peers {
			if pr.ref == m.Ref {
				delete(s.peers, name)
				s.publish()
				out := []Change{{Up: false, Peer: *pr, Reason: m.Reason}}
				if s.connected(name) {
					// The link is back already (or never went): greet again so
					// that both sides resynchronise.
					s.hello(p, name, false)
				}
				return out, true
			}
		}
		return nil, false
	}
	return nil, false
}

func (s *Set) handleHello(p *proc.Process, m Hello) []Change {
	name := m.PID.Node
	var out []Change
	cur := s.peers[name]
	if cur != nil && cur.PID != m.PID {
		// The peer restarted (its node or its server): the old one is gone.
		p.Demonitor(cur.ref)
		delete(s.peers, name)
		out = append(out, Change{Up: false, Peer: *cur, Reason: proc.ErrNoProc})
		cur = nil
	}
	if !m.Reply {
		// Answer before the service sends anything else, so that the peer
		// knows us when our state arrives.
		s.hello(p, name, true)
	}
	if cur == nil {
		pr := &Peer{Node: name, PID: m.PID}
		s.peers[name] = pr
		pr.ref = p.Monitor(m.PID)
		s.publish()
		return append(out, Change{Up: true, Peer: *pr})
	}
	if !m.Reply {
		// A known peer greeting us again lost our state: resend it.
		out = append(out, Change{Up: true, Peer: *cur})
	}
	return out
}

func (s *Set) connected(name string) bool {
	_, ok := slices.BinarySearch(s.nd.Nodes(), name)
	return ok
}

func (s *Set) publish() {
	out := make([]Peer, 0, len(s.peers))
	for _, p := range s.peers {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Peer) int {
		if a.Node < b.Node {
			return -1
		}
		if a.Node > b.Node {
			return 1
		}
		return 0
	})
	s.snap.Store(&out)
}

// Current reports whether pid is the current server of its node.
func (s *Set) Current(pid proc.PID) bool {
	pr := s.peers[pid.Node]
	return pr != nil && pr.PID == pid
}

// Peers returns the known peers sorted by node, without locking. The slice
// is shared: do not modify it.
func (s *Set) Peers() []Peer { return *s.snap.Load() }

// Len returns the number of known peers.
func (s *Set) Len() int { return len(*s.snap.Load()) }

// Stop stops a service's server process and waits for it, for at most
// five seconds. A server that is gone already (by itself, or with its
// runtime) is not an error.
func Stop(rt *proc.Runtime, pid proc.PID) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := rt.Stop(ctx, pid, proc.ErrShutdown)
	var exitErr *proc.ExitError
	if errors.As(err, &exitErr) || errors.Is(err, proc.ErrNotAlive) || errors.Is(err, proc.ErrRuntimeClosed) {
		return nil
	}
	return err
}

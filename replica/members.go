package replica

import (
	"sync"

	"github.com/grovedev/grove/node"
)

// Members tells a Replica which nodes hold it. A cluster membership service
// implements it; NodeMembers is the default over a node's connections.
//
// Members may be called from any goroutine and must not block. The callback
// given to OnChange may run on any goroutine, must not block, and only tells
// that the set may have changed: the replica reads Members again.
type Members interface {
	// Members returns the names of the nodes that should hold the
	// replica. This node may be included; it is ignored.
	Members() []string
	// OnChange calls fn whenever the member set may have changed, until
	// cancel is called.
	OnChange(fn func()) (cancel func())
}

// nodeMembers is Members over a node's connected nodes.
type nodeMembers struct {
	n *node.Node
}

var _ Members = (*nodeMembers)(nil)

// NodeMembers returns the Members of every node n is connected to, changing
// on nodeup and nodedown.
func NodeMembers(n *node.Node) Members { return &nodeMembers{n: n} }

// Members returns n.Nodes().
func (m *nodeMembers) Members() []string { return m.n.Nodes() }

// OnChange calls fn on every node event.
func (m *nodeMembers) OnChange(fn func()) (cancel func()) {
	return m.n.Subscribe(func(node.Event) { fn() })
}

// StaticMembers is a fixed member set, for tests and for replicas kept on a
// chosen group of nodes.
type StaticMembers []string

var _ Members = StaticMembers(nil)

// Members returns the set.
func (s StaticMembers) Members() []string { return append([]string(nil), s...) }

// OnChange never calls fn: the set does not change.
func (s StaticMembers) OnChange(fn func()) (cancel func()) { return func() {} }

// onceFunc wraps cancel so that calling it twice is harmless.
func onceFunc(f func()) func() {
	var once sync.Once
	return func() { once.Do(f) }
}

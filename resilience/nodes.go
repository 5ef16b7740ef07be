package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
)

// NodeClassifier counts, for a breaker in front of a remote node, the
// errors that say the node is unreachable or overloaded as failures: lost
// or impossible connections (proc.ErrNoConnection, node.ErrUnknownNode),
// timeouts (context.DeadlineExceeded) and full mailboxes
// (proc.ErrMailboxFull). The caller's own cancellation counts as nothing.
// Every other error means the node answered — a function that failed, a
// process that exited, a name not registered — and counts as a success.
func NodeClassifier(err error) Outcome {
	switch {
	case err == nil:
		return Success
	case errors.Is(err, context.Canceled), errors.Is(err, node.ErrClosed):
		return Ignore
	case errors.Is(err, proc.ErrNoConnection), errors.Is(err, node.ErrUnknownNode),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, proc.ErrMailboxFull):
		return Failure
	}
	return Success
}

// NodeBreakers keeps one circuit breaker per remote node in front of the
// calls and RPCs of a node.Node: after a node failed too often, calls to
// it fail fast with an error wrapping ErrOpen instead of waiting for a
// timeout, until trial calls find it well again. Calls to this node's own
// processes do not go through a breaker. Safe for concurrent use.
type NodeBreakers struct {
	n        *node.Node
	cfg      BreakerConfig
	onChange func(node string, from, to State)
	mu       struct {
		sync.Mutex
		m map[string]*Breaker
	}
}

// NodeBreakersConfig tunes NodeBreakers.
type NodeBreakersConfig struct {
	// Breaker configures each node's breaker. Its Classify defaults to
	// NodeClassifier; its OnStateChange is not used (see below).
	Breaker BreakerConfig
	// OnStateChange, if not nil, is told of every breaker's changes of
	// state with the node's name, under the rules of
	// BreakerConfig.OnStateChange.
	OnStateChange func(node string, from, to State)
}

// Validate reports a configuration that cannot work.
func (c NodeBreakersConfig) Validate() error { return c.Breaker.Validate() }

// NewNodeBreakers returns the breakers of n's remote nodes, each made as
// its first call needs it. A breaker lives until Forget: forget the nodes
// that left the cluster for good.
func NewNodeBreakers(n *node.Node, cfg NodeBreakersConfig) (*NodeBreakers, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bc := cfg.Breaker
	if bc.Classify == nil {
		bc.Classify = NodeClassifier
	}
	bc.OnStateChange = nil
	nb := &NodeBreakers{n: n, cfg: bc, onChange: cfg.OnStateChange}
	nb.mu.m = map[string]*Breaker{}
	return nb, nil
}

// Breaker returns the breaker of node, made on first use.
func (nb *NodeBreakers) Breaker(node string) *Breaker {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	b := nb.mu.m[node]
	if b == nil {
		cfg := nb.cfg
		if nb.onChange != nil {
			cfg.OnStateChange = func(from, to State) { nb.onChange(node, from, to) }
		}
		b, _ = NewBreaker(cfg) // validated by NewNodeBreakers
		nb.mu.m[node] = b
	}
	return b
}

// Forget drops the breaker of node, for a node that left the cluster.
func (nb *NodeBreakers) Forget(node string) {
	nb.mu.Lock()
	delete(nb.mu.m, node)
	nb.mu.Unlock()
}

// Stats returns a snapshot of every breaker, by node.
func (nb *NodeBreakers) Stats() map[string]BreakerStats {
	nb.mu.Lock()
	bs := make(map[string]*Breaker, len(nb.mu.m))
	for k, b := range nb.mu.m {
		bs[k] = b
	}
	nb.mu.Unlock()
	out := make(map[string]BreakerStats, len(bs))
	for k, b := range bs {
		out[k] = b.Stats()
	}
	return out
}

// through runs f behind the breaker of remote (none for "").
func (nb *NodeBreakers) through(remote string, f func() (any, error)) (any, error) {
	if remote == "" || remote == nb.n.Name() {
		return f()
	}
	b := nb.Breaker(remote)
	done, err := b.Allow()
	if err != nil {
		return nil, fmt.Errorf("%w: node %s", err, remote)
	}
	var v any
	err = b.run(done, func() (err error) { v, err = f(); return err })
	return v, err
}

// Call calls to, as proc.Runtime.CallTo, behind the breaker of its node
// when that node is remote (a PID or a proc.NodeName of another node).
func (nb *NodeBreakers) Call(ctx context.Context, to proc.Dest, req any) (any, error) {
	return nb.through(nodeOf(to), func() (any, error) { return nb.n.Runtime().CallTo(ctx, to, req) })
}

// RPC calls function fn on node, as node.Node.RPC, behind node's breaker.
func (nb *NodeBreakers) RPC(ctx context.Context, node, fn string, arg any) (any, error) {
	return nb.through(node, func() (any, error) { return nb.n.RPC(ctx, node, fn, arg) })
}

// nodeOf returns the node a destination lives on, "" for local names.
func nodeOf(to proc.Dest) string {
	switch d := to.(type) {
	case proc.PID:
		return d.Node
	case proc.NodeName:
		return d.Node
	}
	return ""
}

// Call is NodeBreakers.Call with the answer converted to R, as proc.Call.
func Call[R any](ctx context.Context, nb *NodeBreakers, to proc.Dest, req any) (R, error) {
	return as[R](nb.Call(ctx, to, req))
}

// RPC is NodeBreakers.RPC with the result converted to R.
func RPC[R any](ctx context.Context, nb *NodeBreakers, node, fn string, arg any) (R, error) {
	return as[R](nb.RPC(ctx, node, fn, arg))
}

func as[R any](v any, err error) (R, error) {
	var zero R
	if err != nil || v == nil {
		return zero, err
	}
	r, ok := v.(R)
	if !ok {
		return zero, fmt.Errorf("resilience: answer of type %T, want %T", v, zero)
	}
	return r, nil
}

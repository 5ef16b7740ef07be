package node

import (
	"context"
	"fmt"

	"github.com/grovedev/grove/proc"
)

// SendNameContext sends msg from the process from (zero for none) to the
// process registered as name on node, as proc.Runtime.SendTo does with a
// proc.NodeName, on the same lane (so it stays in order with from's other
// sends to name), but gives up with ctx's error when ctx ends while the
// peer's flow control holds the link back. Nothing was sent then. Reaching
// a node that is not connected yet is bounded by Config.ConnectTimeout.
func (n *Node) SendNameContext(ctx context.Context, from proc.PID, node, name string, msg any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if node == n.cfg.Name {
		return n.rt.SendTo(proc.Name(name), msg)
	}
	p, err := n.connected(node)
	if err != nil {
		return err
	}
	if err := p.waitFlowContext(ctx); err != nil {
		return err
	}
	return p.send(kindSendName, 0, laneName(from, name), func(b []byte) []byte {
		return appendString(appendPID(b, from), name)
	}, msg, true)
}

// waitFlowContext is waitFlow that also ends with ctx.
func (p *peer) waitFlowContext(ctx context.Context) error {
	if !p.out.held.Load() {
		return nil
	}
	p.out.mu.Lock()
	ch := p.out.ch
	p.out.mu.Unlock()
	if ch == nil {
		return nil
	}
	p.n.stats.SendsHeld.Add(1)
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.down:
		return fmt.Errorf("%w: %s: link lost while held back", proc.ErrNoConnection, p.name)
	case <-p.n.ctx.Done():
		return fmt.Errorf("%w: %w", proc.ErrNoConnection, ErrClosed)
	}
}

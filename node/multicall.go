package node

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/proc"
)

// Reply is one node's answer to MultiCall: the value and error that the
// process registered under the name returned from its HandleCall.
type Reply[R any] struct {
	Node  string
	Value R
	Err   error // the server's own error, when it answered with one
}

// BadNode is a node that gave no answer, with the reason.
type BadNode struct {
	Node string
	Err  error
}

// MultiCallResult is the outcome of MultiCall, as OTP's {Replies,
// BadNodes}: every node asked is in exactly one of the two lists, each in
// the order the nodes were given.
type MultiCallResult[R any] struct {
	Replies []Reply[R]
	Bad     []BadNode
}

// ErrBadReply is wrapped by the BadNode error of a node whose server
// answered MultiCall with a value of another type than asked for.
var ErrBadReply = errors.New("node: reply of an unexpected type")

// MultiCall calls the process registered as name on every node in nodes at
// once, as gen_server:multi_call, and waits until all have answered or ctx
// is done; this node may be among them, and a node given twice is called
// once. A node is bad when no server answered: it cannot be reached (an
// error wrapping proc.ErrNoConnection or ErrUnknownNode, also when the link
// breaks or is cut by a partition during the call), nothing is registered
// under name there (proc.ErrNotRegistered), the server exited before
// answering (*proc.ExitError), its mailbox refused the call
// (proc.ErrMailboxFull), the request or the answer could not be encoded
// or decoded, or ctx ended first (ctx's error; the server may still have
// handled the call). A server that answered with an error is a Reply with
// that Err.
//
// MultiCall returns when ctx is done even if a node is still being dialed;
// that attempt ends within ConnectTimeout and sends nothing.
func (n *Node) MultiCall(ctx context.Context, nodes []string, name string, req any) MultiCallResult[any] {
	return MultiCall[any](ctx, n, nodes, name, req)
}

// MultiCall is Node.MultiCall with the answers converted to R. A nil
// answer gives R's zero value; an answer of another type makes the node
// bad with an error wrapping ErrBadReply.
func MultiCall[R any](ctx context.Context, n *Node, nodes []string, name string, req any) MultiCallResult[R] {
	nodes = distinct(nodes)
	type answer struct {
		v    any
		err  error
		done bool
	}
	answers := make([]answer, len(nodes))
	type result struct {
		i   int
		v   any
		err error
	}
	results := make(chan result, len(nodes)) // never blocks a late caller
	left := 0
	for i, node := range nodes {
		started := n.goIfOpen(func() {
			// As gen_server:multi_call, wait for as long as ctx allows:
			// not the runtime's default call timeout.
			v, err := n.rt.CallTo(proc.WithoutTimeout(ctx), proc.NodeName{Node: node, Name: name}, req)
			results <- result{i, v, err}
		})
		if !started {
			answers[i] = answer{err: ErrClosed, done: true}
			continue
		}
		left++
	}
wait:
	for ; left > 0; left-- {
		select {
		case r := <-results:
			answers[r.i] = answer{v: r.v, err: r.err, done: true}
		case <-ctx.Done():
			break wait
		}
	}

	var out MultiCallResult[R]
	for i, node := range nodes {
		a := answers[i]
		switch {
		case !a.done:
			out.Bad = append(out.Bad, BadNode{Node: node, Err: ctx.Err()})
		case a.err != nil && noAnswer(a.err):
			out.Bad = append(out.Bad, BadNode{Node: node, Err: a.err})
		default:
			var r R
			if a.v != nil {
				var ok bool
				if r, ok = a.v.(R); !ok {
					out.Bad = append(out.Bad, BadNode{Node: node, Err: fmt.Errorf("%w: %s answered %T, want %T", ErrBadReply, node, a.v, r)})
					continue
				}
			}
			out.Replies = append(out.Replies, Reply[R]{Node: node, Value: r, Err: a.err})
		}
	}
	return out
}

// noAnswer reports an error of a call that no server answered, as opposed
// to an error a server returned.
func noAnswer(err error) bool {
	var exit *proc.ExitError
	for _, sentinel := range []error{
		proc.ErrNoConnection, ErrUnknownNode, ErrClosed, ErrStaleIncarnation, ErrSelf,
		proc.ErrNotRegistered, proc.ErrMailboxFull, proc.ErrNoRoute, proc.ErrRuntimeClosed,
		context.DeadlineExceeded, context.Canceled,
		codec.ErrUnregistered, codec.ErrMalformed, codec.ErrLimit,
	} {
		if errors.Is(err, sentinel) {
			return true
		}
	}
	return errors.As(err, &exit)
}

// ABCast casts msg to the process registered as name on every node in
// nodes, as gen_server:abcast, without waiting for anything but the sends:
// it returns once each cast is queued on its link (or given to the local
// process) — after waiting, like any cast, while the peer's flow control
// holds the link back — and reports the nodes it could not send to, with why: not
// reachable within ConnectTimeout, or ctx ended while connecting or held
// back (the cast was then not sent, and never will be), the message could not be encoded, or, for
// this node, nothing registered under name or a full mailbox. A node given
// twice is cast to once.
//
// As in Erlang, a cast that was sent is not confirmed: the receiving node
// counts one that finds nobody under the name (Stats.DeliveryFailures),
// and one in flight when the link breaks is lost. Call (MultiCall) to know.
func (n *Node) ABCast(ctx context.Context, nodes []string, name string, msg any) []BadNode {
	nodes = distinct(nodes)
	errs := make([]error, len(nodes))
	// Each remote cast is claimed by its sender once connected, or by the
	// waiter when ctx ends first: a cast reported unsent is never sent.
	const (
		pending int32 = iota
		sending
		abandoned
	)
	states := make([]atomic.Int32, len(nodes))
	type sent struct {
		i   int
		err error
	}
	results := make(chan sent, len(nodes)) // never blocks a sender
	remote := 0
	for i, node := range nodes {
		if node == n.cfg.Name {
			errs[i] = n.rt.Cast(proc.Name(name), msg)
			continue
		}
		started := n.goIfOpen(func() {
			p, err := n.connected(node)
			if err == nil {
				// A cast obeys the peer's flow control like any other:
				// held back while the peer's link is paused.
				err = p.waitFlow()
			}
			if !states[i].CompareAndSwap(pending, sending) {
				return // abandoned: ctx ended first
			}
			if err == nil {
				err = p.send(kindSendName, flagCast, laneName(proc.PID{}, name), func(b []byte) []byte {
					return appendString(appendPID(b, proc.PID{}), name)
				}, msg, true)
			}
			results <- sent{i, err}
		})
		if !started {
			states[i].Store(abandoned)
			errs[i] = ErrClosed
			continue
		}
		remote++
	}
	for left := remote; left > 0; left-- {
		select {
		case r := <-results:
			errs[r.i] = r.err
		case <-ctx.Done():
			for i, node := range nodes {
				if node != n.cfg.Name && states[i].CompareAndSwap(pending, abandoned) {
					errs[i] = fmt.Errorf("%w: %s: %w", proc.ErrNoConnection, node, ctx.Err())
					left--
				}
			}
			// Those being sent finish their send.
			for ; left > 0; left-- {
				r := <-results
				errs[r.i] = r.err
			}
			return badNodes(nodes, errs)
		}
	}
	return badNodes(nodes, errs)
}

func badNodes(nodes []string, errs []error) []BadNode {
	var bad []BadNode
	for i, err := range errs {
		if err != nil {
			bad = append(bad, BadNode{Node: nodes[i], Err: err})
		}
	}
	return bad
}

// goIfOpen runs f on a goroutine owned by the node, unless the node is
// closed: it reports whether f runs. Unlike goFunc it is safe from any
// goroutine at any time, also while Close runs: the check and the count
// happen under n.mu, which Close takes after marking the node closed and
// before it waits for the node's goroutines, so a goroutine started here
// is one Close waits for.
func (n *Node) goIfOpen(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed.Load() {
		return false
	}
	n.goFunc(f)
	return true
}

// distinct returns nodes without repetitions, in order of first
// appearance.
func distinct(nodes []string) []string {
	seen := make(map[string]bool, len(nodes))
	out := make([]string, 0, len(nodes))
	for _, node := range nodes {
		if !seen[node] {
			seen[node] = true
			out = append(out, node)
		}
	}
	return out
}

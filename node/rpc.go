package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/grovedev/grove/proc"
)

// Func is a function other nodes may call by name: Go cannot ship closures,
// so RPC names functions registered on the callee, like erpc's module and
// function. ctx carries the caller's deadline.
type Func func(ctx context.Context, arg any) (any, error)

// SpawnFunc builds the behaviour of a process that other nodes spawn here
// by name.
type SpawnFunc func(arg any) (proc.Behavior, error)

// RPC errors.
var (
	// ErrNoSuchFunction is the error of a call to a function name the
	// remote node has not registered.
	ErrNoSuchFunction = errors.New("node: no such function")
	// ErrNoSuchSpawnable is the error of a remote spawn of an unregistered
	// name.
	ErrNoSuchSpawnable = errors.New("node: no such spawnable")
)

// RPCError is the error of a remote function that ran and failed (returned
// an error or panicked). Node unreachable and timed out are told apart by
// errors.Is(err, proc.ErrNoConnection) and context.DeadlineExceeded.
type RPCError struct {
	Node     string
	Function string
	Err      error
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("node: %s on %s failed: %v", e.Function, e.Node, e.Err)
}

// Unwrap returns the function's error.
func (e *RPCError) Unwrap() error { return e.Err }

// Register makes fn callable by other nodes as name. Registering a name
// again replaces the function.
func (n *Node) Register(name string, fn Func) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("node: function name of %d bytes", len(name))
	}
	n.funcs.Store(name, fn)
	return nil
}

// RegisterSpawn makes a behaviour spawnable by other nodes as name.
func (n *Node) RegisterSpawn(name string, fn SpawnFunc) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("node: spawnable name of %d bytes", len(name))
	}
	n.spawners.Store(name, fn)
	return nil
}

// RPC calls function fn on node with arg and returns its result. The error
// is an *RPCError when the function failed, wraps proc.ErrNoConnection when
// the node cannot be reached (or the link broke before the answer), and is
// ctx's error on timeout. A function of this node is called directly.
func (n *Node) RPC(ctx context.Context, node, fn string, arg any) (any, error) {
	if node == n.cfg.Name {
		return n.runLocal(ctx, fn, arg)
	}
	p, err := n.connected(node)
	if err != nil {
		return nil, err
	}
	v, err := n.await(ctx, p, kindRPC, 0, func(b []byte, id uint64) []byte {
		b = binary.AppendUvarint(b, id)
		b = binary.AppendUvarint(b, uint64(timeoutOf(ctx)))
		return appendString(b, fn)
	}, arg)
	if err != nil && !isTransport(err) && !errors.Is(err, ErrNoSuchFunction) {
		err = &RPCError{Node: node, Function: fn, Err: err}
	}
	return v, err
}

// isTransport reports an error that is the caller's or the link's, not the
// remote function's.
func isTransport(err error) bool {
	return errors.Is(err, proc.ErrNoConnection) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// timeoutOf returns the time left before ctx's deadline, 0 for none.
func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Nanosecond)
	}
	return 0
}

// Cast runs function fn on node with arg without waiting, like erpc:cast:
// nothing comes back, not even the function's failure (which the remote node
// logs). The error only tells that the request could not be sent.
func (n *Node) Cast(node, fn string, arg any) error {
	if node == n.cfg.Name {
		if !n.goIfOpen(func() { n.runCast(fn, arg) }) {
			return fmt.Errorf("%w: %w", proc.ErrNoConnection, ErrClosed)
		}
		return nil
	}
	return n.send(node, kindRPC, 0, 0, func(b []byte) []byte {
		b = binary.AppendUvarint(b, 0) // call id 0: no answer wanted
		b = binary.AppendUvarint(b, 0)
		return appendString(b, fn)
	}, arg, true)
}

// runCast runs a cast function and logs its failure, which nobody waits for.
func (n *Node) runCast(fn string, arg any) {
	if _, err := n.runLocal(n.ctx, fn, arg); err != nil {
		n.log.Warn("rpc cast failed", slog.String("function", fn), slog.Any("err", err))
	}
}

// Result is one node's answer to Multicall.
type Result struct {
	Node  string
	Value any
	Err   error
}

// Multicall calls fn on every node in nodes concurrently and returns their
// answers in the same order, once all have answered or ctx is done.
func (n *Node) Multicall(ctx context.Context, nodes []string, fn string, arg any) []Result {
	out := make([]Result, len(nodes))
	done := make(chan int, len(nodes))
	for i, node := range nodes {
		out[i].Node = node
		started := n.goIfOpen(func() {
			out[i].Value, out[i].Err = n.RPC(ctx, node, fn, arg)
			done <- i
		})
		if !started {
			out[i].Err = fmt.Errorf("%w: %w", proc.ErrNoConnection, ErrClosed)
			done <- i
		}
	}
	for range nodes {
		<-done
	}
	return out
}

// Spawn starts a process on node running the behaviour registered there as
// name, built from arg, and returns its PID once its Init has returned.
func (n *Node) Spawn(ctx context.Context, node, name string, arg any) (proc.PID, error) {
	if node == n.cfg.Name {
		return n.spawnLocal(name, arg)
	}
	p, err := n.connected(node)
	if err != nil {
		return proc.PID{}, err
	}
	v, err := n.await(ctx, p, kindSpawn, 0, func(b []byte, id uint64) []byte {
		return appendString(binary.AppendUvarint(b, id), name)
	}, arg)
	if err != nil {
		return proc.PID{}, err
	}
	pid, ok := v.(proc.PID)
	if !ok {
		return proc.PID{}, fmt.Errorf("node: spawn on %s answered %T", node, v)
	}
	return pid, nil
}

func (n *Node) spawnLocal(name string, arg any) (proc.PID, error) {
	f, ok := n.spawners.Load(name)
	if !ok {
		return proc.PID{}, fmt.Errorf("%w: %q", ErrNoSuchSpawnable, name)
	}
	beh, err := f.(SpawnFunc)(arg)
	if err != nil {
		return proc.PID{}, err
	}
	return n.rt.Spawn(beh)
}

// runLocal runs a registered function, turning a panic into an error.
func (n *Node) runLocal(ctx context.Context, name string, arg any) (v any, err error) {
	f, ok := n.funcs.Load(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoSuchFunction, name)
	}
	defer func() {
		if r := recover(); r != nil {
			n.log.Error("rpc function panicked", slog.String("function", name), slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			v, err = nil, fmt.Errorf("node: %s panicked: %v", name, r)
		}
	}()
	return f.(Func)(ctx, arg)
}

func (p *peer) handleRPC(r *reader) error {
	id := r.uvarint()
	timeout := time.Duration(r.uvarint())
	name := r.string(maxNameLen)
	if r.err != nil {
		return r.err
	}
	arg, err := p.n.cfg.Codec.Decode(r.rest())
	if err != nil {
		p.n.stats.Undecodable.Add(1)
		p.reply(proc.PID{}, proc.PID{}, id, nil, err)
		return nil
	}
	if id == 0 {
		p.n.goFunc(func() { p.n.runCast(name, arg) })
		return nil
	}
	p.n.goFunc(func() {
		ctx, cancel := p.n.ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, timeout)
		}
		defer cancel()
		v, err := p.n.runLocal(ctx, name, arg)
		p.reply(proc.PID{}, proc.PID{}, id, v, err)
	})
	return nil
}

func (p *peer) handleSpawn(r *reader) error {
	id := r.uvarint()
	name := r.string(maxNameLen)
	if r.err != nil {
		return r.err
	}
	arg, err := p.n.cfg.Codec.Decode(r.rest())
	if err != nil {
		p.n.stats.Undecodable.Add(1)
		p.reply(proc.PID{}, proc.PID{}, id, nil, err)
		return nil
	}
	// Init may block: spawn off the reader goroutine.
	p.n.goFunc(func() {
		pid, err := p.n.spawnLocal(name, arg)
		if err != nil {
			p.reply(proc.PID{}, proc.PID{}, id, nil, err)
			return
		}
		p.reply(proc.PID{}, proc.PID{}, id, pid, nil)
	})
	return nil
}

package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/grovedev/grove/node/internal/frame"
	"github.com/grovedev/grove/proc"
)

// remote is the node seen by its runtime: the proc.Remote that carries
// messages and signals of local processes to other nodes.
type remote struct{ n *Node }

var _ proc.Remote = remote{}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// send encodes a message with build and queues it to node. build appends
// the header fields; payload, if not nil, is encoded after them.
func (n *Node) send(node string, kind frame.Kind, flags frame.Flags, ln uint16, build func([]byte) []byte, payload any, hasPayload bool) error {
	p, err := n.connected(node)
	if err != nil {
		return err
	}
	return p.send(kind, flags, ln, build, payload, hasPayload)
}

func (p *peer) send(kind frame.Kind, flags frame.Flags, ln uint16, build func([]byte) []byte, payload any, hasPayload bool) error {
	bp := bufPool.Get().(*[]byte)
	b := build((*bp)[:0])
	if hasPayload {
		var err error
		if b, err = p.n.cfg.Codec.AppendEncode(b, payload); err != nil {
			*bp = b[:0]
			bufPool.Put(bp)
			return fmt.Errorf("node: encode %T: %w", payload, err)
		}
	}
	err := p.write(kind, flags, ln, b)
	// Write copies messages up to a chunk; bigger ones were read in place
	// and are done with once Write returns, so the buffer is free either way.
	if cap(b) <= 1<<17 {
		*bp = b[:0]
		bufPool.Put(bp)
	}
	return err
}

// connected returns the link to node, connecting within the connect
// timeout if needed.
func (n *Node) connected(node string) (*peer, error) {
	n.mu.Lock()
	p := n.mu.peers[node]
	n.mu.Unlock()
	if p != nil {
		return p, nil
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ConnectTimeout)
	defer cancel()
	p, err := n.peer(ctx, node)
	if err != nil {
		if errors.Is(err, proc.ErrNoConnection) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", proc.ErrNoConnection, err)
	}
	return p, nil
}

func (r remote) Send(from, to proc.PID, msg any, cast bool) error {
	p, err := r.n.connected(to.Node)
	if err != nil {
		return err
	}
	if err := p.checkTarget(to); err != nil {
		return err
	}
	var flags frame.Flags
	if cast {
		flags = flagCast
	}
	if err := p.waitFlow(); err != nil {
		return err
	}
	return p.send(kindSend, flags, lane(from, to), func(b []byte) []byte {
		return appendPID(appendPID(b, from), to)
	}, msg, true)
}

func (r remote) SendName(from proc.PID, node, name string, msg any, cast bool) error {
	var flags frame.Flags
	if cast {
		flags = flagCast
	}
	p, err := r.n.connected(node)
	if err != nil {
		return err
	}
	if err := p.waitFlow(); err != nil {
		return err
	}
	return p.send(kindSendName, flags, laneName(from, name), func(b []byte) []byte {
		return appendString(appendPID(b, from), name)
	}, msg, true)
}

func (r remote) Call(ctx context.Context, from, to proc.PID, req any) (any, error) {
	p, err := r.n.connected(to.Node)
	if err != nil {
		return nil, err
	}
	if err := p.checkTarget(to); err != nil {
		return nil, &proc.ExitError{PID: to, Reason: proc.ErrNoProc}
	}
	return r.n.await(ctx, p, kindCall, lane(from, to), func(b []byte, id uint64) []byte {
		return binary.AppendUvarint(appendPID(appendPID(b, from), to), id)
	}, req)
}

func (r remote) CallName(ctx context.Context, from proc.PID, node, name string, req any) (any, error) {
	p, err := r.n.connected(node)
	if err != nil {
		return nil, err
	}
	return r.n.await(ctx, p, kindCallName, laneName(from, name), func(b []byte, id uint64) []byte {
		return binary.AppendUvarint(appendString(appendPID(b, from), name), id)
	}, req)
}

// await sends a request that the peer answers with a reply frame, and waits
// for the answer, the link's end or ctx.
func (n *Node) await(ctx context.Context, p *peer, kind frame.Kind, ln uint16, build func([]byte, uint64) []byte, req any) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id, pc := n.calls.add(p.name)
	if err := p.send(kind, 0, ln, func(b []byte) []byte { return build(b, id) }, req, true); err != nil {
		n.calls.remove(id)
		return nil, err
	}
	select {
	case r := <-pc.ch:
		return r.v, r.err
	case <-ctx.Done():
		n.calls.remove(id)
		return nil, ctx.Err()
	}
}

func (r remote) Link(from, to proc.PID) error {
	p, err := r.n.connected(to.Node)
	if err != nil {
		return err
	}
	if err := p.checkTarget(to); err != nil {
		// The process is gone with its node's earlier incarnation.
		r.n.rt.ExitFromRemote(to, from, proc.ErrNoProc, false)
		return nil
	}
	return p.send(kindLink, 0, lane(from, to), func(b []byte) []byte {
		return appendPID(appendPID(b, from), to)
	}, nil, false)
}

func (r remote) Unlink(from, to proc.PID) {
	_ = r.n.sendIfConnected(to.Node, kindUnlink, 0, lane(from, to), func(b []byte) []byte {
		return appendPID(appendPID(b, from), to)
	}, nil, false)
}

func (r remote) Exit(from, to proc.PID, reason error, viaLink bool) error {
	var flags frame.Flags
	if viaLink {
		flags = flagViaLink
		// A link's signal never opens a link: if the node is gone, its
		// side of the link is gone too.
		return r.n.sendIfConnected(to.Node, kindExit, flags, lane(from, to), func(b []byte) []byte {
			return appendPID(appendPID(b, from), to)
		}, reason, true)
	}
	return r.n.send(to.Node, kindExit, flags, lane(from, to), func(b []byte) []byte {
		return appendPID(appendPID(b, from), to)
	}, reason, true)
}

func (r remote) Monitor(watcher, target proc.PID, ref proc.Ref) error {
	p, err := r.n.connected(target.Node)
	if err != nil {
		return err
	}
	if err := p.checkTarget(target); err != nil {
		r.n.rt.DownFromRemote(watcher, ref, target, proc.ErrNoProc)
		return nil
	}
	return p.send(kindMonitor, 0, lane(watcher, target), func(b []byte) []byte {
		return appendRef(appendPID(appendPID(b, watcher), target), ref)
	}, nil, false)
}

func (r remote) Demonitor(watcher, target proc.PID, ref proc.Ref) {
	_ = r.n.sendIfConnected(target.Node, kindDemonitor, 0, lane(watcher, target), func(b []byte) []byte {
		return appendRef(appendPID(appendPID(b, watcher), target), ref)
	}, nil, false)
}

func (r remote) Down(watcher proc.PID, ref proc.Ref, target proc.PID, reason error) {
	_ = r.n.sendIfConnected(watcher.Node, kindDown, 0, lane(target, watcher), func(b []byte) []byte {
		return appendRef(appendPID(appendPID(b, target), watcher), ref)
	}, reason, true)
}

// sendIfConnected sends only over an existing link: signals about a node's
// processes need no new link, since a lost link already told that node.
func (n *Node) sendIfConnected(node string, kind frame.Kind, flags frame.Flags, ln uint16, build func([]byte) []byte, payload any, hasPayload bool) error {
	n.mu.Lock()
	p := n.mu.peers[node]
	n.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.send(kind, flags, ln, build, payload, hasPayload)
}

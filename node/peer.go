package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	"github.com/grovedev/grove/node/internal/frame"
	"github.com/grovedev/grove/node/internal/handshake"
	"github.com/grovedev/grove/proc"
)

// peer is the link to one connected node: one connection, a frame Writer
// shared by every sender and a reader goroutine that dispatches what
// arrives.
type peer struct {
	n        *Node
	name     string
	creation uint64
	conn     net.Conn
	w        *frame.Writer
	r        *frame.Reader

	in    inflowState // whether we paused the peer's sends
	out   outflow     // the peer's flow control of our sends
	drops drops       // the peer's messages we could not queue, to report

	closeOnce sync.Once
	reason    error         // why the link ended; set before down closes
	down      chan struct{} // closed once the link is torn down
}

func newPeer(n *Node, hp *handshake.Peer) *peer {
	wcfg := n.cfg.Frame
	wcfg.OnUnsent = func(k int) { n.stats.LostOnLinkDown.Add(uint64(k)) }
	return &peer{
		n:        n,
		name:     hp.Name,
		creation: hp.Creation,
		conn:     hp.Conn,
		w:        frame.NewWriter(hp.Conn, wcfg),
		r:        frame.NewReader(hp.Conn, n.cfg.Frame),
		down:     make(chan struct{}),
	}
}

// start runs the reader goroutine.
func (p *peer) start() {
	p.n.goFunc(p.readLoop)
}

// close ends the link with reason. Safe to call many times, from any
// goroutine.
func (p *peer) close(reason error) {
	p.closeOnce.Do(func() {
		p.reason = reason
		p.w.Close()
		p.conn.Close()
	})
}

func (p *peer) readLoop() {
	defer close(p.down)
	var err error
	for {
		var m frame.Message
		m, err = p.r.Next(p.n.ctx)
		if err != nil {
			if errors.Is(err, frame.ErrMalformed) || errors.Is(err, frame.ErrTooLarge) {
				// Whatever was on its way goes with the link: counted.
				p.n.stats.MalformedFrames.Add(1)
				p.n.logLimited.Warn("malformed:"+p.name, "node link cut for a malformed or oversized frame",
					slog.String("peer", p.name), slog.Any("err", err))
			}
			break
		}
		if err = p.dispatch(m); err != nil {
			p.n.stats.MalformedFrames.Add(1)
			p.n.log.Warn("node link cut for a malformed message", slog.String("peer", p.name), slog.Any("err", err))
			break
		}
	}
	p.close(linkError(err))
	p.n.peerDown(p, p.reason)
}

// linkError names why a link's reader stopped.
func linkError(err error) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return errors.New("node: link closed")
	case errors.Is(err, frame.ErrTimeout):
		return errors.New("node: heartbeat timeout")
	}
	return err
}

// write queues one message on the link. Urgent messages (requests and
// replies someone waits for) are written by the calling goroutine when the
// link is idle, saving a hand-off to the writer goroutine.
func (p *peer) write(kind frame.Kind, flags frame.Flags, lane uint16, payload []byte) error {
	m := frame.Message{Kind: kind, Flags: flags, Lane: lane, Payload: payload}
	var err error
	if urgent(kind) {
		err = p.w.WriteNow(context.Background(), m)
	} else {
		err = p.w.Write(context.Background(), m)
	}
	if err != nil {
		if errors.Is(err, frame.ErrTooLarge) {
			return fmt.Errorf("%w: to %s: %w", ErrTooLarge, p.name, err) // not sent; the link is fine
		}
		return fmt.Errorf("%w: %s: %w", proc.ErrNoConnection, p.name, err)
	}
	return nil
}

// urgent reports the kinds that a caller waits on.
func urgent(k frame.Kind) bool {
	switch k {
	case kindCall, kindCallName, kindReply, kindRPC, kindSpawn, kindSendAck:
		return true
	}
	return false
}

// checkTarget refuses a PID of an earlier incarnation of the peer.
func (p *peer) checkTarget(pid proc.PID) error {
	if pid.Creation != p.creation {
		return fmt.Errorf("%w: %v", ErrStaleIncarnation, pid)
	}
	return nil
}

package distsup

import (
	"context"
	"time"

	"github.com/grovedev/grove/proc"
)

// Handoffer is a child that passes its state to its next incarnation when
// it moves to another node (drain, leave, rebalance). BeginHandoff runs in
// the child's process, between two messages; what it returns is given to
// the new incarnation's EndHandoff. The state's type must be registered in
// every node's codec. From BeginHandoff on, messages and calls to the old
// incarnation are held, then delivered to the new one in the order they
// arrived.
type Handoffer interface {
	BeginHandoff(p *proc.Process) (state any, err error)
}

// Resumer is a child that takes over its previous incarnation's state:
// EndHandoff runs right after Init in the new incarnation, before any
// message, with the state BeginHandoff returned (nil if the old one is not
// a Handoffer).
type Resumer interface {
	EndHandoff(p *proc.Process, state any) error
}

// Messages between the host and its children (local only).
type (
	beginHandoff struct{}
	handoffState struct {
		state any
		has   bool
	}
	forwardTo  struct{ pid proc.PID }
	resumeHere struct{}
)

type heldKind uint8

const (
	heldInfo heldKind = iota
	heldCast
	heldCall
)

type held struct {
	kind heldKind
	msg  any
	from proc.From
}

// forwardCallTimeout bounds a call forwarded to a handed-off child.
const forwardCallTimeout = 30 * time.Second

// child wraps a child's behaviour: it runs EndHandoff after Init, and
// holds and forwards messages during a handoff.
type child struct {
	inner  proc.Behavior
	resume *handoffState // set for a new incarnation of a handoff
	mode   childMode
	held   []held
	fwd    proc.PID
}

type childMode uint8

const (
	modeRun childMode = iota
	modeHold
	modeForward
)

var (
	_ proc.Behavior   = (*child)(nil)
	_ proc.Terminator = (*child)(nil)
	_ proc.Continuer  = (*child)(nil)
	_ proc.Inspector  = (*child)(nil)
)

func (c *child) Init(p *proc.Process) error {
	if err := c.inner.Init(p); err != nil {
		return err
	}
	if c.resume != nil {
		if r, ok := c.inner.(Resumer); ok {
			return r.EndHandoff(p, c.resume.state)
		}
	}
	return nil
}

func (c *child) HandleCall(p *proc.Process, from proc.From, req any) (any, error) {
	if _, ok := req.(beginHandoff); ok && from.Caller().IsZero() {
		if c.mode != modeRun {
			return handoffState{}, ErrDraining
		}
		var st handoffState
		if h, ok := c.inner.(Handoffer); ok {
			v, err := h.BeginHandoff(p)
			if err != nil {
				return nil, err
			}
			st = handoffState{state: v, has: true}
		}
		c.mode = modeHold
		return st, nil
	}
	switch c.mode {
	case modeHold:
		c.held = append(c.held, held{kind: heldCall, msg: req, from: from})
		return proc.NoReply, nil
	case modeForward:
		return c.forwardCall(p, req)
	}
	return c.inner.HandleCall(p, from, req)
}

func (c *child) forwardCall(p *proc.Process, req any) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), forwardCallTimeout)
	defer cancel()
	return p.CallTo(ctx, c.fwd, req)
}

func (c *child) HandleCast(p *proc.Process, msg any) {
	switch c.mode {
	case modeHold:
		c.held = append(c.held, held{kind: heldCast, msg: msg})
	case modeForward:
		_ = p.Cast(c.fwd, msg)
	default:
		c.inner.HandleCast(p, msg)
	}
}

func (c *child) HandleInfo(p *proc.Process, msg any) {
	switch m := msg.(type) {
	case forwardTo:
		if c.mode == modeHold {
			c.fwd, c.mode = m.pid, modeForward
			c.flush(p)
		}
		return
	case resumeHere:
		if c.mode == modeHold {
			c.mode = modeRun
			c.replay(p)
		}
		return
	}
	switch c.mode {
	case modeHold:
		c.held = append(c.held, held{kind: heldInfo, msg: msg})
	case modeForward:
		_ = p.Send(c.fwd, msg)
	default:
		c.inner.HandleInfo(p, msg)
	}
}

// flush delivers what was held to the new incarnation, in order.
func (c *child) flush(p *proc.Process) {
	held := c.held
	c.held = nil
	for _, h := range held {
		switch h.kind {
		case heldInfo:
			_ = p.Send(c.fwd, h.msg)
		case heldCast:
			_ = p.Cast(c.fwd, h.msg)
		case heldCall:
			h.from.Reply(c.forwardCall(p, h.msg))
		}
	}
}

// replay hands what was held to the behaviour itself: the handoff failed.
func (c *child) replay(p *proc.Process) {
	held := c.held
	c.held = nil
	for _, h := range held {
		switch h.kind {
		case heldInfo:
			c.inner.HandleInfo(p, h.msg)
		case heldCast:
			c.inner.HandleCast(p, h.msg)
		case heldCall:
			v, err := c.inner.HandleCall(p, h.from, h.msg)
			if v != proc.NoReply {
				h.from.Reply(v, err)
			}
		}
	}
}

func (c *child) Terminate(p *proc.Process, reason error) {
	if t, ok := c.inner.(proc.Terminator); ok && c.mode != modeForward {
		t.Terminate(p, reason)
	}
}

func (c *child) HandleContinue(p *proc.Process, cont any) {
	if k, ok := c.inner.(proc.Continuer); ok {
		k.HandleContinue(p, cont)
	}
}

func (c *child) Inspect() any {
	if i, ok := c.inner.(proc.Inspector); ok {
		return i.Inspect()
	}
	return nil
}

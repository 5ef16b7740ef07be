package entity

import (
	"context"
	"log/slog"
	"time"

	"github.com/grovedev/grove/proc"
)

// shard routes the messages of its keys on this node: it activates the
// entities of the keys this node owns, forwards the others, and passivates
// idle entities without losing what is sent to them meanwhile.
type shard struct {
	proc.Base
	r      *Region
	self   proc.PID
	active map[string]*active
	byPID  map[proc.PID]string
}

// active is a key's running entity.
type active struct {
	pid proc.PID
	// stopping is set once the entity was asked to stop (idle, or its key
	// moved): what arrives for the key meanwhile is held, then goes to
	// its next incarnation or its new node.
	stopping bool
	held     []pending
}

type pending struct {
	call bool
	from proc.From
	msg  any
	cast bool
	hops int
}

// Messages between a shard and its entities (local).
type (
	callEnv struct {
		from proc.From
		req  any
	}
	idleCheck struct{}
	passivate struct{ pid proc.PID }
	stopNow   struct{}
	rebalance struct{}
)

func (s *shard) Init(p *proc.Process) error {
	s.self = p.Self()
	s.byPID = map[proc.PID]string{}
	p.TrapExit(true) // entity exits arrive as messages; a stopping shard stops them
	return nil
}

func (s *shard) HandleCast(p *proc.Process, msg any) {
	switch m := msg.(type) {
	case localMsg:
		s.deliver(p, pending{msg: m.msg, cast: m.cast, hops: m.hops}, m.key)
	case wireMsg:
		v, err := s.r.nd.Codec().Decode(m.Msg)
		if err != nil {
			s.r.log.Warn("entity message does not decode", slog.String("key", m.Key), slog.Any("err", err))
			return
		}
		s.deliver(p, pending{msg: v, cast: m.Cast, hops: m.Hops}, m.Key)
	}
}

func (s *shard) HandleCall(p *proc.Process, from proc.From, req any) (any, error) {
	switch m := req.(type) {
	case localCall:
		s.deliver(p, pending{call: true, from: from, msg: m.req, hops: m.hops}, m.key)
		return proc.NoReply, nil
	case wireCall:
		v, err := s.r.nd.Codec().Decode(m.Req)
		if err != nil {
			return nil, err
		}
		s.deliver(p, pending{call: true, from: from, msg: v, hops: m.Hops}, m.Key)
		return proc.NoReply, nil
	}
	return nil, proc.ErrUnhandled
}

func (s *shard) HandleInfo(p *proc.Process, msg any) {
	switch m := msg.(type) {
	case passivate:
		key, ok := s.byPID[m.pid]
		if a := s.active[key]; ok && a != nil && a.pid == m.pid && !a.stopping {
			a.stopping = true
			_ = p.Send(a.pid, stopNow{})
		}
	case proc.Exit:
		s.exited(p, m.From, m.Reason)
	case rebalance:
		self := s.r.nd.Name()
		for key, a := range s.active {
			if owner, err := s.r.Owner(key); err == nil && owner != self && !a.stopping {
				a.stopping = true
				_ = p.Send(a.pid, stopNow{})
				s.r.stats.Moved.Add(1)
			}
		}
	}
}

// deliver hands a message to its key's entity, activating it, or
// forwards it to the key's node.
func (s *shard) deliver(p *proc.Process, m pending, key string) {
	r := s.r
	if a := s.active[key]; a != nil {
		if a.stopping {
			a.held = append(a.held, m)
			return
		}
		s.push(p, a.pid, m)
		return
	}
	owner, err := r.Owner(key)
	switch {
	case err != nil && !r.member:
		// Nobody runs the kind, this node may not either.
		if m.call {
			m.from.Reply(nil, err)
		}
		return
	case err == nil && owner != r.nd.Name() && m.hops < r.cfg.MaxHops:
		s.forward(p, owner, key, m)
		return
	}
	beh, err := newSafely(r.cfg.New, key)
	var pid proc.PID
	if err == nil {
		pid, err = p.Spawn(&ent{inner: beh, shard: s.self, idle: r.cfg.IdleTimeout}, proc.WithLink())
	}
	if err != nil {
		r.log.Error("entity did not start", slog.String("key", key), slog.Any("err", err))
		if m.call {
			m.from.Reply(nil, err)
		}
		return
	}
	r.stats.Activated.Add(1)
	s.active[key] = &active{pid: pid}
	s.byPID[pid] = key
	s.push(p, pid, m)
}

func newSafely(fn func(string) (proc.Behavior, error), key string) (b proc.Behavior, err error) {
	defer func() {
		if x := recover(); x != nil {
			b, err = nil, &proc.CrashError{Value: x}
		}
	}()
	return fn(key)
}

func (s *shard) push(p *proc.Process, pid proc.PID, m pending) {
	switch {
	case m.call:
		_ = p.Send(pid, callEnv{from: m.from, req: m.msg})
	case m.cast:
		_ = p.Cast(pid, m.msg)
	default:
		_ = p.Send(pid, m.msg)
	}
}

// forward sends a message to the shard of its key on the node that owns
// it; a call is forwarded by a goroutine that relays the answer.
func (s *shard) forward(p *proc.Process, owner, key string, m pending) {
	r := s.r
	r.stats.Forwarded.Add(1)
	dest := proc.NodeName{Node: owner, Name: r.shardName(key)}
	b, err := r.nd.Codec().Encode(m.msg)
	if err != nil {
		if m.call {
			m.from.Reply(nil, err)
		}
		return
	}
	if !m.call {
		_ = p.Cast(dest, wireMsg{Key: key, Msg: b, Cast: m.cast, Hops: m.hops + 1})
		return
	}
	rt := p.Runtime()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		m.from.Reply(rt.CallTo(ctx, dest, wireCall{Key: key, Req: b, Hops: m.hops + 1}))
	}()
}

// exited forgets an entity that stopped and delivers what was held for
// its key: to a new incarnation here, or to the key's new node.
func (s *shard) exited(p *proc.Process, pid proc.PID, reason error) {
	key, ok := s.byPID[pid]
	if !ok {
		return
	}
	delete(s.byPID, pid)
	a := s.active[key]
	if a == nil || a.pid != pid {
		return
	}
	delete(s.active, key)
	if a.stopping {
		s.r.stats.Passivated.Add(1)
	} else if !proc.IsNormalExit(reason) {
		s.r.log.Warn("entity exited", slog.String("key", key), slog.Any("reason", reason))
	}
	for _, m := range a.held {
		s.deliver(p, m, key)
	}
}

// ent wraps an entity's behaviour: it answers the calls its shard hands
// it, and asks to be passivated when idle.
type ent struct {
	inner proc.Behavior
	shard proc.PID
	idle  time.Duration
	n, at uint64 // messages handled, and at the last idle check
	asked bool
}

func (e *ent) Init(p *proc.Process) error {
	if err := e.inner.Init(p); err != nil {
		return err
	}
	if e.idle > 0 {
		p.SendAfter(e.idle, idleCheck{})
	}
	return nil
}

func (e *ent) HandleCall(p *proc.Process, from proc.From, req any) (any, error) {
	e.n++
	return e.inner.HandleCall(p, from, req)
}

func (e *ent) HandleCast(p *proc.Process, msg any) {
	e.n++
	e.inner.HandleCast(p, msg)
}

func (e *ent) HandleInfo(p *proc.Process, msg any) {
	switch m := msg.(type) {
	case callEnv:
		e.n++
		v, err := e.inner.HandleCall(p, m.from, m.req)
		if v != proc.NoReply {
			m.from.Reply(v, err)
		}
		return
	case idleCheck:
		if e.n == e.at && !e.asked {
			e.asked = true
			_ = p.Send(e.shard, passivate{pid: p.Self()})
			return
		}
		e.at = e.n
		p.SendAfter(e.idle, idleCheck{})
		return
	case stopNow:
		p.Stop(proc.ErrNormal)
		return
	}
	e.n++
	e.inner.HandleInfo(p, msg)
}

func (e *ent) Terminate(p *proc.Process, reason error) {
	if t, ok := e.inner.(proc.Terminator); ok {
		t.Terminate(p, reason)
	}
}

func (e *ent) HandleContinue(p *proc.Process, cont any) {
	if c, ok := e.inner.(proc.Continuer); ok {
		c.HandleContinue(p, cont)
	}
}

func (e *ent) Inspect() any {
	if i, ok := e.inner.(proc.Inspector); ok {
		return i.Inspect()
	}
	return nil
}

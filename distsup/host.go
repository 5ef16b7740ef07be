package distsup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/grovedev/grove/internal/ownermap"
	"github.com/grovedev/grove/lease"
	"github.com/grovedev/grove/placement"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor"
)

// hostProc is the process that owns this node's children: it starts,
// watches, restarts, adopts and hands them off, one request at a time, so
// its state needs no lock.
type hostProc struct {
	proc.Base
	s        *Supervisor
	ctx      context.Context
	self     proc.PID
	marker   ownermap.Ref
	children map[string]*local
	plans    map[string]plan
	stopped  bool
}

// local is a child of this node.
type local struct {
	id       string
	ref      ownermap.Ref
	pid      proc.PID // zero while suspended
	rec      record
	restarts []time.Time
	moving   bool // being handed off
	unwatch  func()
}

// plan remembers where an orphan goes, so that the decision stays put
// while adoptions spread.
type plan struct {
	target string
	at     time.Time
}

const planTTL = 3 * time.Second

// tick is the period of the host's own reconcile round: a second, or in
// quorum mode the lease renewal period (to retry leases).
func (h *hostProc) tick() time.Duration {
	if q := h.s.cfg.Quorum; q != nil {
		return q.Renew
	}
	return time.Second
}

// Requests to the host.
type (
	startLocal struct {
		id  string
		rec record
	}
	adoptLocal struct {
		id    string
		rec   record
		prev  ownermap.Entry
		state *handoffState
	}
	terminateLocal struct{ id string }
	restartLocal   struct{ id string }
	childExit      struct {
		id     string
		pid    proc.PID
		reason error
	}
	lostConflict struct{ c ownermap.Conflict }
	reconcileMsg struct{}
	hostTick     struct{}
	updateMarker struct{}
	shutdownHost struct{}
	listLocal    struct{}
	prepareMove  struct{ id string }
	abortMove    struct{ id string }
	finishMove   struct {
		id  string
		pid proc.PID
	}
	stopInfo struct {
		pid     proc.PID
		timeout time.Duration
	}
	moveInfo struct {
		pid   proc.PID
		entry ownermap.Entry
		rec   record
	}
)

func (h *hostProc) Init(p *proc.Process) error {
	h.self = p.Self()
	h.ctx = h.s.ctx
	p.SendAfter(h.tick(), hostTick{})
	return h.putMarker()
}

func (h *hostProc) putMarker() error {
	s := h.s
	mk := marker{Kinds: s.kindNames(), Draining: s.draining.Load()}
	if h.marker.IsZero() {
		e, err := s.m.Put(markerPrefix+s.nd.Name(), h.self, mk)
		if err != nil {
			return fmt.Errorf("distsup: marker: %w", err)
		}
		h.marker = e.Ref
		return nil
	}
	_, err := s.m.Update(h.marker, h.self, mk)
	return err
}

func (h *hostProc) HandleCall(p *proc.Process, _ proc.From, req any) (any, error) {
	if h.stopped {
		return nil, ErrClosed
	}
	switch r := req.(type) {
	case startLocal:
		return h.start(r.id, r.rec, nil, nil)
	case adoptLocal:
		if h.s.draining.Load() {
			return nil, ErrDraining
		}
		prev := r.prev
		return h.start(r.id, r.rec, &prev, r.state)
	case terminateLocal:
		l := h.children[r.id]
		if l == nil {
			return nil, fmt.Errorf("%w: %q on %s", ErrNotFound, r.id, h.s.nd.Name())
		}
		h.drop(l, ownermap.ReasonUnregistered)
		return stopInfo{pid: l.pid, timeout: l.rec.shutdown()}, nil
	case restartLocal:
		l := h.children[r.id]
		if l == nil {
			return nil, fmt.Errorf("%w: %q on %s", ErrNotFound, r.id, h.s.nd.Name())
		}
		if l.moving {
			return nil, ErrDraining
		}
		old := l.pid
		l.unwatch()
		if !old.IsZero() {
			h.s.stopProcess(p.Context(), old, proc.ErrShutdown, l.rec.shutdown())
		}
		if err := h.spawn(l, nil); err != nil {
			h.drop(l, ownermap.ReasonExited)
			return nil, err
		}
		return l.pid, nil
	case updateMarker:
		return nil, h.putMarker()
	case listLocal:
		ids := make([]string, 0, len(h.children))
		for id, l := range h.children {
			if !l.moving {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		return ids, nil
	case prepareMove:
		l := h.children[r.id]
		if l == nil || l.moving || l.pid.IsZero() {
			return nil, fmt.Errorf("%w: %q not movable on %s", ErrNotFound, r.id, h.s.nd.Name())
		}
		e, ok := h.s.m.Get(l.ref)
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrNotFound, r.id)
		}
		l.moving = true
		return moveInfo{pid: l.pid, entry: e, rec: l.rec}, nil
	case finishMove:
		l := h.children[r.id]
		if l == nil || !l.moving {
			return nil, nil
		}
		l.unwatch()
		delete(h.children, l.id)
		h.s.m.Remove(l.ref, ownermap.ReasonHandoff)
		h.s.stats.HandedOff.Add(1)
		return nil, nil
	case shutdownHost:
		h.stopped = true
		for _, l := range h.children {
			l.unwatch()
			if !l.pid.IsZero() {
				_ = p.Runtime().Exit(l.pid, proc.ErrKill)
			}
		}
		clear(h.children)
		return nil, nil
	}
	return nil, proc.ErrUnhandled
}

func (h *hostProc) HandleInfo(p *proc.Process, msg any) {
	if h.stopped {
		return
	}
	switch m := msg.(type) {
	case childExit:
		h.exited(m)
	case lostConflict:
		h.lost(m.c)
	case reconcileMsg:
		h.s.reconcileQ.Store(false)
		h.reconcile()
	case hostTick:
		h.reconcile()
		p.SendAfter(h.tick(), hostTick{})
	case abortMove:
		if l := h.children[m.id]; l != nil {
			l.moving = false
		}
	case leasesPassed:
		h.leasesPassed(m.ids)
	}
}

// start starts a child here: a fresh one (prev nil), an adopted orphan or
// a handed-off one (prev, its predecessor's entry, whose claim it
// inherits). It answers startResp.
func (h *hostProc) start(id string, rec record, prev *ownermap.Entry, state *handoffState) (any, error) {
	s := h.s
	if s.draining.Load() && prev == nil {
		return nil, ErrDraining
	}
	if _, ok := s.kind(rec.Kind); !ok {
		return nil, fmt.Errorf("%w: %q on %s", ErrUnknownKind, rec.Kind, s.nd.Name())
	}
	if l := h.children[id]; l != nil {
		if l.moving {
			// Being handed off from here: this copy is about to stop
			// (its successor elsewhere takes the record), so it cannot
			// stand for the child. The caller keeps its own.
			return nil, fmt.Errorf("%w: %q is moving away from %s", ErrDraining, id, s.nd.Name())
		}
		return startResp{PID: l.pid, Existing: true}, nil
	}
	var opts []ownermap.PutOption
	if prev != nil {
		opts = append(opts, ownermap.Inherit(*prev))
	} else if e, ok := s.entry(id); ok {
		return startResp{PID: e.PID, Existing: true}, nil
	}
	e, err := s.m.Put(id, proc.PID{}, rec, opts...)
	var taken *ownermap.TakenError
	if errors.As(err, &taken) {
		return startResp{PID: taken.Holder.PID, Existing: true}, nil
	}
	if err != nil {
		return nil, err
	}
	l := &local{id: id, ref: e.Ref, rec: rec, unwatch: func() {}}
	h.children[id] = l
	if q := s.quorum; q != nil {
		if err := q.acquire(h.ctx, id); err != nil {
			// Held elsewhere (a copy runs, or the lease of a dead node's
			// copy has not passed yet), or no quorum: not here, not now.
			delete(h.children, id)
			s.m.Remove(e.Ref, ownermap.ReasonConflict)
			if errors.Is(err, lease.ErrHeld) && prev == nil {
				return startResp{PID: proc.PID{}, Existing: true}, nil
			}
			return nil, fmt.Errorf("%w: lease of %q: %w", ErrNoQuorum, id, err)
		}
	}
	if err := h.spawn(l, state); err != nil {
		h.drop(l, ownermap.ReasonExited)
		return nil, err
	}
	switch {
	case state != nil:
		s.stats.Received.Add(1)
	case prev != nil:
		s.stats.Adopted.Add(1)
	default:
		s.stats.Started.Add(1)
	}
	return startResp{PID: l.pid}, nil
}

// spawn runs a new process for l and records its PID.
func (h *hostProc) spawn(l *local, state *handoffState) error {
	s := h.s
	fn, ok := s.kind(l.rec.Kind)
	if !ok {
		return fmt.Errorf("%w: %q on %s", ErrUnknownKind, l.rec.Kind, s.nd.Name())
	}
	arg, err := s.nd.Codec().Decode(l.rec.Arg)
	if err != nil {
		return fmt.Errorf("distsup: arg of %q: %w", l.id, err)
	}
	beh, err := startSafely(fn, l.id, arg)
	if err != nil {
		return fmt.Errorf("distsup: start %q: %w", l.id, err)
	}
	pid, err := s.rt.Spawn(&child{inner: beh, resume: state})
	if err != nil {
		return fmt.Errorf("distsup: start %q: %w", l.id, err)
	}
	l.pid = pid
	if s.quorum != nil {
		s.quorum.bind(l.id, pid)
	}
	id, host := l.id, h.self
	l.unwatch = s.rt.Watch(pid, func(pid proc.PID, reason error) {
		_ = s.rt.Send(host, childExit{id: id, pid: pid, reason: reason})
	})
	if _, err := s.m.Update(l.ref, pid, l.rec); err != nil {
		return err
	}
	return nil
}

func startSafely(fn StartFunc, id string, arg any) (b proc.Behavior, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("start function panicked: %v", r)
		}
	}()
	b, err = fn(id, arg)
	if err == nil && b == nil {
		err = errors.New("start function returned no behaviour")
	}
	return b, err
}

// drop forgets a child and removes its record.
func (h *hostProc) drop(l *local, why ownermap.Reason) {
	l.unwatch()
	delete(h.children, l.id)
	h.s.m.Remove(l.ref, why)
	if h.s.quorum != nil {
		h.s.quorum.release(l.id)
	}
}

// exited applies the restart type to a child that exited.
func (h *hostProc) exited(m childExit) {
	l := h.children[m.id]
	if l == nil || l.pid != m.pid || l.moving {
		return
	}
	s := h.s
	if !l.rec.restart().ShouldRestart(m.reason) {
		h.drop(l, ownermap.ReasonExited)
		return
	}
	now := time.Now()
	l.restarts = append(l.restarts, now)
	for len(l.restarts) > 0 && now.Sub(l.restarts[0]) > s.cfg.Period {
		l.restarts = l.restarts[1:]
	}
	if len(l.restarts) > s.cfg.MaxRestarts {
		s.log.Error("child given up after too many restarts", slog.String("id", l.id),
			slog.Int("restarts", len(l.restarts)), slog.Duration("period", s.cfg.Period), slog.Any("reason", m.reason))
		s.stats.GivenUp.Add(1)
		h.drop(l, ownermap.ReasonExited)
		return
	}
	l.pid = proc.PID{}
	if s.quorum != nil && !s.quorum.valid(l.id) {
		h.suspend(l)
		return
	}
	if err := h.spawn(l, nil); err != nil {
		s.log.Error("child restart failed", slog.String("id", l.id), slog.Any("err", err))
		s.stats.GivenUp.Add(1)
		h.drop(l, ownermap.ReasonExited)
		return
	}
	s.stats.Restarted.Add(1)
}

// lost stops a local copy that lost to another copy of its child.
func (h *hostProc) lost(c ownermap.Conflict) {
	l := h.children[c.Loser.Key]
	if l == nil || l.ref != c.Loser.Ref {
		return
	}
	if l.moving && c.Winner.Supersedes == l.ref {
		return // the successor of a handoff in progress
	}
	if h.s.quorum != nil {
		// The lease decides, not the table: of two records, the one whose
		// node cannot get the lease drops its own (retryLeases, start).
		return
	}
	pid := l.pid
	h.drop(l, ownermap.ReasonConflict)
	h.s.stats.Duplicates.Add(1)
	if !pid.IsZero() {
		h.s.killProcess(pid, fmt.Errorf("%w: %q runs as %v", ErrDuplicate, l.id, c.Winner.PID))
	}
}

// reconcile adopts the orphans (children of dead, departed or restarted
// nodes that nobody runs) that the placement gives to this node.
func (h *hostProc) reconcile() {
	s := h.s
	if h.s.quorum != nil {
		h.retryLeases()
	}
	if s.draining.Load() || !s.m.Complete() {
		return
	}
	orphans := s.m.Orphans()
	if len(orphans) == 0 {
		clear(h.plans)
		return
	}
	// One orphan per ID: the one that would win (latest handoff or
	// adoption), in ID order so every node plans alike.
	best := map[string]ownermap.Entry{}
	for _, o := range orphans {
		if strings.HasPrefix(o.Key, markerPrefix) {
			continue
		}
		if b, ok := best[o.Key]; !ok || ownermap.Less(o, b) {
			best[o.Key] = o
		}
	}
	ids := make([]string, 0, len(best))
	for id := range best {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	now := time.Now()
	self := s.nd.Name()
	// Loads without the copies adopted from these orphans, so that every
	// node, whether it saw some adoptions already or not, plans the same.
	adoptedFrom := make(map[ownermap.Ref]bool, len(best))
	for _, o := range best {
		adoptedFrom[o.Ref] = true
	}
	loads := map[string]int{}
	s.m.Range(func(e ownermap.Entry) bool {
		if !strings.HasPrefix(e.Key, markerPrefix) && !adoptedFrom[e.Supersedes] {
			loads[e.Ref.Node]++
		}
		return true
	})
	for id, p := range h.plans {
		if _, ok := best[id]; !ok || now.Sub(p.at) > planTTL {
			delete(h.plans, id)
		}
	}
	type kindPin struct{ kind, pin string }
	cands := map[kindPin][]placement.Candidate{}
	for _, id := range ids {
		o := best[id]
		rec, ok := o.Value.(record)
		if !ok || rec.restart() == supervisor.Temporary {
			continue
		}
		// Every orphan is planned, adopted already or not, so that the
		// loads each plan sees are the same on every node.
		p, ok := h.plans[id]
		if !ok {
			k := kindPin{rec.Kind, rec.pin().String()}
			cs, have := cands[k]
			if !have {
				cs = s.candidates(rec, "")
				cands[k] = cs
			}
			for i := range cs {
				cs[i].Load = loads[cs[i].Name]
			}
			target, err := s.place(id, rec, cs)
			if err != nil {
				continue
			}
			p = plan{target: target, at: now}
			h.plans[id] = p
		}
		loads[p.target]++
		if _, visible := s.entry(id); visible || h.children[id] != nil || p.target != self {
			continue
		}
		if _, err := h.start(id, rec, &o, nil); err != nil {
			s.log.Warn("adopting a child failed", slog.String("id", id), slog.Any("err", err))
		}
	}
}

// suspend stops a child whose lease passed and keeps its record, to
// start it again if the lease comes back.
func (h *hostProc) suspend(l *local) {
	l.unwatch()
	if !l.pid.IsZero() {
		_ = h.s.rt.Exit(l.pid, proc.ErrKill)
	}
	l.pid = proc.PID{}
	_, _ = h.s.m.Update(l.ref, proc.PID{}, l.rec)
}

// leasesPassed suspends the children whose leases passed (the quorum
// loop killed their processes already).
func (h *hostProc) leasesPassed(ids []string) {
	for _, id := range ids {
		if l := h.children[id]; l != nil && !l.moving {
			h.suspend(l)
		}
	}
	h.retryLeases()
}

// retryLeases takes the lease of each suspended child again: a child whose
// lease is back runs again; one whose lease another node took is dropped.
func (h *hostProc) retryLeases() {
	q := h.s.quorum
	for _, l := range h.children {
		if !l.pid.IsZero() || l.moving {
			continue
		}
		err := q.acquire(h.ctx, l.id)
		switch {
		case err == nil:
			if err := h.spawn(l, nil); err != nil {
				h.s.log.Error("child restart after its lease came back failed", slog.String("id", l.id), slog.Any("err", err))
				h.drop(l, ownermap.ReasonExited)
			}
		case errors.Is(err, lease.ErrHeld):
			h.drop(l, ownermap.ReasonConflict)
		}
	}
}

package raft

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// Group is the handle of this node's member of a group. It is safe for
// concurrent use.
type Group struct {
	h      *Host
	name   string
	status atomic.Pointer[Status]
}

// Result is the outcome of an applied command.
type Result struct {
	// Reply is what the machine's Apply returned.
	Reply any
	// Index is the command's log position.
	Index uint64
	// Leader is the leader when it was applied here.
	Leader string
}

// Name returns the group's name.
func (g *Group) Name() string { return g.name }

// Status returns this member's view of the group, as of its last engine
// round.
func (g *Group) Status() Status {
	st := *g.status.Load()
	return st
}

// Leader returns the leader this member knows of, "" if none.
func (g *Group) Leader() string { return g.status.Load().Leader }

// do runs fn on the engine goroutine with the group, or fails.
func (g *Group) do(fn func(gr *group)) error {
	return g.h.submit(func() {
		gr := g.h.groups[groupID(g.name)]
		if gr == nil || gr.handle != g {
			fn(nil)
			return
		}
		fn(gr)
	})
}

// errOf is the error of an operation on a group that is not running.
func (g *Group) errOf(gr *group) error {
	if gr == nil {
		if g.h.failed != nil {
			return g.h.failed
		}
		return ErrStopped
	}
	return nil
}

// Command proposes cmd and waits until this member applied it, returning
// the machine's reply. It works on every member: a follower forwards the
// proposal to the leader. Errors: ErrNoLeader and ErrNoQuorum (certainly
// not applied), ErrTimeout (ctx ended before the command was proposed —
// while it waited for room under Config.MaxPendingCommands or for the
// engine: certainly not applied), ErrUnknownOutcome (proposed, fate
// unknown), ErrRejected or a *RejectedError (refused), ErrTooLarge,
// ErrStopped.
func (g *Group) Command(ctx context.Context, cmd []byte) (Result, error) {
	type out struct {
		r   Result
		err error
	}
	if len(cmd) > g.h.cfg.MaxCommandBytes {
		return Result{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(cmd), g.h.cfg.MaxCommandBytes)
	}
	cost := commandCost(len(cmd))
	if err := g.h.admit.wait(ctx, cost); err != nil {
		return Result{}, fmt.Errorf("%w: waiting for room: %w", ErrTimeout, err)
	}
	ch := make(chan out, 1)
	var state atomic.Int32 // 0 queued, 1 proposed, 2 abandoned
	tag, err := g.propose(cmd, cost, func(r Result, err error) { ch <- out{r, err} }, &state, deadlineOf(ctx))
	if err != nil {
		return Result{}, err
	}
	select {
	case o := <-ch:
		return o.r, o.err
	case <-ctx.Done():
		if state.CompareAndSwap(0, 2) {
			return Result{}, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
		}
		_ = g.do(func(gr *group) {
			if gr != nil {
				gr.finish(tag)
			}
		})
		select {
		case o := <-ch:
			return o.r, o.err
		default:
		}
		return Result{}, fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())
	}
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// Pipelined is the outcome of a pipelined command.
type Pipelined struct {
	Correlation uint64
	Result
	Err error
}

// Pipeline proposes cmd without waiting, like ra's pipeline_command:
// done is called once, on the engine goroutine (it must not block), with
// the reply when this member applied the command, or with an error —
// certain failures as for Command, or ErrUnknownOutcome when nothing was
// heard within timeout (default 10 s). A nil done proposes and forgets.
// The error returned at once means nothing was proposed: ErrTooLarge,
// ErrStopped, or ErrOverloaded when the host already holds as many
// unfinished commands as Config.MaxPendingCommands and MaxPendingBytes
// allow (retry later; the leader is not keeping up).
func (g *Group) Pipeline(cmd []byte, correlation uint64, timeout time.Duration, done func(Pipelined)) error {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if len(cmd) > g.h.cfg.MaxCommandBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(cmd), g.h.cfg.MaxCommandBytes)
	}
	cost := commandCost(len(cmd))
	if !g.h.admit.try(cost) {
		g.h.stats.Overloaded.Add(1)
		return ErrOverloaded
	}
	cb := func(r Result, err error) {
		if done != nil {
			done(Pipelined{Correlation: correlation, Result: r, Err: err})
		}
	}
	_, err := g.propose(cmd, cost, cb, nil, time.Now().Add(timeout))
	return err
}

// propose hands an admitted command of cost to the engine; its room is
// returned when it finishes, whichever way.
func (g *Group) propose(cmd []byte, cost int64, done func(Result, error), state *atomic.Int32, deadline time.Time) (proposalTag, error) {
	tag := g.h.nextTag()
	err := g.do(func(gr *group) {
		if state != nil && !state.CompareAndSwap(0, 1) {
			g.h.admit.release(cost)
			return // the caller gave up before it was proposed
		}
		if err := g.errOf(gr); err != nil {
			g.h.admit.release(cost)
			done(Result{}, err)
			return
		}
		gr.proposeCommand(tag, cmd, cost, done, deadline)
	})
	if err != nil {
		g.h.admit.release(cost)
	}
	return tag, err
}

// canPropose tells whether a proposal has a reachable leader with a
// reachable quorum, so that a refusal is certain.
func (gr *group) canPropose() error {
	h := gr.h
	switch {
	case gr.leader == 0:
		return ErrNoLeader
	case gr.role == Leader:
		n, up := 0, 0
		for _, id := range gr.confState.GetVoters() {
			n++
			if id == h.selfID || h.connected[gr.known[id]] {
				up++
			}
		}
		if up <= n/2 {
			return ErrNoQuorum
		}
	case !h.connected[gr.known[gr.leader]]:
		return ErrNoLeader
	}
	return nil
}

func (gr *group) proposeCommand(tag proposalTag, cmd []byte, cost int64, done func(Result, error), deadline time.Time) {
	gr.touch()
	if err := gr.canPropose(); err != nil {
		gr.h.admit.release(cost)
		done(Result{}, err)
		return
	}
	if err := gr.rn.Propose(encodeCommand(tag, cmd)); err != nil {
		gr.h.admit.release(cost)
		done(Result{}, fmt.Errorf("%w: %v", ErrRejected, err))
		return
	}
	gr.pending[tag] = &pending{done: done, deadline: deadline, cost: cost}
	gr.h.dirty[gr] = struct{}{}
}

// expirePending fails pipelined proposals whose time ran out.
func (h *Host) expirePending() {
	if h.ticks%10 != 0 {
		return
	}
	now := time.Now()
	for g := range h.active { // a group with pending proposals never quiesces
		for t, p := range g.pending {
			if !p.deadline.IsZero() && now.After(p.deadline.Add(time.Second)) {
				g.finish(t)
				p.done(Result{}, ErrUnknownOutcome)
			}
		}
	}
}

// query runs fn on the engine goroutine and waits for its result.
func (g *Group) query(ctx context.Context, start func(gr *group, done func(any, error))) (any, error) {
	type out struct {
		v   any
		err error
	}
	ch := make(chan out, 1)
	if err := g.do(func(gr *group) {
		done := func(v any, err error) { ch <- out{v, err} }
		if err := g.errOf(gr); err != nil {
			done(nil, err)
			return
		}
		start(gr, done)
	}); err != nil {
		return nil, err
	}
	select {
	case o := <-ch:
		return o.v, o.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
}

// LocalQuery runs fn on this member's machine as it is now: fast, never
// waits for the network, and possibly stale (a follower behind, a
// partitioned old leader). fn runs on the engine goroutine and must not
// block or keep the machine.
func (g *Group) LocalQuery(ctx context.Context, fn func(Machine) (any, error)) (any, error) {
	return g.query(ctx, func(gr *group, done func(any, error)) { done(fn(gr.cfg.Machine)) })
}

// LeaderQuery runs fn on this member's machine if it believes it leads,
// and fails with a *NotLeaderError naming the leader otherwise. It does
// not contact the followers, so a leader cut off from its group that has
// not stepped down yet (up to an election timeout, CheckQuorum) answers
// from a state a new leader may have moved past: cheaper than
// ConsistentQuery, not linearizable.
func (g *Group) LeaderQuery(ctx context.Context, fn func(Machine) (any, error)) (any, error) {
	return g.query(ctx, func(gr *group, done func(any, error)) {
		if gr.role != Leader {
			done(nil, &NotLeaderError{Leader: gr.known[gr.leader]})
			return
		}
		done(fn(gr.cfg.Machine))
	})
}

// ConsistentQuery runs fn on this member's machine once it has applied
// everything the group had committed when the query started, as confirmed
// by a quorum (Raft's ReadIndex): linearizable, on any member. Errors:
// ErrNoLeader, ErrTimeout, ErrStopped.
func (g *Group) ConsistentQuery(ctx context.Context, fn func(Machine) (any, error)) (any, error) {
	tag := g.h.nextTag()
	v, err := g.query(ctx, func(gr *group, done func(any, error)) {
		gr.touch()
		if err := gr.canPropose(); err != nil {
			done(nil, err)
			return
		}
		gr.reads[tag] = &readReq{fn: fn, done: done}
		gr.rn.ReadIndex(appendTag(nil, tag))
		gr.h.dirty[gr] = struct{}{}
	})
	if errors.Is(err, ErrTimeout) {
		_ = g.do(func(gr *group) {
			if gr != nil {
				delete(gr.reads, tag)
			}
		})
	}
	return v, err
}

// changeMembership proposes one membership change on the leader and waits
// until it is applied here.
func (g *Group) changeMembership(ctx context.Context, typ pb.ConfChangeType, member string) error {
	if member == "" {
		return fmt.Errorf("%w: empty node name", ErrMembership)
	}
	type out struct{ err error }
	ch := make(chan out, 1)
	tag := g.h.nextTag()
	var state atomic.Int32
	if err := g.do(func(gr *group) {
		if !state.CompareAndSwap(0, 1) {
			return
		}
		done := func(_ Result, err error) { ch <- out{err} }
		if err := g.errOf(gr); err != nil {
			done(Result{}, err)
			return
		}
		if gr.role != Leader {
			done(Result{}, &NotLeaderError{Leader: gr.known[gr.leader]})
			return
		}
		if err := gr.canPropose(); err != nil {
			done(Result{}, err)
			return
		}
		id := nodeID(member)
		voter, learner := false, false
		for _, v := range gr.confState.GetVoters() {
			voter = voter || v == id
		}
		for _, v := range gr.confState.GetLearners() {
			learner = learner || v == id
		}
		switch {
		case typ == pb.ConfChangeAddLearnerNode && (voter || learner):
			done(Result{}, fmt.Errorf("%w: %s is already a member", ErrMembership, member))
			return
		case typ == pb.ConfChangeAddNode && voter:
			done(Result{}, fmt.Errorf("%w: %s is already a voter", ErrMembership, member))
			return
		case typ == pb.ConfChangeRemoveNode && !voter && !learner:
			done(Result{}, fmt.Errorf("%w: %s is not a member", ErrMembership, member))
			return
		case typ == pb.ConfChangeRemoveNode && voter && len(gr.confState.GetVoters()) == 1:
			done(Result{}, fmt.Errorf("%w: %s is the last voter", ErrMembership, member))
			return
		}
		gr.known[id] = member
		cc := &pb.ConfChangeV2{
			Changes: []*pb.ConfChangeSingle{{Type: typ.Enum(), NodeId: proto.Uint64(id)}},
			Context: encodeChangeContext(tag, member),
		}
		gr.touch()
		if err := gr.rn.ProposeConfChange(cc); err != nil {
			done(Result{}, fmt.Errorf("%w: %v", ErrRejected, err))
			return
		}
		gr.pending[tag] = &pending{done: done, deadline: deadlineOf(ctx)}
		gr.h.dirty[gr] = struct{}{}
	}); err != nil {
		return err
	}
	select {
	case o := <-ch:
		return o.err
	case <-ctx.Done():
		if state.CompareAndSwap(0, 2) {
			return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
		}
		_ = g.do(func(gr *group) {
			if gr != nil {
				gr.finish(tag)
			}
		})
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())
	}
}

// AddLearner adds member as a learner: it receives the log but does not
// vote. Run it on the leader (others answer *NotLeaderError). member must
// have started the group with GroupConfig.Join.
func (g *Group) AddLearner(ctx context.Context, member string) error {
	return g.changeMembership(ctx, pb.ConfChangeAddLearnerNode, member)
}

// AddMember adds member as a voter the safe way: first as a learner, then,
// once it has caught up with the leader's log, promoted to voter, so that
// an empty new member never weakens the quorum. Run it on the leader.
func (g *Group) AddMember(ctx context.Context, member string) error {
	if err := g.AddLearner(ctx, member); err != nil && !errors.Is(err, ErrMembership) {
		return err
	}
	if err := g.waitCaughtUp(ctx, member); err != nil {
		return err
	}
	return g.changeMembership(ctx, pb.ConfChangeAddNode, member)
}

// RemoveMember removes a voter or learner. Run it on the leader; a leader
// removing itself steps down once the change is applied.
func (g *Group) RemoveMember(ctx context.Context, member string) error {
	return g.changeMembership(ctx, pb.ConfChangeRemoveNode, member)
}

// waitCaughtUp polls the leader's view of member until it has every
// committed entry.
func (g *Group) waitCaughtUp(ctx context.Context, member string) error {
	id := nodeID(member)
	for {
		v, err := g.query(ctx, func(gr *group, done func(any, error)) {
			if gr.role != Leader {
				done(nil, &NotLeaderError{Leader: gr.known[gr.leader]})
				return
			}
			commit := gr.rn.BasicStatus().GetCommit()
			caught := false
			gr.rn.WithProgress(func(pid uint64, _ raftProgressType, pr tracker.Progress) {
				if pid == id && pr.Match >= commit {
					caught = true
				}
			})
			done(caught, nil)
		})
		if err != nil {
			return err
		}
		if v.(bool) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s did not catch up: %w", ErrTimeout, member, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TransferLeadership asks the leader to hand leadership to member and
// waits until this member sees member lead. Run it on the leader. The
// request is repeated each election timeout while the target is not ready
// (a member that has not yet applied its own promotion refuses).
func (g *Group) TransferLeadership(ctx context.Context, member string) error {
	id := nodeID(member)
	ask := func() error {
		_, err := g.query(ctx, func(gr *group, done func(any, error)) {
			if gr.role != Leader {
				done(nil, &NotLeaderError{Leader: gr.known[gr.leader]})
				return
			}
			if _, ok := gr.members[id]; !ok {
				done(nil, fmt.Errorf("%w: %s is not a member", ErrMembership, member))
				return
			}
			gr.touch()
			gr.rn.TransferLeader(id)
			gr.h.dirty[gr] = struct{}{}
			done(nil, nil)
		})
		return err
	}
	if err := ask(); err != nil {
		return err
	}
	retry := time.Duration(2*g.h.cfg.ElectionTicks) * g.h.cfg.TickInterval
	last := time.Now()
	for g.Leader() != member {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: leadership not transferred: %w", ErrTimeout, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Since(last) > retry && g.Status().Role == Leader {
			last = time.Now()
			if err := ask(); err != nil && !errors.Is(err, ErrNotLeader) {
				return err
			}
		}
	}
	return nil
}

// Stop stops this member (the group goes on on the others) and keeps its
// log, to be restarted with StartGroup.
func (g *Group) Stop() error {
	ch := make(chan struct{})
	if err := g.do(func(gr *group) {
		if gr != nil {
			gr.stopLocked(ErrStopped)
		}
		close(ch)
	}); err != nil {
		return nil
	}
	<-ch
	return nil
}

// Delete stops this member and deletes its log, and returns once the
// deletion is on disk. Remove it from the group first (RemoveMember), or
// the others keep counting it. The deletion is written after every write
// of the group still on its way to the disk, so nothing of the group
// survives it; a group of the same name may be started again once Delete
// returned.
func (g *Group) Delete() error {
	ch := make(chan error, 1)
	if err := g.do(func(gr *group) {
		h := g.h
		id := groupID(g.name)
		if gr == nil {
			if other := h.groups[id]; other != nil {
				ch <- fmt.Errorf("%w: %s runs again under another handle", ErrGroupExists, g.name)
				return
			}
		} else {
			gr.stopLocked(ErrStopped)
		}
		if h.failed != nil {
			ch <- h.failed
			return
		}
		l, err := h.store.Log(id)
		if err != nil {
			ch <- fmt.Errorf("%w: %v", ErrStorage, err)
			return
		}
		h.deleteLog(l, func(err error) { ch <- err })
	}); err != nil {
		return err
	}
	return <-ch
}

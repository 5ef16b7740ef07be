package distsup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grovedev/grove/internal/ownermap"
	"github.com/grovedev/grove/placement"
	"github.com/grovedev/grove/proc"
)

// forwardGrace is how long a handed-off incarnation keeps forwarding after
// every member acknowledged that its record is gone.
const forwardGrace = 200 * time.Millisecond

// ackWait bounds the waits of a drain for acknowledgements it can do
// without.
const ackWait = 2 * time.Second

// Drain hands every child of this node off to other nodes — each child's
// state (Handoffer) and the messages sent to it meanwhile go to its new
// incarnation — and stops placing children here. Call it before leaving
// the cluster (grove node does on SIGTERM). A child that cannot move (no
// other node takes its kind, or the move failed) stays; it is restarted
// elsewhere when this node is gone. Drain returns the errors of the
// children that did not move.
func (s *Supervisor) Drain(ctx context.Context) error {
	if s.draining.Swap(true) {
		return nil
	}
	if _, err := s.callHost(ctx, updateMarker{}); err != nil {
		return err
	}
	// Let the others see this node draining before it moves children, so
	// that they place nothing here meanwhile (a member that is slow to
	// answer does not hold the drain up: a start it places here anyway is
	// refused and placed again).
	wctx, cancel := context.WithTimeout(ctx, ackWait)
	_ = s.m.WaitAcked(wctx)
	cancel()
	return s.moveAll(ctx)
}

// moveAll hands off every child of this node to the nodes the placement
// picks without this one, up to 16 at a time.
func (s *Supervisor) moveAll(ctx context.Context) error {
	v, err := s.callHost(ctx, listLocal{})
	if err != nil {
		return err
	}
	ids := v.([]string)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 16)
	)
	for _, id := range ids {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return errors.Join(append(errs, ctx.Err())...)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := s.handoff(ctx, id, nil); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%q: %w", id, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// rebalanceRound moves up to limit children of this node, one after the
// other, from this node if it runs more than the mean to nodes below the
// mean. The loads are read from the table once and kept up to date with
// the round's own moves, so that a round never moves more than this
// node's excess.
func (s *Supervisor) rebalanceRound(ctx context.Context, limit int) error {
	v, err := s.callHost(ctx, listLocal{})
	if err != nil {
		return err
	}
	loads := map[string]int{}
	s.m.Range(func(e ownermap.Entry) bool {
		if !strings.HasPrefix(e.Key, markerPrefix) {
			loads[e.Ref.Node]++
		}
		return true
	})
	var errs []error
	moved := 0
	for _, id := range v.([]string) {
		if moved >= limit || ctx.Err() != nil {
			break
		}
		switch err := s.handoff(ctx, id, loads); {
		case err == nil:
			moved++
		case errors.Is(err, errStays):
		default:
			errs = append(errs, fmt.Errorf("%q: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// errStays is the outcome of a rebalance that found the child in place.
var errStays = errors.New("distsup: child stays")

// handoff moves one child to the node the placement picks without this
// one. With loads (a rebalance), only to a node below the mean, and only
// from a node above it (else errStays); loads then count the move.
func (s *Supervisor) handoff(ctx context.Context, id string, loads map[string]int) error {
	v, err := s.callHost(ctx, prepareMove{id: id})
	if err != nil {
		return err
	}
	mi := v.(moveInfo)
	abort := func() { _ = s.rt.Send(s.hostPID(), abortMove{id: id}) }
	self := s.nd.Name()
	var target string
	if loads != nil {
		t, ok := s.rebalanceTarget(id, mi.rec, loads)
		if !ok {
			abort()
			return errStays
		}
		target = t
	} else if target, err = s.place(id, mi.rec, s.candidates(mi.rec, self)); err != nil {
		abort()
		return err
	}
	// From here the child holds what it receives.
	sv, err := s.rt.Call(ctx, mi.pid, beginHandoff{})
	if err != nil {
		abort()
		return fmt.Errorf("distsup: begin handoff: %w", err)
	}
	st, _ := sv.(handoffState)
	req := adoptReq{ID: id, Rec: mi.rec, Prev: toWireRef(mi.entry.Ref), Claim: toWireClaim(mi.entry.Claim), HasState: st.has}
	if st.has {
		if req.State, err = s.nd.Codec().Encode(st.state); err != nil {
			_ = s.rt.Send(mi.pid, resumeHere{})
			abort()
			return fmt.Errorf("distsup: handoff state of %q: %w", id, err)
		}
	}
	// In quorum mode the lease goes with the child: given up while the
	// old incarnation holds (it runs nothing), taken by the new one.
	if s.quorum != nil {
		if err := s.quorum.releaseNow(ctx, id); err != nil {
			s.resumeAfterFailedMove(ctx, id, mi.pid)
			return fmt.Errorf("distsup: handoff of %q: lease: %w", id, err)
		}
	}
	rv, err := s.nd.RPC(ctx, target, s.fn+"adopt", req)
	if err != nil {
		s.resumeAfterFailedMove(ctx, id, mi.pid)
		return fmt.Errorf("distsup: handoff to %s: %w", target, err)
	}
	resp, _ := rv.(startResp)
	if resp.PID.IsZero() {
		s.resumeAfterFailedMove(ctx, id, mi.pid)
		return fmt.Errorf("distsup: handoff to %s: no process", target)
	}
	_ = s.rt.Send(mi.pid, forwardTo{pid: resp.PID})
	if _, err := s.callHost(ctx, finishMove{id: id, pid: resp.PID}); err != nil {
		return err
	}
	// The old incarnation forwards until every member stopped resolving
	// the child to it, then ends.
	old := mi.pid
	s.goFunc(func() {
		wctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		_ = s.m.WaitAcked(wctx)
		select {
		case <-time.After(forwardGrace):
		case <-s.ctx.Done():
		}
		s.stopProcess(s.ctx, old, proc.ErrNormal, 5*time.Second)
	})
	return nil
}

// rebalanceTarget says where a rebalance moves child id of this node: a
// child moves only from a node above the mean load of the nodes that can
// take it to one below it (the placement picks among those), so that
// every move narrows the spread and rounds converge instead of passing
// children back and forth.
func (s *Supervisor) rebalanceTarget(id string, rec record, loads map[string]int) (string, bool) {
	self := s.nd.Name()
	cands := s.candidates(rec, "")
	if len(cands) < 2 {
		return "", false
	}
	total, own := 0, -1
	for i, c := range cands {
		c.Load = loads[c.Name]
		cands[i].Load = c.Load
		total += c.Load
		if c.Name == self {
			own = c.Load
		}
	}
	hi := (total + len(cands) - 1) / len(cands) // the mean, rounded up
	if own <= hi {
		return "", false
	}
	under := slices.DeleteFunc(cands, func(c placement.Candidate) bool { return c.Name == self || c.Load >= hi })
	if len(under) == 0 {
		return "", false
	}
	t, err := s.place(id, rec, under)
	if err != nil || t == self {
		return "", false
	}
	loads[self]--
	loads[t]++
	return t, true
}

// resumeAfterFailedMove puts back in service a child whose move failed:
// in quorum mode only if its lease can be taken again, else it stops.
func (s *Supervisor) resumeAfterFailedMove(ctx context.Context, id string, pid proc.PID) {
	if s.quorum != nil {
		if err := s.quorum.acquire(ctx, id); err != nil {
			s.killProcess(pid, fmt.Errorf("%w: %q lost its lease during a failed handoff", ErrNoQuorum, id))
			_ = s.rt.Send(s.hostPID(), abortMove{id: id})
			return
		}
		s.quorum.bind(id, pid)
	}
	_ = s.rt.Send(pid, resumeHere{})
	_ = s.rt.Send(s.hostPID(), abortMove{id: id})
}

// rpcAdopt takes a handed-off child: it starts it here with its
// predecessor's state, as the predecessor's successor in the table.
func (s *Supervisor) rpcAdopt(ctx context.Context, arg any) (any, error) {
	req, ok := arg.(adoptReq)
	if !ok {
		return nil, fmt.Errorf("distsup: adopt with %T", arg)
	}
	st := &handoffState{}
	if req.HasState {
		v, err := s.nd.Codec().Decode(req.State)
		if err != nil {
			return nil, fmt.Errorf("distsup: handoff state of %q: %w", req.ID, err)
		}
		st = &handoffState{state: v, has: true}
	}
	prev := ownermap.Entry{Key: req.ID, Ref: req.Prev.ref(), Claim: req.Claim.claim()}
	v, err := s.callHost(ctx, adoptLocal{id: req.ID, rec: req.Rec, prev: prev, state: st})
	if err != nil {
		return nil, err
	}
	resp := v.(startResp)
	if resp.Existing {
		// A child of this ID runs here already (a copy adopted after a
		// failure): messages go there.
		return resp, nil
	}
	// The old incarnation forwards until its record is gone everywhere, so
	// the move does not wait for the new record to spread; a little
	// spreading first makes the new one the one the others resolve.
	wctx, cancel := context.WithTimeout(ctx, ackWait)
	defer cancel()
	if err := s.m.WaitMajority(wctx); err != nil {
		s.log.Debug("handed-off child not yet acknowledged by a majority", slog.String("id", req.ID), slog.Any("err", err))
	}
	return resp, nil
}

// rebalanceLoop moves children to where the placement now puts them,
// PerRound per Interval.
func (s *Supervisor) rebalanceLoop() {
	t := time.NewTicker(s.cfg.Rebalance.Interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		if s.draining.Load() || !s.m.Complete() {
			continue
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Rebalance.Interval)
		if err := s.rebalanceRound(ctx, s.cfg.Rebalance.PerRound); err != nil {
			s.log.Debug("rebalance round", slog.Any("err", err))
		}
		cancel()
	}
}

package distsup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/grovedev/grove/lease"
	"github.com/grovedev/grove/proc"
)

// Quorum turns on quorum mode: a child runs only on a node that holds its
// lease, granted by a quorum (package lease: a Raft group), so that at
// most one copy of a child runs anywhere, at any time, even across
// partitions.
//
// A node acquires a child's lease before starting it (fresh, adopted or
// handed off) and renews it every Renew; it reckons the lease valid until
// the send time of its last successful acquisition or renewal plus TTL
// minus Margin, by its own clock, and kills the child the moment that
// passes — while the group keeps the lease at least TTL after it
// committed, so it is never handed to another node before. A node cut off
// from the group's quorum therefore stops its children within TTL; the
// side with the quorum restarts them once their leases expired there, so
// failover takes the detection time plus up to TTL. A node that gets its
// lease back (the partition healed before anyone took over) starts its
// children again; one that finds the lease taken drops the child.
//
// The trade-off, in the vocabulary of Akka's split brain resolver: the
// quorum is static — the voters of the lease group, a fixed set — as in
// static-quorum: a side with a majority of them keeps every child, any
// other side stops its children (if no side has the majority, every side
// stops them: down-all); keep-majority, which counts the members of the
// moment, is not offered, because two sides can each count a majority of
// different member lists during a membership change. Availability is what
// is paid: during a partition the children of the minority side are
// unavailable until the majority restarts them, and if the lease group
// loses its quorum every child stops. Safety rests on the usual
// assumption of leases — clocks that advance at nearly the same rate, and
// pauses (GC, a stopped VM) shorter than Margin; a node frozen longer than
// that may run its child a moment after its lease passed, which Margin
// exists to cover.
type Quorum struct {
	// Leases grants the children's leases. Every node in quorum mode needs
	// one; LeaseService adapts a *lease.Service.
	Leases Leaser
	// TTL is a lease's time to live. Default 5 s.
	TTL time.Duration
	// Renew is how often leases are renewed. Default TTL/3.
	Renew time.Duration
	// Margin is how long before the TTL the node considers its lease gone
	// and stops the child. Default TTL/5, at least 200 ms.
	Margin time.Duration
}

// Leaser grants exclusive, time-bounded holds on names, decided by a
// quorum. Acquire fails with an error matching lease.ErrHeld while another
// owner holds the name; the same owner acquiring again keeps it.
// Implementations must be safe for concurrent use.
type Leaser interface {
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (Lease, error)
}

// Lease is a hold a Leaser granted. Renew extends it by its TTL from now,
// failing with an error matching lease.ErrLost once it is gone; Release
// gives it up.
type Lease interface {
	Renew(ctx context.Context) error
	Release(ctx context.Context) error
}

// LeaseService adapts a lease.Service (a Raft group) to Leaser.
func LeaseService(s *lease.Service) Leaser { return leaseService{s} }

type leaseService struct{ s *lease.Service }

func (l leaseService) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (Lease, error) {
	return l.s.Acquire(ctx, name, owner, ttl)
}

var _ Lease = (*lease.Lease)(nil)

func (q Quorum) validate() error {
	switch {
	case q.Leases == nil:
		return errors.New("distsup: Quorum without Leases")
	case q.TTL < 0 || q.Renew < 0 || q.Margin < 0:
		return errors.New("distsup: negative quorum duration")
	}
	q = q.withDefaults()
	if q.Renew >= q.TTL-q.Margin {
		return fmt.Errorf("distsup: quorum Renew %v must be below TTL %v minus Margin %v", q.Renew, q.TTL, q.Margin)
	}
	return nil
}

func (q Quorum) withDefaults() Quorum {
	if q.TTL == 0 {
		q.TTL = 5 * time.Second
	}
	if q.Renew == 0 {
		q.Renew = q.TTL / 3
	}
	if q.Margin == 0 {
		q.Margin = max(q.TTL/5, 200*time.Millisecond)
	}
	return q
}

// quorumState holds this node's leases and watches their validity.
type quorumState struct {
	s     *Supervisor
	q     Quorum
	owner string
	mu    sync.Mutex
	held  map[string]*heldLease
}

type heldLease struct {
	lease Lease
	valid time.Time // by the local monotonic clock
	pid   proc.PID  // the child's process, to kill when the lease passes
	busy  bool      // a renewal in flight
}

func newQuorumState(s *Supervisor) *quorumState {
	rt := s.rt
	return &quorumState{s: s, q: *s.cfg.Quorum, owner: rt.Node() + "#" + strconv.FormatUint(rt.Creation(), 10),
		held: map[string]*heldLease{}}
}

func (q *quorumState) name(id string) string { return "distsup/" + q.s.cfg.Name + "/" + id }

// acquire takes the lease of child id (or keeps it, if held).
func (q *quorumState) acquire(ctx context.Context, id string) error {
	q.mu.Lock()
	h := q.held[id]
	if h != nil && time.Now().Before(h.valid) {
		q.mu.Unlock()
		return nil
	}
	q.mu.Unlock()
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, q.q.Renew)
	defer cancel()
	l, err := q.q.Leases.Acquire(actx, q.name(id), q.owner, q.q.TTL)
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if h = q.held[id]; h == nil {
		h = &heldLease{}
		q.held[id] = h
	}
	h.lease, h.valid = l, start.Add(q.q.TTL-q.q.Margin)
	return nil
}

// bind tells which process runs child id, to be killed if its lease
// passes.
func (q *quorumState) bind(id string, pid proc.PID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if h := q.held[id]; h != nil {
		h.pid = pid
	}
}

// valid reports whether the lease of child id is held and valid.
func (q *quorumState) valid(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	h := q.held[id]
	return h != nil && time.Now().Before(h.valid)
}

// release gives up the lease of child id, in the background.
func (q *quorumState) release(id string) {
	q.mu.Lock()
	h := q.held[id]
	delete(q.held, id)
	q.mu.Unlock()
	if h == nil || h.lease == nil {
		return
	}
	q.s.goFunc(func() {
		ctx, cancel := context.WithTimeout(q.s.ctx, q.q.Renew)
		defer cancel()
		_ = h.lease.Release(ctx)
	})
}

// releaseNow gives up the lease of child id and waits for the group.
func (q *quorumState) releaseNow(ctx context.Context, id string) error {
	q.mu.Lock()
	h := q.held[id]
	delete(q.held, id)
	q.mu.Unlock()
	if h == nil || h.lease == nil {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, q.q.Renew)
	defer cancel()
	return h.lease.Release(rctx)
}

// loop renews the leases and kills the children whose lease passed.
func (q *quorumState) loop() {
	every := min(q.q.Renew/4, 50*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-q.s.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		var expired []string
		q.mu.Lock()
		for id, h := range q.held {
			switch {
			case !now.Before(h.valid):
				if !h.pid.IsZero() {
					// Kill at once, from here: the host may be busy.
					_ = q.s.rt.Exit(h.pid, proc.ErrKill)
					h.pid = proc.PID{}
					q.s.stats.QuorumStops.Add(1)
				}
				expired = append(expired, id)
			case !h.busy && h.lease != nil && h.valid.Sub(now) < q.q.TTL-q.q.Margin-q.q.Renew:
				h.busy = true
				q.renew(id, h)
			}
		}
		q.mu.Unlock()
		if len(expired) > 0 {
			_ = q.s.rt.Send(q.s.hostPID(), leasesPassed{ids: expired})
		}
	}
}

// renew renews one lease in the background. The caller holds q.mu.
func (q *quorumState) renew(id string, h *heldLease) {
	q.s.goFunc(func() {
		start := time.Now()
		ctx, cancel := context.WithTimeout(q.s.ctx, q.q.Renew)
		err := h.lease.Renew(ctx)
		cancel()
		q.mu.Lock()
		defer q.mu.Unlock()
		h.busy = false
		switch {
		case err == nil:
			if q.held[id] == h {
				h.valid = start.Add(q.q.TTL - q.q.Margin)
			}
		case errors.Is(err, lease.ErrLost):
			if q.held[id] == h {
				h.valid = time.Time{} // passes at the next check
				h.lease = nil
			}
		default:
			q.s.log.Debug("lease renewal failed", slog.String("id", id), slog.Any("err", err))
		}
	})
}

type leasesPassed struct{ ids []string }

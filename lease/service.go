package lease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/raft"
)

// DefaultGroup is the Raft group name of the service.
const DefaultGroup = "grove.lease"

// Config describes the service's group.
type Config struct {
	// Group is the Raft group's name. Default DefaultGroup.
	Group string
	// Members and Join: see raft.GroupConfig.
	Members []string
	Join    bool
	// ResolveTimeout bounds a via-name lookup. Default 1 s.
	ResolveTimeout time.Duration
}

// Service is this node's member of the lease group. It is safe for
// concurrent use.
type Service struct {
	g   *raft.Group
	cfg Config
}

// Open starts (or restarts from the host's log) this node's member.
func Open(ctx context.Context, h *raft.Host, cfg Config) (*Service, error) {
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.ResolveTimeout <= 0 {
		cfg.ResolveTimeout = time.Second
	}
	g, err := h.StartGroup(ctx, raft.GroupConfig{Name: cfg.Group, Members: cfg.Members, Join: cfg.Join, Machine: newMachine()})
	if err != nil {
		return nil, err
	}
	return &Service{g: g, cfg: cfg}, nil
}

// Group returns the service's Raft group.
func (s *Service) Group() *raft.Group { return s.g }

// Lease is a held name.
type Lease struct {
	s     *Service
	name  string
	owner string
	token uint64
}

// Name returns the leased name.
func (l *Lease) Name() string { return l.name }

// Token returns the fencing token: greater than the token of every
// earlier holder of the name.
func (l *Lease) Token() uint64 { return l.token }

func (s *Service) command(ctx context.Context, c command) (uint64, error) {
	if c.name == "" || len(c.name) > 1024 || len(c.owner) > 1024 {
		return 0, errors.New("lease: name and owner must be 1 to 1024 bytes")
	}
	res, err := s.g.Command(ctx, c.encode())
	if err != nil {
		var rej *raft.RejectedError
		if errors.As(err, &rej) {
			return 0, rej.Err
		}
		return 0, err
	}
	return res.Reply.(grant).Token, nil
}

// Acquire takes name for owner for ttl. It fails with a *HeldError
// (ErrHeld) while another owner holds it; the same owner acquiring again
// renews and keeps the token. The raft package's errors tell whether it
// happened (raft.ErrUnknownOutcome: it may have).
func (s *Service) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (*Lease, error) {
	return s.acquire(ctx, name, owner, proc.PID{}, ttl)
}

// Register binds name to pid, as a lease owned by the PID that is released
// when the process exits or its node goes down, or when the TTL passes
// without a renewal.
func (s *Service) Register(ctx context.Context, name string, pid proc.PID, ttl time.Duration) (*Lease, error) {
	if pid == (proc.PID{}) {
		return nil, errors.New("lease: Register needs a PID")
	}
	return s.acquire(ctx, name, pid.String(), pid, ttl)
}

func (s *Service) acquire(ctx context.Context, name, owner string, pid proc.PID, ttl time.Duration) (*Lease, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("lease: ttl %v must be positive", ttl)
	}
	tok, err := s.command(ctx, command{kind: cmdAcquire, name: name, owner: owner, pid: pid, ttl: ttl})
	if err != nil {
		return nil, err
	}
	return &Lease{s: s, name: name, owner: owner, token: tok}, nil
}

// Renew extends the lease by its TTL from now; ErrLost if it is no longer
// held under its token.
func (l *Lease) Renew(ctx context.Context) error {
	_, err := l.s.command(ctx, command{kind: cmdRenew, name: l.name, owner: l.owner, token: l.token})
	return err
}

// Release gives the name up; ErrLost if it was no longer held.
func (l *Lease) Release(ctx context.Context) error {
	_, err := l.s.command(ctx, command{kind: cmdRelease, name: l.name, owner: l.owner, token: l.token})
	return err
}

// KeepAlive renews the lease every interval until ctx ends (nil) or the
// lease is lost (ErrLost). Failed renewals that may succeed later (no
// leader, unknown outcome) are retried at the next interval.
func (l *Lease) KeepAlive(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, interval)
		err := l.Renew(rctx)
		cancel()
		if errors.Is(err, ErrLost) {
			return err
		}
	}
}

// Holder is a name's current holder.
type Holder struct {
	Owner string
	PID   proc.PID
	Token uint64
}

// Lookup returns name's holder, linearizably; ok is false if free.
func (s *Service) Lookup(ctx context.Context, name string) (Holder, bool, error) {
	v, err := s.g.ConsistentQuery(ctx, func(m raft.Machine) (any, error) {
		h, ok := m.(*machine).names[name]
		if !ok {
			return nil, nil
		}
		return Holder{Owner: h.Owner, PID: h.PID, Token: h.Token}, nil
	})
	if err != nil || v == nil {
		return Holder{}, false, err
	}
	return v.(Holder), true, nil
}

// WhereIs implements proc.Resolver for names bound with Register: it
// reads linearizably, waiting at most Config.ResolveTimeout, and answers
// false when the name is free, bound to no process, or the group cannot
// answer in time.
func (s *Service) WhereIs(key any) (proc.PID, bool) {
	name, ok := key.(string)
	if !ok {
		return proc.PID{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ResolveTimeout)
	defer cancel()
	h, ok, err := s.Lookup(ctx, name)
	if err != nil || !ok || h.PID == (proc.PID{}) {
		return proc.PID{}, false
	}
	return h.PID, true
}

var _ proc.Resolver = (*Service)(nil)

// Via returns the via name of a registered name, for sends and calls.
func (s *Service) Via(name string) proc.Via { return proc.Via{Registry: s, Key: name} }

package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/grovedev/grove/eventstore"
	"github.com/jackc/pgx/v5"
)

var _ eventstore.Locker = (*Store)(nil)

// Lease is a named lease held in the leases table: one owner at a time,
// with a token that grows with every change of owner (a fencing token). The
// store renews it every third of Config.LeaseTTL; it is lost when a renewal
// finds another owner, or when no renewal has succeeded for most of the TTL
// (the database may then hand it to another process). Lease implements
// eventstore.Checkpoints with fenced writes.
type Lease struct {
	s     *Store
	name  string
	token int64
	lost  chan struct{}
	once  sync.Once
	stop  chan struct{}
	done  chan struct{}
	relMu sync.Once
}

var (
	_ eventstore.Lease       = (*Lease)(nil)
	_ eventstore.Checkpoints = (*Lease)(nil)
)

// Owner returns the identity this store holds leases under.
func (s *Store) Owner() string { return s.owner }

// Acquire implements eventstore.Locker: it blocks until this store holds
// the lease named name (taking it over once its owner let it expire), or
// ctx ends.
func (s *Store) Acquire(ctx context.Context, name string) (eventstore.Lease, error) {
	ttl := s.cfg.LeaseTTL
	for {
		if err := s.check(ctx); err != nil {
			return nil, err
		}
		var token int64
		err := s.pool.QueryRow(ctx, `INSERT INTO `+s.cfg.Schema+`.leases AS l (name, owner, token, expires)
			VALUES ($1, $2, 1, now() + $3::interval)
			ON CONFLICT (name) DO UPDATE SET owner = $2, token = l.token + 1, expires = now() + $3::interval
			WHERE l.expires < now() OR l.owner = $2
			RETURNING token`, name, s.owner, ttl.String()).Scan(&token)
		switch {
		case err == nil:
			l := &Lease{s: s, name: name, token: token, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
			go l.renew(time.Now())
			return l, nil
		case !errors.Is(err, pgx.ErrNoRows):
			s.cfg.Logger.Warn("pgstore: acquiring a lease failed", "lease", name, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.ctx.Done():
			return nil, eventstore.ErrClosed
		case <-time.After(ttl / 5):
		}
	}
}

// Token returns the lease's fencing token.
func (l *Lease) Token() int64 { return l.token }

// Lost implements eventstore.Lease.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

func (l *Lease) markLost() { l.once.Do(func() { close(l.lost) }) }

func (l *Lease) renew(since time.Time) {
	defer close(l.done)
	ttl := l.s.cfg.LeaseTTL
	valid := since.Add(ttl * 4 / 5) // renewals start before the database's clock does
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-l.s.ctx.Done():
			l.markLost()
			return
		case <-t.C:
		}
		start := time.Now()
		ctx, cancel := context.WithDeadline(l.s.ctx, valid)
		tag, err := l.s.pool.Exec(ctx, `UPDATE `+l.s.cfg.Schema+`.leases SET expires = now() + $4::interval
			WHERE name = $1 AND owner = $2 AND token = $3`, l.name, l.s.owner, l.token, ttl.String())
		cancel()
		switch {
		case err == nil && tag.RowsAffected() == 1:
			valid = start.Add(ttl * 4 / 5)
		case err == nil:
			l.markLost() // taken over
			return
		case time.Now().After(valid):
			l.markLost()
			return
		}
	}
}

// Release implements eventstore.Lease: it stops renewing and deletes the
// lease if this store still holds it, so another process can take it at
// once.
func (l *Lease) Release(ctx context.Context) error {
	var err error
	l.relMu.Do(func() {
		close(l.stop)
		<-l.done
		l.markLost()
		if l.s.closed.Load() {
			return
		}
		_, err = l.s.pool.Exec(ctx, `DELETE FROM `+l.s.cfg.Schema+`.leases WHERE name = $1 AND owner = $2 AND token = $3`,
			l.name, l.s.owner, l.token)
		if err != nil {
			err = fmt.Errorf("pgstore: releasing lease %s: %w", l.name, err)
		}
	})
	return err
}

// leaseHeld is the fence: a row only while this lease is current, locked
// against a takeover until the statement's transaction ends.
func (l *Lease) leaseHeld() string {
	return `SELECT 1 FROM ` + l.s.cfg.Schema + `.leases WHERE name = $3 AND owner = $4 AND token = $5 AND expires > now() FOR SHARE`
}

// CheckTx fences tx: it fails with eventstore.ErrLeaseLost unless the lease
// is still held, and holds off a takeover until tx ends. A handler that
// commits its work and checkpoint in tx calls it first.
func (l *Lease) CheckTx(ctx context.Context, tx pgx.Tx) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM `+l.s.cfg.Schema+`.leases WHERE name = $1 AND owner = $2 AND token = $3 AND expires > now() FOR SHARE`,
		l.name, l.s.owner, l.token).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		l.markLost()
		return eventstore.ErrLeaseLost
	}
	return err
}

// LoadCheckpoint implements eventstore.Checkpoints.
func (l *Lease) LoadCheckpoint(ctx context.Context, name string) (uint64, bool, error) {
	return l.s.LoadCheckpoint(ctx, name)
}

// SaveCheckpoint implements eventstore.Checkpoints, fenced: it fails with
// eventstore.ErrLeaseLost once another process holds the lease.
func (l *Lease) SaveCheckpoint(ctx context.Context, name string, pos uint64) error {
	tag, err := l.s.pool.Exec(ctx, `INSERT INTO `+l.s.cfg.Schema+`.checkpoints AS c (name, position)
		SELECT $1, $2 WHERE EXISTS (`+l.leaseHeld()+`)
		ON CONFLICT (name) DO UPDATE SET position = $2 WHERE EXISTS (`+l.leaseHeld()+`)`,
		name, clampInt64(pos), l.name, l.s.owner, l.token)
	if err != nil {
		return l.s.mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		l.markLost()
		return eventstore.ErrLeaseLost
	}
	return nil
}

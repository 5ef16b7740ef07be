package eventstore

import (
	"context"
	"errors"
)

// Locker grants named locks that one process at a time holds, for
// subscriptions and handlers that must run on exactly one node.
// pgstore.Store implements it with leases in the database.
//
// Acquire blocks until the lock is held or ctx ends. Implementations must
// be safe for concurrent use.
type Locker interface {
	Acquire(ctx context.Context, name string) (Lease, error)
}

// Lease is a held lock. Lost is closed when the holder may no longer act as
// the owner (the lease expired or was taken over); Release gives it up.
// A lease that also implements Checkpoints writes checkpoints only while
// it is still the owner (fencing); subscriptions use it for theirs.
//
// ErrLeaseLost is what fenced writes of a lost lease return.
type Lease interface {
	Lost() <-chan struct{}
	Release(ctx context.Context) error
}

// ErrLeaseLost: the lease expired or was taken over; the write was refused.
var ErrLeaseLost = errors.New("eventstore: lease lost")

package memstore

import (
	"context"
	"sync"

	"github.com/grovedev/grove/eventstore"
)

// Locker returns a Locker whose leases are held under owner: the leases of
// one memory store, shared by the in-process "nodes" that use it (tests of
// exactly-one behaviour). A lease is held until released or the store
// closes; it never expires.
func (s *Store) Locker(owner string) eventstore.Locker { return &locker{s: s, owner: owner} }

type locker struct {
	s     *Store
	owner string
}

type lease struct {
	s    *Store
	name string
	lost chan struct{}
	once sync.Once
}

func (l *lease) Lost() <-chan struct{} { return l.lost }

func (l *lease) Release(context.Context) error {
	l.once.Do(func() {
		l.s.leaseMu.Lock()
		if l.s.leases[l.name] == l {
			delete(l.s.leases, l.name)
		}
		l.s.leaseMu.Unlock()
		close(l.lost)
		l.s.leaseCond.Broadcast()
	})
	return nil
}

// Acquire implements eventstore.Locker.
func (k *locker) Acquire(ctx context.Context, name string) (eventstore.Lease, error) {
	s := k.s
	stop := context.AfterFunc(ctx, func() {
		s.leaseMu.Lock()
		s.leaseCond.Broadcast()
		s.leaseMu.Unlock()
	})
	defer stop()
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	if s.leases == nil {
		s.leases = map[string]*lease{}
	}
	for s.leases[name] != nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if s.isClosed() {
			return nil, eventstore.ErrClosed
		}
		s.leaseCond.Wait()
	}
	l := &lease{s: s, name: name, lost: make(chan struct{})}
	s.leases[name] = l
	return l, nil
}

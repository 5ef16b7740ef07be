package memstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/memstore"
	"github.com/grovedev/grove/eventstore/storetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store { return memstore.New() })
}

func TestLocker(t *testing.T) {
	s := memstore.New()
	ctx := context.Background()
	a, err := s.Locker("a").Acquire(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.Locker("b").Acquire(short, "job"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second holder: %v", err)
	}
	got := make(chan error, 1)
	go func() {
		l, err := s.Locker("b").Acquire(ctx, "job")
		if err == nil {
			l.Release(ctx)
		}
		got <- err
	}()
	a.Release(ctx)
	a.Release(ctx)
	select {
	case <-a.Lost():
	default:
		t.Fatal("released lease not lost")
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// Close wakes waiters.
	c, _ := s.Locker("a").Acquire(ctx, "job")
	defer c.Release(ctx)
	go func() { time.Sleep(10 * time.Millisecond); s.Close() }()
	if _, err := s.Locker("b").Acquire(ctx, "job"); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("acquire on a closed store: %v", err)
	}
}

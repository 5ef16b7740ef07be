package eventsourcing_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/eventsourcing"
	"github.com/grovedev/grove/eventstore/memstore"
	"github.com/grovedev/grove/eventstore/subscription"
	"github.com/grovedev/grove/internal/testutil"
)

// TestHandlerStartFromBatchingAndErrors covers the handler options one by
// one: StartFrom (a position, and FromEnd), BatchSize (no batch larger),
// OnError Retry (the failed batch comes again, nothing skipped, nothing
// handled twice once it succeeds) and OnError Stop (the handler stops and
// says why; its checkpoint stays before the failed batch).
func TestHandlerStartFromBatchingAndErrors(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	app := newApp(t, s, counterKind)
	ctx := context.Background()
	var positions []uint64
	for i := range 20 {
		r, err := app.Dispatch(ctx, Add{ID: fmt.Sprint(i % 3), N: 1})
		if err != nil {
			t.Fatal(err)
		}
		positions = append(positions, r.Position)
	}

	t.Run("StartFromAndBatchSize", func(t *testing.T) {
		var mu sync.Mutex
		var got []uint64
		maxBatch := 0
		h, err := app.StartBatchHandler(ctx, eventsourcing.HandlerConfig{Name: "from", StartFrom: positions[5], BatchSize: 4},
			func(_ context.Context, evs []eventsourcing.Event) error {
				mu.Lock()
				defer mu.Unlock()
				maxBatch = max(maxBatch, len(evs))
				for _, e := range evs {
					got = append(got, e.Recorded.Position)
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		testutil.Eventually(t, 20*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(got) < 15 {
				return fmt.Errorf("%d handled", len(got))
			}
			return nil
		})
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(got) != fmt.Sprint(positions[5:]) || maxBatch > 4 {
			t.Fatalf("handled %v (largest batch %d), want %v in batches of at most 4", got, maxBatch, positions[5:])
		}
	})

	t.Run("FromEnd", func(t *testing.T) {
		seen := make(chan uint64, 100)
		h, err := app.StartHandler(ctx, eventsourcing.HandlerConfig{Name: "end", StartFrom: subscription.FromEnd, PollInterval: 20 * time.Millisecond},
			func(_ context.Context, e eventsourcing.Event) error { seen <- e.Recorded.Position; return nil })
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		// The handler starts at the head it found; an event appended once
		// it runs is the first it sees.
		testutil.Eventually(t, 20*time.Second, func() error {
			if h.Position() < positions[19] {
				return fmt.Errorf("at %d", h.Position())
			}
			return nil
		})
		r, err := app.Dispatch(ctx, Add{ID: "new", N: 1})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-seen:
			if p != r.Position {
				t.Fatalf("first event seen at %d, want %d (appended after start)", p, r.Position)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the new event never came")
		}
		positions = append(positions, r.Position)
	})

	t.Run("Retry", func(t *testing.T) {
		var mu sync.Mutex
		count := map[uint64]int{}
		failures := 0
		h, err := app.StartBatchHandler(ctx, eventsourcing.HandlerConfig{Name: "retry", BatchSize: 5, OnError: subscription.Retry},
			func(_ context.Context, evs []eventsourcing.Event) error {
				mu.Lock()
				defer mu.Unlock()
				if evs[0].Recorded.Position == positions[10] && failures < 3 {
					failures++
					return errors.New("not yet")
				}
				for _, e := range evs {
					count[e.Recorded.Position]++
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		testutil.Eventually(t, 30*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(count) < len(positions) {
				return fmt.Errorf("%d of %d handled", len(count), len(positions))
			}
			return nil
		})
		mu.Lock()
		defer mu.Unlock()
		for _, p := range positions {
			if count[p] != 1 {
				t.Fatalf("event at %d handled %d times", p, count[p])
			}
		}
		if failures != 3 {
			t.Fatalf("%d failures, want 3", failures)
		}
	})

	t.Run("Stop", func(t *testing.T) {
		boom := errors.New("boom")
		h, err := app.StartBatchHandler(ctx, eventsourcing.HandlerConfig{Name: "stop", BatchSize: 5, OnError: subscription.Stop},
			func(_ context.Context, evs []eventsourcing.Event) error {
				if evs[0].Recorded.Position == positions[10] {
					return boom
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		select {
		case <-h.Done():
		case <-time.After(20 * time.Second):
			t.Fatal("the handler did not stop")
		}
		if !errors.Is(h.Err(), boom) {
			t.Fatalf("stopped with %v, want %v", h.Err(), boom)
		}
		if h.Position() != positions[9] {
			t.Fatalf("stopped at %d, want %d (the last handled before the failed batch)", h.Position(), positions[9])
		}
		cp, ok, err := s.LoadCheckpoint(ctx, eventsourcing.CheckpointName("stop"))
		if err != nil || (ok && cp >= positions[10]) {
			t.Fatalf("checkpoint %d %v %v passes the failed batch at %d", cp, ok, err, positions[10])
		}
	})
}

package subscription_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/memstore"
	"github.com/grovedev/grove/eventstore/subscription"
	"github.com/grovedev/grove/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}

var quiet = slog.New(slog.DiscardHandler)

// collector is a handler that records what it got.
type collector struct {
	mu  sync.Mutex
	evs []eventstore.RecordedEvent
}

func (c *collector) handle(_ context.Context, evs []eventstore.RecordedEvent) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, evs...)
	return nil
}

func (c *collector) datas() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.evs))
	for i, e := range c.evs {
		out[i] = string(e.Data)
	}
	return out
}

func (c *collector) waitLen(t *testing.T, n int) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		if got := len(c.datas()); got != n {
			return fmt.Errorf("handled %d events, want %d", got, n)
		}
		return nil
	})
}

func appendN(t *testing.T, s eventstore.Store, stream string, from, n int) eventstore.AppendResult {
	t.Helper()
	var r eventstore.AppendResult
	for i := from; i < from+n; i++ {
		var err error
		if r, err = s.Append(context.Background(), stream, eventstore.Any, eventstore.EventData{Type: "T", Data: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func start(t *testing.T, s eventstore.Store, cfg subscription.Config, h subscription.Handler) *subscription.Subscription {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	sub, err := subscription.Start(context.Background(), s, cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return sub
}

func TestTransientCatchUpAndFollow(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	appendN(t, s, "a", 0, 5)
	var c collector
	sub := start(t, s, subscription.Config{BatchSize: 2}, c.handle)
	c.waitLen(t, 5)
	r := appendN(t, s, "b", 5, 5)
	if err := sub.WaitFor(context.Background(), r.Position); err != nil {
		t.Fatal(err)
	}
	got := c.datas()
	for i, d := range got {
		if d != fmt.Sprint(i) {
			t.Fatalf("event %d is %s: %v", i, d, got)
		}
	}
	if len(got) != 10 || sub.Position() != r.Position {
		t.Fatalf("got %v, position %d", got, sub.Position())
	}
}

func TestFromPositionAndEnd(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	appendN(t, s, "a", 0, 5)
	var c, e collector
	start(t, s, subscription.Config{From: 4}, c.handle)
	start(t, s, subscription.Config{From: subscription.FromEnd}, e.handle)
	c.waitLen(t, 2)
	appendN(t, s, "a", 5, 1)
	e.waitLen(t, 1)
	c.waitLen(t, 3)
	if got := e.datas(); got[0] != "5" {
		t.Fatalf("FromEnd got %v", got)
	}
}

func TestPersistentResumesAfterCheckpoint(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	appendN(t, s, "a", 0, 4)
	var c collector
	sub := start(t, s, subscription.Config{Name: "proj"}, c.handle)
	c.waitLen(t, 4)
	sub.Close()
	if p, ok, _ := s.LoadCheckpoint(context.Background(), "proj"); !ok || p != 4 {
		t.Fatalf("checkpoint %d %v", p, ok)
	}
	appendN(t, s, "a", 4, 3)
	var c2 collector
	start(t, s, subscription.Config{Name: "proj"}, c2.handle)
	c2.waitLen(t, 3)
	if got := c2.datas(); got[0] != "4" {
		t.Fatalf("resumed with %v", got)
	}
}

// TestHandlerErrorRetriesSameBatch fails the handler twice: the same batch
// comes again and nothing is skipped or checkpointed meanwhile.
func TestHandlerErrorRetriesSameBatch(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	appendN(t, s, "a", 0, 3)
	var fails atomic.Int32
	var c collector
	start(t, s, subscription.Config{Name: "p", MaxBackoff: 20 * time.Millisecond}, func(ctx context.Context, evs []eventstore.RecordedEvent) error {
		if fails.Add(1) <= 2 {
			if p, _, _ := s.LoadCheckpoint(ctx, "p"); p != 0 {
				return fmt.Errorf("checkpoint moved to %d before the batch was handled", p)
			}
			return errors.New("boom")
		}
		return c.handle(ctx, evs)
	})
	c.waitLen(t, 3)
}

func TestStopPolicy(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	appendN(t, s, "a", 0, 1)
	sub := start(t, s, subscription.Config{OnError: subscription.Stop}, func(context.Context, []eventstore.RecordedEvent) error {
		return errors.New("boom")
	})
	select {
	case <-sub.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop")
	}
	if err := sub.Err(); err == nil {
		t.Fatal("no error")
	}
	if err := sub.WaitFor(context.Background(), 1); err == nil {
		t.Fatal("WaitFor on a stopped subscription returned nil")
	}
}

// deaf hides the store's wake-ups: the subscription must poll.
type deaf struct{ eventstore.Store }

func (deaf) Watch() (<-chan struct{}, func()) { return make(chan struct{}), func() {} }

func TestMissedWakeUpsLoseNothing(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	var c collector
	start(t, deaf{s}, subscription.Config{PollInterval: 20 * time.Millisecond}, c.handle)
	appendN(t, s, "a", 0, 3)
	c.waitLen(t, 3)
}

func TestFilter(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	appendN(t, s, "a", 0, 2)
	appendN(t, s, "b", 2, 2)
	r := appendN(t, s, "a", 4, 1)
	var c collector
	sub := start(t, s, subscription.Config{Filter: func(e eventstore.RecordedEvent) bool { return e.StreamID == "a" }}, c.handle)
	if err := sub.WaitFor(context.Background(), r.Position); err != nil {
		t.Fatal(err)
	}
	if got := c.datas(); len(got) != 3 || got[2] != "4" {
		t.Fatalf("filtered %v", got)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []subscription.Config{{BatchSize: -1}, {PollInterval: -1}, {HandlerCheckpoints: true}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	// A persistent subscription on a store without checkpoints.
	if _, err := subscription.Start(context.Background(), deafNoCk{}, subscription.Config{Name: "x"}, nil); err == nil {
		t.Error("persistent subscription without checkpoints started")
	}
}

type deafNoCk struct{ eventstore.Store }

func TestCloseCancelsHandler(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	appendN(t, s, "a", 0, 1)
	entered := make(chan struct{})
	sub := start(t, s, subscription.Config{}, func(ctx context.Context, _ []eventstore.RecordedEvent) error {
		close(entered)
		<-ctx.Done()
		return ctx.Err()
	})
	<-entered
	sub.Close()
	sub.Close()
}

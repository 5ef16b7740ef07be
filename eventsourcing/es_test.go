package eventsourcing_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/eventsourcing"
	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/memstore"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/grovedev/grove/node/internal/frame.(*Writer).loop"),
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

var quiet = slog.New(slog.DiscardHandler)

// A counter aggregate: Add adds, refused below zero.
type Add struct {
	ID string
	N  int
}
type Added struct{ N int }

// Stamp records how many events the counter had seen when it decided
// (Stamped.Seen), so that a decision made on stale state shows.
type Stamp struct{ ID string }
type Stamped struct{ Seen int }

type Counter struct {
	N int
}

var errNegative = errors.New("would go negative")

func (c *Counter) Execute(cmd any) ([]any, error) {
	switch cmd := cmd.(type) {
	case Stamp:
		return []any{Stamped{Seen: c.N}}, nil
	case Add:
		if c.N+cmd.N < 0 {
			return nil, errNegative
		}
		if cmd.N == 0 {
			return nil, nil
		}
		return []any{Added{N: cmd.N}}, nil
	}
	return nil, fmt.Errorf("unknown command %T", cmd)
}

func (c *Counter) Apply(e any) {
	switch e := e.(type) {
	case Added:
		c.N += e.N
	case Stamped:
		c.N++
	}
}

var counterKind = eventsourcing.Kind{Name: "counter", New: func(string) eventsourcing.Aggregate { return &Counter{} }, SnapshotEvery: 3}

func types() *eventsourcing.Types {
	t := eventsourcing.NewTypes()
	eventsourcing.Register[Added](t, "Added")
	eventsourcing.Register[Stamped](t, "Stamped")
	return t
}

func newApp(t *testing.T, store eventstore.Store, k eventsourcing.Kind, mw ...eventsourcing.Middleware) *eventsourcing.App {
	t.Helper()
	rt, err := proc.New(proc.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	app, err := eventsourcing.New(eventsourcing.Config{Store: store, Types: types(), Runtime: rt, Middleware: mw, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := eventsourcing.Route(app, k, func(c Add) string { return c.ID }); err != nil {
		t.Fatal(err)
	}
	return app
}

func TestDispatchAndRefuse(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	app := newApp(t, s, counterKind)
	ctx := context.Background()
	for i := 1; i <= 4; i++ {
		r, err := app.Dispatch(ctx, Add{ID: "a", N: 2}, eventsourcing.ReturnState())
		if err != nil {
			t.Fatal(err)
		}
		if r.Version != uint64(i) || r.Aggregate.(*Counter).N != 2*i || len(r.Events) != 1 {
			t.Fatalf("dispatch %d: %+v", i, r)
		}
	}
	if _, err := app.Dispatch(ctx, Add{ID: "a", N: -100}); !errors.Is(err, errNegative) {
		t.Fatalf("refusal: %v", err)
	}
	// A refused command leaves nothing; a command with no events too.
	r, err := app.Dispatch(ctx, Add{ID: "a", N: 0})
	if err != nil || r.Version != 4 || r.Position != 0 {
		t.Fatalf("empty command: %+v %v", r, err)
	}
	if _, err := app.Dispatch(ctx, "not routed"); !errors.Is(err, eventsourcing.ErrNoRoute) {
		t.Fatalf("no route: %v", err)
	}
	if _, err := app.Dispatch(ctx, Add{N: 1}); !errors.Is(err, eventsourcing.ErrNoIdentity) {
		t.Fatalf("no identity: %v", err)
	}
	evs, _ := s.ReadStream(ctx, "counter-a", 1, 10, eventstore.Forward)
	if len(evs) != 4 || evs[0].Type != "Added" {
		t.Fatalf("stream %+v", evs)
	}
	var meta eventsourcing.Metadata
	ev, err := app.Types().Decode(evs[0])
	if meta = ev.Metadata; err != nil || meta[eventsourcing.MetaCorrelationID] == "" || meta[eventsourcing.MetaCommandID] == "" {
		t.Fatalf("metadata %v %v", meta, err)
	}
	// Snapshot every 3 events.
	snap, err := s.LoadSnapshot(ctx, "counter-a")
	if err != nil || snap.Version != 3 {
		t.Fatalf("snapshot %+v %v", snap, err)
	}
}

// TestRacingNodesRetry runs two applications (two nodes) on one store: each
// has its own instance of the same aggregate, so their appends race; the
// loser decides again on the newer state and no increment is lost.
func TestRacingNodesRetry(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	k := counterKind
	k.Retries = 1000
	apps := []*eventsourcing.App{newApp(t, s, k), newApp(t, s, k)}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := apps[i%2].Dispatch(context.Background(), Add{ID: "race", N: 1}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	agg, v, err := apps[0].AggregateAt(context.Background(), k, "race", eventstore.End)
	if err != nil || agg.(*Counter).N != 40 || v != 40 {
		t.Fatalf("counter %+v at %d, %v", agg, v, err)
	}
}

func TestLifespanStopsAndReloads(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	k := counterKind
	k.Lifespan = 20 * time.Millisecond
	rt, _ := proc.New(proc.Config{Logger: slog.New(slog.DiscardHandler)})
	defer rt.Close(context.Background())
	app, _ := eventsourcing.New(eventsourcing.Config{Store: s, Types: types(), Runtime: rt})
	eventsourcing.Route(app, k, func(c Add) string { return c.ID })
	ctx := context.Background()
	for i := range 5 {
		if _, err := app.Dispatch(ctx, Add{ID: fmt.Sprint(i), N: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if n := rt.NumProcesses(); n != 5 {
		t.Fatalf("%d processes, want 5", n)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := rt.NumProcesses(); n != 0 {
			return fmt.Errorf("%d aggregate processes still running", n)
		}
		return nil
	})
	r, err := app.Dispatch(ctx, Add{ID: "0", N: 1}, eventsourcing.ReturnState())
	if err != nil || r.Aggregate.(*Counter).N != 2 {
		t.Fatalf("after reload %+v %v", r, err)
	}
}

func TestMiddlewareOrderAndRefusal(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	var order []string
	mw := func(name string) eventsourcing.Middleware {
		return func(next eventsourcing.DispatchFunc) eventsourcing.DispatchFunc {
			return func(ctx context.Context, c *eventsourcing.Command) (eventsourcing.Result, error) {
				order = append(order, name)
				c.Metadata["user"] = "ann"
				if c.Command.(Add).N > 100 {
					return eventsourcing.Result{}, errors.New("too big")
				}
				return next(ctx, c)
			}
		}
	}
	app := newApp(t, s, counterKind, mw("outer"), mw("inner"))
	ctx := context.Background()
	if _, err := app.Dispatch(ctx, Add{ID: "m", N: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Dispatch(ctx, Add{ID: "m", N: 1000}); err == nil {
		t.Fatal("middleware did not refuse")
	}
	if fmt.Sprint(order) != "[outer inner outer]" {
		t.Fatalf("order %v", order)
	}
	evs, _ := s.ReadStream(ctx, "counter-m", 1, 10, eventstore.Forward)
	ev, _ := app.Types().Decode(evs[0])
	if len(evs) != 1 || ev.Metadata["user"] != "ann" {
		t.Fatalf("events %+v, metadata %v", evs, ev.Metadata)
	}
}

// TestStrongConsistency: a strong dispatch returns only after the handler
// has seen its events.
func TestStrongConsistency(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	app := newApp(t, s, counterKind)
	ctx := context.Background()
	var total atomic.Int64
	h, err := app.StartHandler(ctx, eventsourcing.HandlerConfig{Name: "sum", Strong: true, PollInterval: time.Hour},
		func(_ context.Context, e eventsourcing.Event) error {
			time.Sleep(time.Millisecond) // a slow read model
			total.Add(int64(e.Data.(Added).N))
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for i := 1; i <= 10; i++ {
		if _, err := app.Dispatch(ctx, Add{ID: "s", N: 1}, eventsourcing.WithConsistency(eventsourcing.Strong)); err != nil {
			t.Fatal(err)
		}
		if got := total.Load(); got != int64(i) {
			t.Fatalf("after strong dispatch %d the handler has %d", i, got)
		}
	}
	if _, err := app.Dispatch(ctx, Add{ID: "s", N: 1}, eventsourcing.WithConsistency(eventsourcing.Strong, "sum")); err != nil {
		t.Fatal(err)
	}
	if total.Load() != 11 {
		t.Fatal("named strong handler not waited for")
	}
	// A handler unknown here is followed through its checkpoint.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := app.Dispatch(short, Add{ID: "s", N: 1}, eventsourcing.WithConsistency(eventsourcing.Strong, "elsewhere")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unknown handler: %v", err)
	}
}

func TestHandlerConcurrencyKeepsPartitionOrder(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	app := newApp(t, s, counterKind)
	ctx := context.Background()
	for i := range 50 {
		if _, err := app.Dispatch(ctx, Add{ID: fmt.Sprint(i % 5), N: i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	last := map[string]uint64{}
	var n atomic.Int32
	h, err := app.StartHandler(ctx, eventsourcing.HandlerConfig{Name: "par", Concurrency: 4},
		func(_ context.Context, e eventsourcing.Event) error {
			mu.Lock()
			defer mu.Unlock()
			if e.Recorded.Version != last[e.Recorded.StreamID]+1 {
				t.Errorf("%s@%d after %d", e.Recorded.StreamID, e.Recorded.Version, last[e.Recorded.StreamID])
			}
			last[e.Recorded.StreamID] = e.Recorded.Version
			n.Add(1)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	testutil.Eventually(t, 10*time.Second, func() error {
		if n.Load() != 50 {
			return fmt.Errorf("%d handled", n.Load())
		}
		return nil
	})
}

// TestTimeTravel rebuilds the aggregate and a projection as they were at
// past points.
func TestTimeTravel(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	app := newApp(t, s, counterKind)
	ctx := context.Background()
	var positions []uint64
	for i := 1; i <= 6; i++ {
		r, err := app.Dispatch(ctx, Add{ID: "tt", N: i})
		if err != nil {
			t.Fatal(err)
		}
		positions = append(positions, r.Position)
	}
	for v, want := range map[uint64]int{0: 0, 1: 1, 2: 3, 4: 10, 6: 21} {
		agg, at, err := app.AggregateAt(ctx, counterKind, "tt", v)
		if err != nil || agg.(*Counter).N != want || at != v {
			t.Fatalf("at version %d: %+v (version %d) %v, want %d", v, agg, at, err, want)
		}
	}
	sum := 0
	last, err := app.Replay(ctx, 0, positions[2], func(_ context.Context, e eventsourcing.Event) error {
		sum += e.Data.(Added).N
		return nil
	})
	if err != nil || sum != 6 || last != positions[2] {
		t.Fatalf("replay to %d: sum %d last %d %v", positions[2], sum, last, err)
	}
}

// TestRetriedCommandAppliedOnce dispatches commands again with the same
// command id — to the running instance, and to another application's
// instance on the same store, loaded from a snapshot —: each
// is answered with its first result, and the stream holds it once. Past
// RememberCommands events, an old id is forgotten.
func TestRetriedCommandAppliedOnce(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	k := counterKind // a snapshot every 3 events
	k.RememberCommands = 5
	a, b := newApp(t, s, k), newApp(t, s, k)
	ctx := context.Background()
	with := func(id string) eventsourcing.Option {
		return eventsourcing.WithMetadata(eventsourcing.Metadata{eventsourcing.MetaCommandID: id})
	}
	first, err := a.Dispatch(ctx, Add{ID: "r", N: 5}, with("c1"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 4; i++ {
		if _, err := a.Dispatch(ctx, Add{ID: "r", N: 1}, with(fmt.Sprint("c", i))); err != nil {
			t.Fatal(err)
		}
	}
	check := func(app *eventsourcing.App, when string) {
		t.Helper()
		again, err := app.Dispatch(ctx, Add{ID: "r", N: 5}, with("c1"), eventsourcing.ReturnState())
		if err != nil {
			t.Fatal(err)
		}
		if again.Version != first.Version || again.Position != first.Position || len(again.Events) != 1 ||
			again.Events[0].(Added).N != 5 || again.Aggregate.(*Counter).N != 8 {
			t.Fatalf("%s: %+v, first %+v", when, again, first)
		}
	}
	check(a, "the running instance")
	check(b, "another node's instance, loaded from the snapshot at 3")
	evs, _ := s.ReadStream(ctx, "counter-r", 1, 100, eventstore.Forward)
	if len(evs) != 4 {
		t.Fatalf("%d events, want 4", len(evs))
	}
	// Ids are derived from the command: a retried append carries the
	// same ones.
	if evs[0].ID == "" || evs[0].ID == evs[1].ID {
		t.Fatalf("event ids %q %q", evs[0].ID, evs[1].ID)
	}
	for i := 5; i <= 10; i++ {
		if _, err := a.Dispatch(ctx, Add{ID: "r", N: 1}, with(fmt.Sprint("c", i))); err != nil {
			t.Fatal(err)
		}
	}
	r, err := a.Dispatch(ctx, Add{ID: "r", N: 5}, with("c1"))
	if err != nil || r.Version != 11 {
		t.Fatalf("a forgotten command id: %+v %v, want it applied as new", r, err)
	}
}

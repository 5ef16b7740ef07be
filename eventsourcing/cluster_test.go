package eventsourcing_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/eventsourcing"
	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/memstore"
	"github.com/grovedev/grove/internal/clustertest"
	"github.com/grovedev/grove/internal/testutil"
)

// gatedStore holds the next append to one stream until the test lets it
// through (to the store, whatever the caller's context says by then: the
// write reached the database) or fails it (the node died before it).
type gatedStore struct {
	eventstore.Store
	mu      sync.Mutex
	stream  string
	entered chan struct{}
	release chan bool
}

func (g *gatedStore) arm(stream string) (entered <-chan struct{}, release chan<- bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stream, g.entered, g.release = stream, make(chan struct{}), make(chan bool, 1)
	return g.entered, g.release
}

func (g *gatedStore) Append(ctx context.Context, stream string, exp eventstore.ExpectedVersion, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	g.mu.Lock()
	gated := g.stream == stream && g.entered != nil
	var entered chan struct{}
	var release chan bool
	if gated {
		entered, release = g.entered, g.release
		g.stream, g.entered = "", nil
	}
	g.mu.Unlock()
	if !gated {
		return g.Store.Append(ctx, stream, exp, evs...)
	}
	close(entered)
	if !<-release {
		return eventstore.AppendResult{}, errors.New("the node died before the write")
	}
	return g.Store.Append(context.Background(), stream, exp, evs...)
}

// clusterApp is one member's application on a ClusterHost.
type clusterApp struct {
	host *eventsourcing.ClusterHost
	app  *eventsourcing.App
}

func (c *clusterApp) Close() error { return c.host.Close() }

var clusterCounter = eventsourcing.Kind{Name: "ccounter", New: func(string) eventsourcing.Aggregate { return &Counter{} },
	SnapshotEvery: 2, Lifespan: 300 * time.Millisecond}

type apps struct {
	mu sync.Mutex
	m  map[string]*clusterApp
}

func (a *apps) get(name string) *clusterApp {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.m[name]
}

func startClusterApps(t *testing.T, store eventstore.Store) (*clustertest.Harness, *apps) {
	t.Helper()
	as := &apps{m: map[string]*clusterApp{}}
	h := clustertest.Start(t, clustertest.Config{
		Size: 3,
		Register: func(r *codec.Registry) error {
			if err := eventsourcing.RegisterTypes(r); err != nil {
				return err
			}
			if err := r.RegisterError(1000, errNegative); err != nil {
				return err
			}
			if err := codec.Register[Stamp](r, "test.Stamp"); err != nil {
				return err
			}
			return codec.Register[Add](r, "test.Add")
		},
		Setup: func(m *clustertest.Member) (clustertest.Service, error) {
			host, err := eventsourcing.NewClusterHost(m.Cluster, eventsourcing.ClusterHostConfig{Store: store, Types: types(), Shards: 4})
			if err != nil {
				return nil, err
			}
			app, err := eventsourcing.New(eventsourcing.Config{Store: store, Types: types(), Host: host, Logger: quiet})
			if err == nil {
				err = eventsourcing.Route(app, clusterCounter, func(c Add) string { return c.ID })
			}
			if err == nil {
				err = eventsourcing.Route(app, clusterCounter, func(c Stamp) string { return c.ID })
			}
			if err != nil {
				host.Close()
				return nil, err
			}
			ca := &clusterApp{host: host, app: app}
			as.mu.Lock()
			as.m[m.Name] = ca
			as.mu.Unlock()
			return ca, nil
		},
	})
	// Every member's region sees every member.
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, m := range h.Running() {
			for _, key := range []string{"a", "b", "c", "d"} {
				want, _ := as.get(h.Running()[0].Name).host.Owner(clusterCounter.Name, key)
				if got, err := as.get(m.Name).host.Owner(clusterCounter.Name, key); err != nil || got != want {
					return fmt.Errorf("%s places %s on %q (%v), the first member on %q", m.Name, key, got, err, want)
				}
			}
		}
		return nil
	})
	return h, as
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestClusterHostOneNodePerAggregate: commands for one aggregate from every
// node run in one instance, on the node its id is placed on; refusals keep
// their identity across the network; an idle aggregate is passivated and
// the next command loads it again.
func TestClusterHostOneNodePerAggregate(t *testing.T) {
	store := memstore.New()
	defer store.Close()
	h, as := startClusterApps(t, store)
	ms := h.Running()
	ctx := ctxFor(t, 30*time.Second)
	owner, err := as.get(ms[0].Name).host.Owner(clusterCounter.Name, "a")
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		r, err := as.get(m.Name).app.Dispatch(ctx, Add{ID: "a", N: 1}, eventsourcing.ReturnState())
		if err != nil {
			t.Fatalf("from %s: %v", m.Name, err)
		}
		if r.Version != uint64(i+1) || r.Aggregate.(*Counter).N != i+1 || len(r.Events) != 1 || r.Events[0].(Added).N != 1 || r.Position == 0 {
			t.Fatalf("from %s: %+v", m.Name, r)
		}
	}
	var activated uint64
	for _, m := range ms {
		n := as.get(m.Name).host.Stats(clusterCounter.Name).Activated.Load()
		activated += n
		if n > 0 && m.Name != owner {
			t.Fatalf("%s activated the aggregate; its owner is %s", m.Name, owner)
		}
	}
	if activated != 1 {
		t.Fatalf("%d activations for one aggregate", activated)
	}
	notOwner := ms[0]
	if notOwner.Name == owner {
		notOwner = ms[1]
	}
	if _, err := as.get(notOwner.Name).app.Dispatch(ctx, Add{ID: "a", N: -100}); !errors.Is(err, errNegative) {
		t.Fatalf("a refusal from another node: %v, want errNegative", err)
	}
	// Passivated after its lifespan, loaded again (snapshot and events)
	// by the next command.
	testutil.Eventually(t, 20*time.Second, func() error {
		if n := as.get(owner).host.Stats(clusterCounter.Name).Passivated.Load(); n == 0 {
			return errors.New("not passivated yet")
		}
		return nil
	})
	r, err := as.get(notOwner.Name).app.Dispatch(ctx, Add{ID: "a", N: 5}, eventsourcing.ReturnState())
	if err != nil || r.Version != 4 || r.Aggregate.(*Counter).N != 8 {
		t.Fatalf("after passivation: %+v %v", r, err)
	}
}

// TestClusterHostOwnerKilledMidCommand kills the node hosting an aggregate
// while it appends a command's events, dispatched from another node: when
// the write got through before the node died, the command, retried on the
// aggregate's new node, is answered from its events and not applied again;
// when it did not, it is applied there, once. A dispatch whose context
// ends first gets an error that says the outcome is unknown.
func TestClusterHostOwnerKilledMidCommand(t *testing.T) {
	for _, tc := range []struct {
		name    string
		written bool
	}{{"written", true}, {"not written", false}} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memstore.New()
			defer mem.Close()
			store := &gatedStore{Store: mem}
			h, as := startClusterApps(t, store)
			ms := h.Running()
			ctx := ctxFor(t, 60*time.Second)
			key := "b"
			owner, err := as.get(ms[0].Name).host.Owner(clusterCounter.Name, key)
			if err != nil {
				t.Fatal(err)
			}
			var ownerIdx int
			var caller *clustertest.Member
			for _, m := range ms {
				if m.Name == owner {
					ownerIdx = m.Index
				} else if caller == nil {
					caller = m
				}
			}
			app := as.get(caller.Name).app
			if _, err := app.Dispatch(ctx, Add{ID: key, N: 1}); err != nil {
				t.Fatal(err)
			}
			entered, release := store.arm(clusterCounter.Stream(key))
			type result struct {
				r   eventsourcing.Result
				err error
			}
			done := make(chan result, 1)
			go func() {
				r, err := app.Dispatch(ctx, Add{ID: key, N: 10}, eventsourcing.ReturnState())
				done <- result{r, err}
			}()
			<-entered
			killed := make(chan struct{})
			go func() { h.Kill(ownerIdx); close(killed) }()
			// The owner is cut off from the caller: only now does the
			// write go through (or not).
			testutil.Eventually(t, 10*time.Second, func() error {
				if slices.Contains(caller.Node.Nodes(), owner) {
					return errors.New("still linked to the owner")
				}
				return nil
			})
			release <- tc.written
			res := <-done
			<-killed
			if res.err != nil {
				t.Fatalf("dispatch: %v", res.err)
			}
			evs, err := mem.ReadStream(ctx, clusterCounter.Stream(key), 1, 100, eventstore.Forward)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 2 {
				t.Fatalf("%d events in the stream, want 2 (the command applied once)", len(evs))
			}
			if res.r.Version != 2 || res.r.Position != evs[1].Position || res.r.Aggregate.(*Counter).N != 11 ||
				len(res.r.Events) != 1 || res.r.Events[0].(Added).N != 10 {
				t.Fatalf("result %+v, stream %+v", res.r, evs)
			}
			newOwner, _ := as.get(caller.Name).host.Owner(clusterCounter.Name, key)
			if newOwner == owner {
				t.Fatalf("the aggregate is still placed on the killed node %s", owner)
			}

			// The outcome of a command whose context ends while its
			// aggregate's node is unreachable is unknown.
			entered, release = store.arm(clusterCounter.Stream(key))
			short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			go func() {
				<-entered
				<-short.Done()
				release <- false
			}()
			_, err = app.Dispatch(short, Add{ID: key, N: 100})
			if !errors.Is(err, eventsourcing.ErrOutcomeUnknown) {
				t.Fatalf("a dispatch cut short: %v, want ErrOutcomeUnknown", err)
			}
		})
	}
}

// TestClusterHostPartitionKeepsStreamConsistent cuts a member off, so that
// each side places the aggregate on a node of its own and runs an instance
// of it, and dispatches from both sides at once: the appends that lose
// the race on the expected version are decided again, so after the heal
// the stream holds every acknowledged command once, nothing twice, and
// every event was decided on the state of all the events before it.
func TestClusterHostPartitionKeepsStreamConsistent(t *testing.T) {
	store := memstore.New()
	defer store.Close()
	h, as := startClusterApps(t, store)
	ms := h.Running()
	ctx := ctxFor(t, 90*time.Second)
	key := "c"
	if _, err := as.get(ms[0].Name).app.Dispatch(ctx, Add{ID: key, N: 1}); err != nil {
		t.Fatal(err)
	}
	h.Partition([]int{0}, []int{1, 2})
	// Each side sees the other gone and places the key on its own side.
	testutil.Eventually(t, 30*time.Second, func() error {
		a, _ := as.get(ms[0].Name).host.Owner(clusterCounter.Name, key)
		b, _ := as.get(ms[1].Name).host.Owner(clusterCounter.Name, key)
		if a != ms[0].Name || b == ms[0].Name {
			return fmt.Errorf("owners %s and %s", a, b)
		}
		return nil
	})
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for side, m := range []*clustertest.Member{ms[0], ms[1]} {
		wg.Go(func() {
			app := as.get(m.Name).app
			for i := range 20 {
				id := fmt.Sprintf("cmd-%d-%d", side, i)
				_, err := app.Dispatch(ctx, Stamp{ID: key}, eventsourcing.WithMetadata(eventsourcing.Metadata{eventsourcing.MetaCommandID: id}))
				if err != nil {
					t.Errorf("dispatch %s: %v", id, err)
					return
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var activated uint64
	for _, m := range ms {
		activated += as.get(m.Name).host.Stats(clusterCounter.Name).Activated.Load()
	}
	if activated < 2 {
		t.Fatalf("%d activations: the sides did not both run the aggregate", activated)
	}
	h.Heal()
	h.WaitConverged(30 * time.Second)
	r, err := as.get(ms[2].Name).app.Dispatch(ctx, Add{ID: key, N: 1}, eventsourcing.ReturnState())
	if err != nil {
		t.Fatal(err)
	}
	evs, err := store.ReadStream(ctx, clusterCounter.Stream(key), 1, 1000, eventstore.Forward)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, e := range evs {
		ev, err := types().Decode(e)
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := ev.Data.(Stamped); ok && s.Seen != i {
			t.Fatalf("event %d was decided on a state of %d events", i+1, s.Seen)
		}
		id := ev.Metadata[eventsourcing.MetaCommandID]
		if seen[id] {
			t.Fatalf("command %s applied twice", id)
		}
		seen[id] = true
	}
	for id := range acked {
		if !seen[id] {
			t.Fatalf("acknowledged command %s not in the stream", id)
		}
	}
	if len(evs) != 42 || r.Version != 42 || r.Aggregate.(*Counter).N != 42 {
		t.Fatalf("%d events, version %d, state %+v; want 42", len(evs), r.Version, r.Aggregate)
	}
}

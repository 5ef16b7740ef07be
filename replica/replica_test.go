package replica

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/crdt"
	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/faultkit/check"
	"github.com/grovedev/grove/internal/testutil"
)

// fastConfig syncs every 10 ms, for tests.
func fastConfig() Config {
	return Config{Interval: 10 * time.Millisecond, RetransmitTicks: 3, DigestTicks: 5}
}

func startCluster(t *testing.T, size int, seed uint64) *faultkit.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := faultkit.NewCluster(ctx, faultkit.ClusterConfig{Size: size, Seed: seed, Register: RegisterTypes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitConnected waits until every node sees every other.
func waitConnected(t *testing.T, c *faultkit.Cluster) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, n := range c.Names() {
			if got := len(c.Node(n).Nodes()); got != len(c.Names())-1 {
				return fmt.Errorf("%s sees %d nodes", n, got)
			}
		}
		return nil
	})
}

func newMaps(t *testing.T, c *faultkit.Cluster, name string, cfg Config) map[string]*Map[string, int] {
	t.Helper()
	out := map[string]*Map[string, int]{}
	for _, n := range c.Names() {
		m, err := NewMap[string, int](c.Node(n), name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		out[n] = m
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	var zero Config
	if err := zero.Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	for _, c := range []Config{{Interval: -1}, {RetransmitTicks: -1}, {RelayTicks: -1}, {DigestTicks: -1}, {MaxMessageBytes: -1}, {MaxLogBytes: -1}, {ForgetAfter: -1}, {InboxSize: -1}} {
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: Validate = %v, want ErrInvalidConfig", c, err)
		}
	}
	d := zero.withDefaults()
	if d.Interval != DefaultInterval || d.MaxMessageBytes != DefaultMaxMessageBytes || d.Logger == nil {
		t.Fatalf("defaults not applied: %+v", d)
	}
}

func TestNewRefusesBadArguments(t *testing.T) {
	c := startCluster(t, 1, 1)
	n := c.Node(c.Names()[0])
	if _, err := New(n, "", crdt.NewGCounter(), Config{}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("empty name: %v", err)
	}
	if _, err := New(n, "x", nil, Config{}); !errors.Is(err, ErrNilState) {
		t.Errorf("nil state: %v", err)
	}
	if _, err := New(n, "x", crdt.NewGCounter(), Config{Interval: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad config: %v", err)
	}
	r, err := New(n, "x", crdt.NewGCounter(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Update(func(s crdt.State) crdt.State { return crdt.NewPNCounter() }); !errors.Is(err, ErrWrongType) {
		t.Errorf("delta of another type: %v", err)
	}
	r.Close()
	r.Close()
	if err := r.Update(func(s crdt.State) crdt.State { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v", err)
	}
}

func TestMapsConverge(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := startCluster(t, size, 1)
			waitConnected(t, c)
			ms := newMaps(t, c, "m", fastConfig())
			for i, n := range c.Names() {
				for k := range 20 {
					if err := ms[n].Set(fmt.Sprintf("k%d", k), i*100+k); err != nil {
						t.Fatal(err)
					}
				}
				if err := ms[n].Set(fmt.Sprintf("own-%s", n), i); err != nil {
					t.Fatal(err)
				}
			}
			if err := ms[c.Names()[0]].Remove("k0"); err != nil {
				t.Fatal(err)
			}
			check.EventuallyConverges(t, 10*time.Second, c.Names(), func(n string) (any, error) { return ms[n].All(), nil })
			all := ms[c.Names()[0]].All()
			if len(all) < 20+size-1 {
				t.Fatalf("converged to %d keys: %v", len(all), all)
			}
			for _, n := range c.Names() {
				if _, ok := all["own-"+n]; !ok {
					t.Fatalf("lost own-%s: %v", n, all)
				}
			}
		})
	}
}

func TestGenericReplicaAndEvents(t *testing.T) {
	c := startCluster(t, 2, 2)
	waitConnected(t, c)
	n1, n2 := c.Names()[0], c.Names()[1]
	a, err := New(c.Node(n1), "flag", crdt.NewEWFlag(), fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(c.Node(n2), "flag", crdt.NewEWFlag(), fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	events := make(chan Event, 10)
	cancel := b.Subscribe(func(e Event) { events <- e })
	defer cancel()
	if err := a.Update(func(s crdt.State) crdt.State { return s.(*crdt.EWFlag).Enable(a.ID()) }); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-events:
		if e.Kind != Changed || e.Replica != "flag" {
			t.Fatalf("event %v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	on := false
	b.Read(func(s crdt.State) { on = s.(*crdt.EWFlag).Value() })
	if !on {
		t.Fatal("b did not see the enable")
	}
}

func TestMapEventsInOrder(t *testing.T) {
	c := startCluster(t, 2, 3)
	waitConnected(t, c)
	ms := newMaps(t, c, "ev", fastConfig())
	n1, n2 := c.Names()[0], c.Names()[1]
	var mu sync.Mutex
	var got []string
	cancel := ms[n2].Subscribe(func(e Event) {
		mu.Lock()
		got = append(got, fmt.Sprintf("%s %v %v", e.Kind, e.Key, e.Value))
		mu.Unlock()
	})
	defer cancel()
	step := func(f func() error, want string) {
		t.Helper()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 10*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(got) == 0 || got[len(got)-1] != want {
				return fmt.Errorf("events %q, want last %q", got, want)
			}
			return nil
		})
	}
	step(func() error { return ms[n1].Set("a", 1) }, "added a 1")
	ctx, cancelCtx := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelCtx()
	if err := ms[n1].Set("b", 1); err != nil {
		t.Fatal(err)
	}
	if err := ms[n1].WaitAcked(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := ms[n2].Get("b"); !ok {
		t.Fatal("WaitAcked returned before the peer had the write")
	}
	expired, cancelExpired := context.WithCancel(context.Background())
	cancelExpired()
	step(func() error {
		if err := ms[n1].Set("c", 1); err != nil {
			return err
		}
		if err := ms[n1].WaitAcked(expired); !errors.Is(err, context.Canceled) {
			return fmt.Errorf("WaitAcked with a cancelled context: %v", err)
		}
		return nil
	}, "added c 1")
	step(func() error { return ms[n1].Set("a", 2) }, "updated a 2")
	step(func() error { return ms[n1].Remove("a") }, "removed a <nil>")
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"added a 1", "added b 1", "added c 1", "updated a 2", "removed a <nil>"}; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// TestFaultsConverge runs counters and OR-Sets on five nodes under a seeded
// nemesis (partitions, pauses, slow links, loss, resets) with frame loss,
// duplication and reordering on every link, then heals and checks that all
// replicas converge, no acknowledged increment is lost and no removed
// element comes back.
func TestFaultsConverge(t *testing.T) {
	seed := faultkit.Seed(t)
	c := startCluster(t, 5, seed)
	waitConnected(t, c)
	names := c.Names()
	cfg := fastConfig()
	cfg.Members = StaticMembers(names) // keep shipping to partitioned nodes: casts fail until heal
	counters := map[string]*Counter{}
	sets := map[string]*Set[int]{}
	for _, n := range names {
		ctr, err := NewCounter(c.Node(n), "ctr", cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer ctr.Close()
		counters[n] = ctr
		small := cfg
		small.MaxLogBytes = 2 << 10 // truncate the log, so that repairs need full states too
		s, err := NewSet[int](c.Node(n), "set", small)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		sets[n] = s
	}
	nw := c.Network()
	nw.SetDefaultFaults(faultkit.Faults{WholeWrites: true, Drop: 0.05, Duplicate: 0.05, Reorder: 0.05})
	nem := faultkit.StartNemesis(faultkit.NemesisConfig{Seed: seed, Nodes: names, Duration: 3 * time.Second, Hold: 800 * time.Millisecond, Logf: t.Logf}, nil, c)
	var acked, attempted int64
	// Each element is added and removed only by its owner, node e%5, whose
	// remove therefore observes every add of it: the model of the set is
	// the last operation on each element, and a removed element that was
	// not re-added must stay out everywhere (add-wins otherwise).
	model := map[int]bool{}
	pace := time.NewTicker(time.Millisecond)
	defer pace.Stop()
	for i := 0; ; i++ {
		select {
		case <-nem.Done():
		case <-pace.C:
			owner := i % len(names)
			n := names[owner]
			d := int64(i%7) - 2
			attempted += d
			if err := counters[n].Add(d); err == nil {
				acked += d
			}
			e := (i/len(names))%8*len(names) + owner
			var err error
			if i%3 == 0 {
				err = sets[n].Remove(e)
				model[e] = false
			} else {
				err = sets[n].Add(e)
				model[e] = true
			}
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		break
	}
	if err := nem.Close(); err != nil {
		t.Fatal(err)
	}
	nw.ClearFaults()
	check.EventuallyConverges(t, 20*time.Second, names, func(n string) (any, error) { return counters[n].Value(), nil })
	check.EventuallyConverges(t, 20*time.Second, names, func(n string) (any, error) {
		es := sets[n].Elements()
		slices.Sort(es)
		return es, nil
	})
	final := counters[names[0]].Value()
	if final < min(acked, attempted) || final > max(acked, attempted) {
		t.Fatalf("seed %d: counter %d, acknowledged %d, attempted %d", seed, final, acked, attempted)
	}
	if final != acked {
		t.Fatalf("seed %d: counter %d, want every acknowledged increment: %d", seed, final, acked)
	}
	var want []int
	removed := 0
	for e, in := range model {
		if in {
			want = append(want, e)
		} else {
			removed++
		}
	}
	slices.Sort(want)
	got := sets[names[0]].Elements()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("seed %d: set %v, want %v (a removed element came back or an add was lost)", seed, got, want)
	}
	var sent, full uint64
	for _, n := range names {
		sent += counters[n].Stats().BytesSent.Load() + sets[n].Stats().BytesSent.Load()
		full += counters[n].Stats().FullStatesSent.Load() + sets[n].Stats().FullStatesSent.Load()
	}
	t.Logf("seed %d: counter %d, %d elements, %d removed for good, %d bytes sent, %d full states", seed, final, len(got), removed, sent, full)
}

// A node killed and restarted under the same name starts an empty replica
// with a new incarnation id: it catches up, and its new writes are not
// mistaken for the ones of its earlier life that the others have seen.
func TestRestartedNodeCatchesUpAndWrites(t *testing.T) {
	c := startCluster(t, 3, 4)
	waitConnected(t, c)
	names := c.Names()
	n3 := names[2]
	sets := map[string]*Set[string]{}
	open := func(n string) {
		s, err := NewSet[string](c.Node(n), "s", fastConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		sets[n] = s
	}
	for _, n := range names {
		open(n)
	}
	view := func(n string) (any, error) {
		es := sets[n].Elements()
		slices.Sort(es)
		return es, nil
	}
	for _, e := range []string{"a", "b"} {
		if err := sets[n3].Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := sets[names[0]].Add("c"); err != nil {
		t.Fatal(err)
	}
	check.EventuallyConverges(t, 10*time.Second, names, view)
	if err := sets[n3].Remove("a"); err != nil {
		t.Fatal(err)
	}
	check.EventuallyConverges(t, 10*time.Second, names, view)

	if err := c.Kill(n3); err != nil {
		t.Fatal(err)
	}
	sets[n3].Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Restart(ctx, n3); err != nil {
		t.Fatal(err)
	}
	open(n3)
	// Written at once, before catching up: with the old writer id this
	// add would reuse the dot of the removed "a" and be dropped.
	if err := sets[n3].Add("d"); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, c)
	check.EventuallyConverges(t, 10*time.Second, names, view)
	got, _ := view(names[0])
	if want := []string{"b", "c", "d"}; !slices.Equal(got.([]string), want) {
		t.Fatalf("after restart: %v, want %v", got, want)
	}
}

// Reads, writes, subscriptions and sync rounds run concurrently (for the
// race detector), and reads never block on the network.
func TestConcurrentUse(t *testing.T) {
	c := startCluster(t, 2, 5)
	waitConnected(t, c)
	ms := newMaps(t, c, "conc", Config{Interval: time.Millisecond})
	n1, n2 := c.Names()[0], c.Names()[1]
	cancel := ms[n2].Subscribe(func(Event) {})
	defer cancel()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				n := []string{n1, n2}[w%2]
				if w < 2 {
					if err := ms[n].Set(fmt.Sprintf("k%d", i%50), i); err != nil {
						t.Error(err)
						return
					}
				} else {
					ms[n].Get("k1")
					_ = ms[n].All()
					_ = ms[n].Digest()
				}
			}
		}()
	}
	wg.Wait()
	check.EventuallyConverges(t, 10*time.Second, c.Names(), func(n string) (any, error) { return ms[n].All(), nil })
}

// switchMembers is a Members whose set the test changes.
type switchMembers struct {
	mu   sync.Mutex
	set  []string
	subs map[int]func()
	next int
}

func (s *switchMembers) Members() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.set)
}

func (s *switchMembers) OnChange(fn func()) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = map[int]func(){}
	}
	id := s.next
	s.next++
	s.subs[id] = fn
	return func() { s.mu.Lock(); delete(s.subs, id); s.mu.Unlock() }
}

func (s *switchMembers) change(set []string) {
	s.mu.Lock()
	s.set = set
	fns := slices.Collect(maps.Values(s.subs))
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// A replica is kept only on its members; a node added to the set later
// catches up.
func TestChosenMembers(t *testing.T) {
	c := startCluster(t, 3, 6)
	waitConnected(t, c)
	names := c.Names()
	mem := &switchMembers{set: names[:2]}
	cfg := fastConfig()
	cfg.Members = mem
	ctrs := map[string]*Counter{}
	for _, n := range names[:2] {
		ctr, err := NewCounter(c.Node(n), "chosen", cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer ctr.Close()
		ctrs[n] = ctr
	}
	if err := ctrs[names[0]].Add(7); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ctrs[names[0]].WaitAcked(ctx); err != nil {
		t.Fatal(err)
	}
	if v := ctrs[names[1]].Value(); v != 7 {
		t.Fatalf("member %s = %d, want 7", names[1], v)
	}
	// The third node starts a replica but is not a member yet: nobody
	// ships to it.
	third, err := NewCounter(c.Node(names[2]), "chosen", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	ctrs[names[2]] = third
	if err := ctrs[names[0]].Add(1); err != nil {
		t.Fatal(err)
	}
	if err := ctrs[names[0]].WaitAcked(ctx); err != nil {
		t.Fatal(err)
	}
	if got := third.Stats().MessagesReceived.Load(); got != 0 {
		t.Fatalf("a node outside the member set received %d messages", got)
	}
	mem.change(names)
	check.EventuallyConverges(t, 10*time.Second, names, func(n string) (any, error) { return ctrs[n].Value(), nil })
	if v := third.Value(); v != 8 {
		t.Fatalf("third = %d, want 8", v)
	}
}

package entity

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/internal/clustertest"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/grovedev/grove/node/internal/frame.(*Writer).loop"),
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

// store keeps what entities persist across incarnations, and which
// process runs each key.
type store struct {
	mu      sync.Mutex
	counts  map[string]int
	live    map[string]map[proc.PID]bool
	started int
}

func newStore() *store {
	return &store{counts: map[string]int{}, live: map[string]map[proc.PID]bool{}}
}

type (
	add   struct{ N int }
	total struct{}
	where struct{}
)

// counter is a test entity: it adds what it receives to its key's count,
// saved in the store on every message, as an entity keeps its state
// elsewhere.
type counter struct {
	proc.Base
	key string
	s   *store
}

func (c *counter) Init(p *proc.Process) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.s.started++
	if c.s.live[c.key] == nil {
		c.s.live[c.key] = map[proc.PID]bool{}
	}
	c.s.live[c.key][p.Self()] = true
	pid, key, s := p.Self(), c.key, c.s
	p.Runtime().Watch(pid, func(proc.PID, error) {
		s.mu.Lock()
		delete(s.live[key], pid)
		s.mu.Unlock()
	})
	return nil
}

func (c *counter) HandleCast(_ *proc.Process, msg any) {
	if a, ok := msg.(add); ok {
		c.s.mu.Lock()
		c.s.counts[c.key] += a.N
		c.s.mu.Unlock()
	}
}

func (c *counter) HandleInfo(p *proc.Process, msg any) { c.HandleCast(p, msg) }

func (c *counter) HandleCall(p *proc.Process, _ proc.From, req any) (any, error) {
	switch req.(type) {
	case total:
		c.s.mu.Lock()
		defer c.s.mu.Unlock()
		return c.s.counts[c.key], nil
	case where:
		return p.Runtime().Node(), nil
	case add:
		c.HandleCast(p, req)
		return nil, nil
	}
	return nil, proc.ErrUnhandled
}

func (s *store) runs(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live[key])
}

type regions struct {
	mu sync.Mutex
	m  map[string]*Region
}

func (r *regions) get(n string) *Region {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[n]
}

func startRegions(t testing.TB, n int, idle time.Duration, st *store) (*clustertest.Harness, *regions) {
	t.Helper()
	rs := &regions{m: map[string]*Region{}}
	h := clustertest.Start(t, clustertest.Config{
		Size: n,
		Register: func(r *codec.Registry) error {
			if err := RegisterTypes(r); err != nil {
				return err
			}
			codec.MustRegister[add](r, "test.add")
			codec.MustRegister[total](r, "test.total")
			codec.MustRegister[where](r, "test.where")
			return nil
		},
		Setup: func(m *clustertest.Member) (clustertest.Service, error) {
			r, err := Start(m.Cluster, Config{Kind: "counter", IdleTimeout: idle, Shards: 4,
				New: func(key string) (proc.Behavior, error) { return &counter{key: key, s: st}, nil }})
			if err != nil {
				return nil, err
			}
			rs.mu.Lock()
			rs.m[m.Name] = r
			rs.mu.Unlock()
			return r, nil
		},
	})
	// Every region sees every member.
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, m := range h.Running() {
			r := rs.get(m.Name)
			r.mu.RLock()
			k := len(r.members)
			r.mu.RUnlock()
			if k != len(h.Running()) {
				return fmt.Errorf("%s sees %d members", m.Name, k)
			}
		}
		return nil
	})
	return h, rs
}

func TestEntityActivatedOnceFromEveryNode(t *testing.T) {
	st := newStore()
	h, rs := startRegions(t, 3, -1, st)
	ms := h.Running()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	owner, err := rs.get(ms[0].Name).Owner("user:42")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		e := rs.get(m.Name).Entity("user:42")
		if err := e.Cast(add{N: 1}); err != nil {
			t.Fatal(err)
		}
		n, err := Call[string](ctx, e, where{})
		if err != nil || n != owner {
			t.Fatalf("from %s the entity answers from %q, %v; owner %s", m.Name, n, err, owner)
		}
	}
	got, err := Call[int](ctx, rs.get(ms[1].Name).Entity("user:42"), total{})
	if err != nil || got != 3 {
		t.Fatalf("total %d, %v", got, err)
	}
	if st.started != 1 || st.runs("user:42") != 1 {
		t.Fatalf("started %d times, runs %d", st.started, st.runs("user:42"))
	}
	if _, err := rs.get(ms[0].Name).Entity("").Call(ctx, total{}); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("empty key: %v", err)
	}
}

// TestPassivationLosesNothing: entities passivate when idle while senders
// keep coming back around the timeout; every message counts once.
func TestPassivationLosesNothing(t *testing.T) {
	st := newStore()
	h, rs := startRegions(t, 3, 50*time.Millisecond, st)
	ms := h.Running()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const keys, rounds = 20, 12
	var wg sync.WaitGroup
	for k := range keys {
		wg.Go(func() {
			e := rs.get(ms[k%3].Name).Entity(fmt.Sprint("k", k))
			for i := range rounds {
				for range 5 {
					if err := e.Cast(add{N: 1}); err != nil {
						t.Errorf("cast: %v", err)
						return
					}
				}
				// Sometimes inside the idle window, sometimes past it.
				time.Sleep(time.Duration(20+(i*37+k*11)%120) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	for k := range keys {
		got, err := Call[int](ctx, rs.get(ms[0].Name).Entity(fmt.Sprint("k", k)), total{})
		if err != nil || got != rounds*5 {
			t.Fatalf("k%d counted %d of %d, %v", k, got, rounds*5, err)
		}
	}
	var passivated uint64
	for _, m := range ms {
		passivated += rs.get(m.Name).Stats().Passivated.Load()
	}
	if passivated == 0 {
		t.Fatal("nothing passivated")
	}
	t.Logf("%d activations, %d passivations", st.started, passivated)
}

// TestKeysMoveWithMembers: a node that joins takes the keys that now rank
// it first (their old entities stop), and the keys of a node that dies run
// elsewhere on their next message; once the members agree, every key runs
// once, on its owner.
func TestKeysMoveWithMembers(t *testing.T) {
	st := newStore()
	h, rs := startRegions(t, 3, -1, st)
	ms := h.Running()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const keys = 300
	touch := func(via *Region) {
		for k := range keys {
			// A call: the message is handled when it returns, so a kill
			// after touch loses nothing.
			if _, err := via.Entity(fmt.Sprint("m", k)).Call(ctx, add{N: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	touch(rs.get(ms[0].Name))
	j := h.Add()
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, m := range h.Running() {
			r := rs.get(m.Name)
			r.mu.RLock()
			n := len(r.members)
			r.mu.RUnlock()
			if n != 4 {
				return fmt.Errorf("%s sees %d members", m.Name, n)
			}
		}
		return nil
	})
	touch(rs.get(j.Name))
	h.Kill(1)
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, m := range h.Running() {
			r := rs.get(m.Name)
			r.mu.RLock()
			n := len(r.members)
			r.mu.RUnlock()
			if n != 3 {
				return fmt.Errorf("%s sees %d members", m.Name, n)
			}
		}
		return nil
	})
	touch(rs.get(ms[2].Name))
	testutil.Eventually(t, 30*time.Second, func() error {
		for k := range keys {
			key := fmt.Sprint("m", k)
			owner, _ := rs.get(ms[0].Name).Owner(key)
			st.mu.Lock()
			var on []string
			for pid := range st.live[key] {
				on = append(on, pid.Node)
			}
			st.mu.Unlock()
			if len(on) != 1 || on[0] != owner {
				return fmt.Errorf("%s runs on %v, owner %s", key, on, owner)
			}
		}
		return nil
	})
	var moved uint64
	for _, m := range h.Running() {
		moved += rs.get(m.Name).Stats().Moved.Load()
	}
	if moved == 0 {
		t.Fatal("no entity moved to the node that joined")
	}
	// The counts of keys that lived on the killed node restart there
	// (their entity kept its state in the store): nothing was lost.
	got, err := Call[int](ctx, rs.get(ms[0].Name).Entity("m7"), total{})
	if err != nil || got != 3 {
		t.Fatalf("m7 counted %d of 3, %v", got, err)
	}
}

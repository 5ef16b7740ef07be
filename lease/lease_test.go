package lease

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/raft"
)

type cluster struct {
	fk    *faultkit.Cluster
	mu    sync.Mutex
	hosts map[string]*raft.Host
	svcs  map[string]*Service
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fk, err := faultkit.NewCluster(ctx, faultkit.ClusterConfig{Size: 3, Seed: 1, DataDir: t.TempDir(), Register: raft.RegisterTypes})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{fk: fk, hosts: map[string]*raft.Host{}, svcs: map[string]*Service{}}
	for _, n := range fk.Names() {
		c.start(t, n)
	}
	t.Cleanup(func() {
		for _, h := range c.hosts {
			h.Close()
		}
		fk.Close()
	})
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, s := range c.svcs {
			if s.Group().Leader() == "" {
				return errors.New("no leader")
			}
		}
		return nil
	})
	return c
}

func (c *cluster) start(t *testing.T, n string) {
	t.Helper()
	h, err := raft.Start(c.fk.Node(n), raft.Config{DataDir: c.fk.DataDir(n), TickInterval: 20 * time.Millisecond, ElectionTicks: 25})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), h, Config{Members: c.fk.Names()})
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.hosts[n], c.svcs[n] = h, s
	c.mu.Unlock()
}

func (c *cluster) svc(i int) *Service {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.svcs[c.fk.Names()[i]]
}

// retry repeats op while the group certainly refused it (an election
// under way on a loaded machine).
func retry[T any](t *testing.T, op func() (T, error)) (T, error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := op()
		if err == nil || time.Now().After(deadline) || !(errors.Is(err, raft.ErrNoLeader) || errors.Is(err, raft.ErrNoQuorum) || errors.Is(err, raft.ErrTimeout)) {
			return v, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestMutualExclusionAndFencing: one holder at a time, tokens grow with
// every new holder, the same holder keeps its token.
func TestMutualExclusionAndFencing(t *testing.T) {
	c := newCluster(t)
	a, err := retry(t, func() (*Lease, error) { return c.svc(0).Acquire(ctxT(t), "lock", "a", time.Minute) })
	if err != nil {
		t.Fatal(err)
	}
	var held *HeldError
	if _, err := c.svc(1).Acquire(ctxT(t), "lock", "b", time.Minute); !errors.As(err, &held) || held.Owner != "a" || held.Token != a.Token() {
		t.Fatalf("second owner: %v, want HeldError naming a", err)
	}
	again, err := c.svc(2).Acquire(ctxT(t), "lock", "a", time.Minute)
	if err != nil || again.Token() != a.Token() {
		t.Fatalf("re-acquire by the holder: %v %v, want the same token", again, err)
	}
	if err := a.Release(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctxT(t)); !errors.Is(err, ErrLost) {
		t.Fatalf("second release: %v", err)
	}
	b, err := c.svc(1).Acquire(ctxT(t), "lock", "b", time.Minute)
	if err != nil || b.Token() <= a.Token() {
		t.Fatalf("new holder: %v token %d, want above %d", err, b.Token(), a.Token())
	}
	if err := a.Renew(ctxT(t)); !errors.Is(err, ErrLost) {
		t.Fatalf("renewal by the former holder: %v", err)
	}
	h, ok, err := c.svc(2).Lookup(ctxT(t), "lock")
	if err != nil || !ok || h.Owner != "b" || h.Token != b.Token() {
		t.Fatalf("lookup: %+v %v %v", h, ok, err)
	}
}

// TestExpiryAndKeepAlive: a lease not renewed expires; one kept alive
// outlives many TTLs, also across a leader's crash.
func TestExpiryAndKeepAlive(t *testing.T) {
	c := newCluster(t)
	if _, err := retry(t, func() (*Lease, error) { return c.svc(0).Acquire(ctxT(t), "short", "a", 300*time.Millisecond) }); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := c.svc(1).Acquire(ctxT(t), "short", "b", time.Minute)
		return err
	})

	l, err := retry(t, func() (*Lease, error) { return c.svc(0).Acquire(ctxT(t), "kept", "a", 400*time.Millisecond) })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lost := make(chan error, 1)
	go func() { lost <- l.KeepAlive(ctx, 100*time.Millisecond) }()
	// Kill the leader unless it is the holder's node.
	leader := c.svc(0).Group().Leader()
	if leader != c.fk.Names()[0] {
		c.mu.Lock()
		h := c.hosts[leader]
		delete(c.hosts, leader)
		c.mu.Unlock()
		c.fk.Kill(leader)
		h.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.svc(0).Acquire(ctxT(t), "kept", "b", time.Minute); err != nil && !errors.Is(err, ErrHeld) && !errors.Is(err, raft.ErrNoLeader) && !errors.Is(err, raft.ErrTimeout) && !errors.Is(err, raft.ErrUnknownOutcome) {
			t.Fatalf("unexpected: %v", err)
		} else if err == nil {
			t.Fatal("a lease kept alive was taken by another owner")
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case err := <-lost:
		t.Fatalf("keep-alive ended: %v", err)
	default:
	}
}

type echo struct{ proc.Base }

func (echo) HandleCall(_ *proc.Process, _ proc.From, req any) (any, error) { return req, nil }

// TestRegisterViaAndProcessExit: a name bound to a process routes via
// sends and is freed when the process exits.
func TestRegisterViaAndProcessExit(t *testing.T) {
	c := newCluster(t)
	rt := c.fk.Runtime(c.fk.Names()[1])
	pid, err := rt.Spawn(echo{})
	if err != nil {
		t.Fatal(err)
	}
	s := c.svc(0)
	if _, err := retry(t, func() (*Lease, error) { return s.Register(ctxT(t), "echo", pid, time.Minute) }); err != nil {
		t.Fatal(err)
	}
	v, err := proc.Call[string](ctxT(t), c.fk.Runtime(c.fk.Names()[2]), c.svc(2).Via("echo"), "hi")
	if err != nil || v != "hi" {
		t.Fatalf("call via the lease name: %q %v", v, err)
	}
	if err := rt.Exit(pid, proc.ErrKill); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, ok, err := s.Lookup(ctxT(t), "echo"); err != nil || ok {
			return fmt.Errorf("still registered (%v)", err)
		}
		return nil
	})
	if _, ok := s.WhereIs("echo"); ok {
		t.Fatal("WhereIs finds a dead process's name")
	}
}

func FuzzDecodeSnapshot(f *testing.F) {
	m := newMachine()
	m.Apply(5, command{kind: cmdAcquire, name: "n", owner: "o", pid: proc.PID{Node: "a@b", Creation: 1, ID: 2}, ttl: time.Second}.encode())
	snap, _ := m.Snapshot()
	f.Add(snap)
	f.Fuzz(func(t *testing.T, b []byte) {
		names, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		again, _ := (&machine{names: names}).Snapshot()
		if _, err := decodeSnapshot(again); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(command{kind: cmdRenew, name: "n", owner: "o", token: 3}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			return
		}
		if _, err := decodeCommand(c.encode()); err != nil {
			t.Fatal(err)
		}
		newMachine().Apply(1, b)
	})
}

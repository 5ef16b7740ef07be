package raft

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/internal/testutil"
)

// counter is a test machine: commands are "add N" as 8 bytes; the reply is
// the new total. It records the indexes it applied, to check order.
type counter struct {
	mu      sync.Mutex
	total   int64
	applied []uint64
}

func addCmd(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func (c *counter) Apply(index uint64, cmd []byte) (any, []Effect) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(cmd) != 8 {
		return errors.New("bad command"), nil
	}
	c.total += int64(binary.BigEndian.Uint64(cmd))
	c.applied = append(c.applied, index)
	return c.total, nil
}

func (c *counter) Snapshot() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return binary.BigEndian.AppendUint64(nil, uint64(c.total)), nil
}

func (c *counter) Restore(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(b) != 8 {
		return fmt.Errorf("counter snapshot of %d bytes", len(b))
	}
	c.total = int64(binary.BigEndian.Uint64(b))
	return nil
}

func (c *counter) value() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// testCluster is a faultkit cluster with a Host per node.
type testCluster struct {
	t     *testing.T
	fk    *faultkit.Cluster
	cfg   Config
	mu    sync.Mutex
	hosts map[string]*Host
}

func newTestCluster(t *testing.T, size int, seed uint64, cfg Config) *testCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fk, err := faultkit.NewCluster(ctx, faultkit.ClusterConfig{Size: size, Seed: seed, DataDir: t.TempDir(), Register: RegisterTypes})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = 20 * time.Millisecond
	}
	if cfg.ElectionTicks == 0 {
		// 0.5 to 1 s: elections stay rare on a loaded machine.
		cfg.ElectionTicks = 25
	}
	tc := &testCluster{t: t, fk: fk, cfg: cfg, hosts: map[string]*Host{}}
	for _, name := range fk.Names() {
		tc.startHost(name)
	}
	t.Cleanup(tc.close)
	return tc
}

func (tc *testCluster) startHost(name string) *Host {
	tc.t.Helper()
	cfg := tc.cfg
	cfg.DataDir = tc.fk.DataDir(name)
	if os.Getenv("GROVE_RAFT_DEBUG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
	}
	h, err := Start(tc.fk.Node(name), cfg)
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.mu.Lock()
	tc.hosts[name] = h
	tc.mu.Unlock()
	return h
}

func (tc *testCluster) host(name string) *Host {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.hosts[name]
}

// kill kills a node and drops its host, as a crash does.
func (tc *testCluster) kill(name string) {
	tc.t.Helper()
	if err := tc.fk.Kill(name); err != nil {
		tc.t.Fatal(err)
	}
	tc.mu.Lock()
	h := tc.hosts[name]
	delete(tc.hosts, name)
	tc.mu.Unlock()
	if h != nil {
		h.Close()
	}
}

func (tc *testCluster) restart(name string) *Host {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tc.fk.Restart(ctx, name); err != nil {
		tc.t.Fatal(err)
	}
	return tc.startHost(name)
}

func (tc *testCluster) close() {
	tc.mu.Lock()
	hosts := tc.hosts
	tc.hosts = map[string]*Host{}
	tc.mu.Unlock()
	for _, h := range hosts {
		h.Close()
	}
	tc.fk.Close()
}

// startGroup starts group name with a counter machine on every node.
func (tc *testCluster) startGroup(name string, members []string) map[string]*counter {
	tc.t.Helper()
	ms := map[string]*counter{}
	for _, m := range members {
		c := &counter{}
		ms[m] = c
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := tc.host(m).StartGroup(ctx, GroupConfig{Name: name, Members: members, Machine: c})
		cancel()
		if err != nil {
			tc.t.Fatal(err)
		}
	}
	return ms
}

// leader waits for the members of group to agree on a leader.
func (tc *testCluster) leader(group string, members []string) string {
	tc.t.Helper()
	var leader string
	testutil.Eventually(tc.t, 30*time.Second, func() error {
		leader = ""
		for _, m := range members {
			h := tc.host(m)
			if h == nil {
				continue
			}
			g := h.Group(group)
			if g == nil {
				return fmt.Errorf("%s has no group %s", m, group)
			}
			st := g.Status()
			if st.Role == Leader {
				if leader != "" && leader != m {
					return fmt.Errorf("two leaders %s and %s", leader, m)
				}
				leader = m
			}
		}
		if leader == "" {
			return errors.New("no leader yet")
		}
		for _, m := range members {
			if h := tc.host(m); h != nil {
				if l := h.Group(group).Leader(); l != leader {
					return fmt.Errorf("%s sees leader %q, not %s", m, l, leader)
				}
			}
		}
		return nil
	})
	return leader
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var _ = codec.Config{}

// command runs cmd on group of host, retrying the refusals that are
// certain (no leader, no quorum, not proposed in time), which a loaded
// machine produces during elections.
func (tc *testCluster) command(host, group string, cmd []byte) (Result, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := tc.host(host).Group(group).Command(ctx, cmd)
		cancel()
		if err == nil || time.Now().After(deadline) ||
			!(errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNoQuorum) || errors.Is(err, ErrTimeout)) {
			return r, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

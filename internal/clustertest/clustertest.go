// Package clustertest runs Grove nodes with cluster membership in one
// process, on the fault kit's in-memory network, for the tests of the
// cluster services: each member is a runtime, a node and a
// cluster.Cluster, plus whatever services the test starts on it (again on
// every restart). Members can be killed, stopped gracefully (leave),
// restarted under the same name, added, partitioned and paused.
package clustertest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
)

// TB is the part of testing.TB the harness uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	Name() string
}

// Service is what a test starts on a member. Close stops it; a service
// that also implements Drainer is drained before a graceful Stop leaves.
type Service interface {
	Close() error
}

// Drainer is a service that moves its work away before its node leaves.
type Drainer interface {
	Drain(ctx context.Context) error
}

// Config describes a harness. Zero fields mean defaults.
type Config struct {
	// Size is the number of members to start. Default 3.
	Size int
	// Seed seeds the network's faults.
	Seed uint64
	// Register registers message types in every node's codec.
	Register func(*codec.Registry) error
	// Meta gives member i its metadata.
	Meta func(i int) cluster.Meta
	// Cluster and Node adjust member i's configurations.
	Cluster func(i int, c *cluster.Config)
	Node    func(i int, c *node.Config)
	// Setup starts the test's services on a member, at every start.
	Setup func(m *Member) (Service, error)
	// Tolerant uses slower failure detection (node heartbeat timeout 5 s,
	// probes every 500 ms), for tests of many members on a loaded machine
	// that must not see false failures.
	Tolerant bool
}

// Member is one running incarnation of a member.
type Member struct {
	Index   int
	Name    string // node name
	Host    string // endpoint name on the network
	IP      string
	Runtime *proc.Runtime
	Node    *node.Node
	Cluster *cluster.Cluster
	Service Service // what Setup returned
	ep      *faultkit.Transport
	once    sync.Once
}

// Harness is a set of members on one network.
type Harness struct {
	t   TB
	cfg Config
	nw  *faultkit.Network
	mu  struct {
		sync.Mutex
		ms   map[int]*Member
		next int
	}
}

// Name returns the node name of member i.
func Name(i int) string { return fmt.Sprintf("n%d@h%d", i, i) }

// Host returns the endpoint name of member i.
func Host(i int) string { return fmt.Sprintf("h%d", i) }

func ip(i int) string     { return fmt.Sprintf("10.0.%d.%d", i/250, i%250+1) }
func gossip(i int) string { return ip(i) + ":7946" }

// FastConfig is the membership configuration of the harness: detection
// within about a second, tolerant of a loaded machine.
func FastConfig() cluster.Config {
	c := cluster.DefaultLocalConfig()
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 3
	c.GossipInterval = 50 * time.Millisecond
	c.PushPullInterval = time.Second
	c.GossipToTheDeadTime = 3 * time.Second
	c.StreamTimeout = time.Second
	c.RejoinInterval = 300 * time.Millisecond
	c.ConnectTimeout = time.Second
	return c
}

// Logger discards logs unless GROVE_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("GROVE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// Start starts cfg.Size members, each joining the ones before it, and
// waits until every member sees every other alive and linked.
func Start(t TB, cfg Config) *Harness {
	t.Helper()
	if cfg.Size == 0 {
		cfg.Size = 3
	}
	h := &Harness{t: t, cfg: cfg, nw: faultkit.NewNetwork(faultkit.Config{Seed: cfg.Seed})}
	h.mu.ms = map[int]*Member{}
	t.Cleanup(h.Close)
	for i := range cfg.Size {
		h.mu.next = i + 1
		if _, err := h.start(i); err != nil {
			t.Fatalf("clustertest: start %s: %v", Name(i), err)
		}
	}
	h.WaitConverged(30 * time.Second)
	return h
}

// Network returns the fault-injecting network.
func (h *Harness) Network() *faultkit.Network { return h.nw }

// Member returns the running incarnation of member i, nil if none.
func (h *Harness) Member(i int) *Member {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mu.ms[i]
}

// Running returns the running members in index order.
func (h *Harness) Running() []*Member {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*Member, 0, len(h.mu.ms))
	for _, m := range h.mu.ms {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *Member) int { return a.Index - b.Index })
	return out
}

// start starts member i, joining the gossip addresses of running members.
func (h *Harness) start(i int) (*Member, error) {
	m := &Member{Index: i, Name: Name(i), Host: Host(i), IP: ip(i)}
	m.ep = h.nw.Endpoint(m.Host)
	log := Logger().With("t", h.t.Name(), "node", m.Name)
	var err error
	m.Runtime, err = proc.New(proc.Config{Node: m.Name, Logger: log})
	if err != nil {
		return nil, err
	}
	reg, err := codec.NewRegistry(codec.Config{})
	if err != nil {
		return nil, err
	}
	if h.cfg.Register != nil {
		if err := h.cfg.Register(reg); err != nil {
			return nil, err
		}
	}
	ncfg := node.Config{
		Name: m.Name, Listen: m.IP + ":4370", Cookie: []byte("clustertest"), Transport: m.ep, Codec: reg,
		Heartbeat: 100 * time.Millisecond, HeartbeatTimeout: time.Second,
		ConnectTimeout: time.Second, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		Logger: log,
	}
	if h.cfg.Tolerant {
		ncfg.Heartbeat, ncfg.HeartbeatTimeout, ncfg.ConnectTimeout = 250*time.Millisecond, 5*time.Second, 3*time.Second
	}
	if h.cfg.Node != nil {
		h.cfg.Node(i, &ncfg)
	}
	m.Node, err = node.Start(context.Background(), m.Runtime, ncfg)
	if err != nil {
		closeRuntime(m.Runtime)
		return nil, err
	}
	ccfg := FastConfig()
	if h.cfg.Tolerant {
		ccfg.ProbeInterval, ccfg.ProbeTimeout, ccfg.SuspicionMult = 500*time.Millisecond, 400*time.Millisecond, 4
		ccfg.GossipToTheDeadTime, ccfg.StreamTimeout, ccfg.ConnectTimeout = 10*time.Second, 3*time.Second, 3*time.Second
	}
	ccfg.Bind, ccfg.Transport, ccfg.Logger = gossip(i), m.ep, log
	if h.cfg.Meta != nil {
		ccfg.Meta = h.cfg.Meta(i)
	}
	h.mu.Lock()
	for j := range h.mu.ms {
		if j != i {
			ccfg.Seeds = append(ccfg.Seeds, gossip(j))
		}
	}
	h.mu.Unlock()
	slices.Sort(ccfg.Seeds)
	if h.cfg.Cluster != nil {
		h.cfg.Cluster(i, &ccfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m.Cluster, err = cluster.Start(ctx, m.Node, ccfg)
	if err != nil {
		m.Node.Close()
		closeRuntime(m.Runtime)
		return nil, err
	}
	if h.cfg.Setup != nil {
		if m.Service, err = h.cfg.Setup(m); err != nil {
			m.Cluster.Close()
			m.Node.Close()
			closeRuntime(m.Runtime)
			return nil, err
		}
	}
	h.mu.Lock()
	h.mu.ms[i] = m
	h.mu.Unlock()
	return m, nil
}

func closeRuntime(rt *proc.Runtime) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rt.Close(ctx)
}

// close releases a member's objects in order: service, membership, node,
// runtime.
func (m *Member) close() {
	m.once.Do(func() {
		if m.Service != nil {
			m.Service.Close()
		}
		m.Cluster.Close()
		m.Node.Close()
		closeRuntime(m.Runtime)
	})
}

func (h *Harness) take(i int) *Member {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.mu.ms[i]
	delete(h.mu.ms, i)
	return m
}

// Kill kills member i as kill -9 would: its endpoint closes first, so
// every connection breaks and nothing more leaves it; then its objects
// are released.
func (h *Harness) Kill(i int) {
	m := h.take(i)
	if m == nil {
		return
	}
	m.ep.Close()
	m.close()
}

// Stop stops member i gracefully: its service drains (if it can), the
// member leaves the cluster, then everything closes.
func (h *Harness) Stop(ctx context.Context, i int) error {
	m := h.take(i)
	if m == nil {
		return nil
	}
	var err error
	if d, ok := m.Service.(Drainer); ok {
		err = d.Drain(ctx)
	}
	err = errors.Join(err, m.Cluster.Leave(ctx))
	m.close()
	m.ep.Close()
	return err
}

// Restart starts a new incarnation of member i, killing a running one
// first.
func (h *Harness) Restart(i int) *Member {
	h.t.Helper()
	h.Kill(i)
	m, err := h.start(i)
	if err != nil {
		h.t.Fatalf("clustertest: restart %s: %v", Name(i), err)
	}
	return m
}

// Add starts a new member with the next free index.
func (h *Harness) Add() *Member {
	h.t.Helper()
	h.mu.Lock()
	i := h.mu.next
	h.mu.next++
	h.mu.Unlock()
	m, err := h.start(i)
	if err != nil {
		h.t.Fatalf("clustertest: add %s: %v", Name(i), err)
	}
	return m
}

// Partition cuts the network into groups of member indexes; members not
// listed form a group of their own each.
func (h *Harness) Partition(groups ...[]int) {
	var gs [][]string
	for _, g := range groups {
		var hosts []string
		for _, i := range g {
			hosts = append(hosts, Host(i))
		}
		gs = append(gs, hosts)
	}
	h.nw.Partition(faultkit.Groups(gs...))
}

// Heal removes partitions, pauses and link faults.
func (h *Harness) Heal() { h.nw.HealAll() }

// Pause stalls member i's traffic both ways; Resume undoes it.
func (h *Harness) Pause(i int)  { h.nw.Pause(Host(i)) }
func (h *Harness) Resume(i int) { h.nw.Resume(Host(i)) }

// WaitConverged waits until every running member sees exactly the running
// members alive and is linked to all of them.
func (h *Harness) WaitConverged(timeout time.Duration) {
	h.t.Helper()
	testutil.Eventually(h.t, timeout, func() error {
		ms := h.Running()
		for _, m := range ms {
			alive := map[string]bool{}
			for _, mb := range m.Cluster.Members() {
				if mb.State == cluster.StateAlive {
					alive[mb.Name] = true
				}
			}
			nodes := m.Node.Nodes()
			for _, o := range ms {
				if !alive[o.Name] {
					return fmt.Errorf("%s does not see %s alive", m.Name, o.Name)
				}
				if o != m && !slices.Contains(nodes, o.Name) {
					return fmt.Errorf("%s not linked to %s", m.Name, o.Name)
				}
			}
		}
		return nil
	})
}

// WaitState waits until each observer sees member of index i in one of
// the states.
func (h *Harness) WaitState(timeout time.Duration, observers []*Member, i int, states ...cluster.State) {
	h.t.Helper()
	testutil.Eventually(h.t, timeout, func() error {
		for _, o := range observers {
			mb, ok := o.Cluster.Member(Name(i))
			if !ok && slices.Contains(states, cluster.StateDead) {
				continue
			}
			if !ok || !slices.Contains(states, mb.State) {
				return fmt.Errorf("%s sees %s as %v (known %v), want %v", o.Name, Name(i), mb.State, ok, states)
			}
		}
		return nil
	})
}

// Close kills every member and closes the network.
func (h *Harness) Close() {
	h.mu.Lock()
	ms := make([]*Member, 0, len(h.mu.ms))
	for _, m := range h.mu.ms {
		ms = append(ms, m)
	}
	clear(h.mu.ms)
	h.mu.Unlock()
	h.nw.HealAll()
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(m.close)
	}
	wg.Wait()
	h.nw.Close()
}

// Hosts returns the endpoint names of the running members, for a
// faultkit schedule.
func (h *Harness) Hosts() []string {
	var out []string
	for _, m := range h.Running() {
		out = append(out, m.Host)
	}
	return out
}

// RunSchedule applies a faultkit schedule (faultkit.Schedule) to the
// harness on the real clock, returning once its last step ran or ctx is
// done: network faults act on the network, FaultKill kills a member and
// its undo restarts it, FaultClock is ignored. It heals the network at
// the end. logf, if set, receives a line per step.
func (h *Harness) RunSchedule(ctx context.Context, steps []faultkit.Step, logf func(string, ...any)) {
	start := time.Now()
	for _, s := range steps {
		if d := time.Until(start.Add(s.At)); d > 0 {
			select {
			case <-ctx.Done():
				h.Heal()
				return
			case <-time.After(d):
			}
		}
		if logf != nil {
			logf("schedule: %s", s)
		}
		switch s.Fault {
		case faultkit.FaultPartition:
			if s.Undo {
				h.nw.Heal()
			} else {
				h.nw.Partition(s.Partition)
			}
		case faultkit.FaultPause:
			if s.Undo {
				h.nw.Resume(s.Node)
			} else {
				h.nw.Pause(s.Node)
			}
		case faultkit.FaultSlow, faultkit.FaultDrop:
			for _, l := range s.Links {
				if s.Undo {
					h.nw.SetFaults(l.From, l.To, faultkit.Faults{})
				} else {
					h.nw.SetFaults(l.From, l.To, s.Faults)
				}
			}
		case faultkit.FaultReset:
			for _, l := range s.Links {
				h.nw.Memnet().ResetLink(l.From, l.To)
			}
		case faultkit.FaultKill:
			var i int
			if _, err := fmt.Sscanf(s.Node, "h%d", &i); err != nil {
				continue
			}
			if s.Undo {
				if h.Member(i) == nil {
					if _, err := h.start(i); err != nil && logf != nil {
						logf("schedule: restart %s: %v", Name(i), err)
					}
				}
			} else {
				h.Kill(i)
			}
		}
	}
	h.Heal()
}

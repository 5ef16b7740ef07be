package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/grovedev/grove/internal/flood"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport/memnet"
)

func TestMain(m *testing.M) {
	flood.RunIfChild() // a flood of TestGossipPortFlood, in its own process
	goleak.VerifyTestMain(m,
		// node.Node.register discards a new link that lost a race (node
		// closed, or already connected) by closing its connection without
		// stopping the link's frame writer; that goroutine is the node
		// package's, not this one's.
		goleak.IgnoreTopFunction("github.com/grovedev/grove/node/internal/frame.(*Writer).loop"),
		// memberlist's probe in progress at Shutdown runs to its end (up
		// to ProbeInterval): memberlist offers no way to wait for it.
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

var cookie = []byte("cluster-test-cookie")

// testLogger discards logs unless GROVE_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("GROVE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// fastConfig is a configuration with short timings for tests on memnet.
func fastConfig() Config {
	c := DefaultLocalConfig()
	c.ProbeInterval = 100 * time.Millisecond
	c.ProbeTimeout = 50 * time.Millisecond
	c.SuspicionMult = 3
	c.GossipInterval = 50 * time.Millisecond
	c.PushPullInterval = time.Second
	c.GossipToTheDeadTime = 2 * time.Second
	c.StreamTimeout = time.Second
	c.RejoinInterval = 300 * time.Millisecond
	c.ConnectTimeout = time.Second
	return c
}

// harness runs members on one in-memory network: member i lives on host
// "h<i>" with IP 10.0.<i/250>.<i%250+1>, gossip on port 7946 and its node on
// port 4370.
type harness struct {
	t   testing.TB
	nw  *memnet.Network
	cfg func(i int) Config
	// nodeMod, when set, changes the node configuration of every member;
	// nodeModI of member i.
	nodeMod  func(*node.Config)
	nodeModI func(i int, c *node.Config)
	mu       sync.Mutex
	ms       map[int]*tmember
}

type tmember struct {
	i    int
	host string
	ip   string
	ep   *memnet.Endpoint
	rt   *proc.Runtime
	nd   *node.Node
	c    *Cluster
	once sync.Once
}

func newHarness(t testing.TB, cfg func(i int) Config) *harness {
	h := &harness{t: t, nw: memnet.New(memnet.Config{}), cfg: cfg, ms: map[int]*tmember{}}
	if h.cfg == nil {
		h.cfg = func(int) Config { return fastConfig() }
	}
	t.Cleanup(func() {
		h.mu.Lock()
		ms := make([]*tmember, 0, len(h.ms))
		for _, m := range h.ms {
			ms = append(ms, m)
		}
		h.mu.Unlock()
		var wg sync.WaitGroup
		for _, m := range ms {
			wg.Go(m.stop)
		}
		wg.Wait()
		h.nw.Close()
	})
	return h
}

func name(i int) string { return fmt.Sprintf("n%d@h%d", i, i) }
func host(i int) string { return fmt.Sprintf("h%d", i) }
func ip(i int) string   { return fmt.Sprintf("10.0.%d.%d", i/250, i%250+1) }
func gaddr(i int) string {
	return ip(i) + ":7946"
}

// start starts member i, joining the gossip addresses of seeds.
func (h *harness) start(i int, seeds ...int) *tmember {
	h.t.Helper()
	m, err := h.tryStart(i, seeds...)
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

func (h *harness) tryStart(i int, seeds ...int) (*tmember, error) {
	m := &tmember{i: i, host: host(i), ip: ip(i)}
	m.ep = h.nw.Endpoint(m.host)
	var err error
	m.rt, err = proc.New(proc.Config{Node: name(i), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	ncfg := node.Config{
		Name: name(i), Listen: m.ip + ":4370", Cookie: cookie, Transport: m.ep,
		Heartbeat: 100 * time.Millisecond, HeartbeatTimeout: 500 * time.Millisecond,
		ConnectTimeout: time.Second, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	}
	if h.nodeMod != nil {
		h.nodeMod(&ncfg)
	}
	if h.nodeModI != nil {
		h.nodeModI(i, &ncfg)
	}
	m.nd, err = node.Start(context.Background(), m.rt, ncfg)
	if err != nil {
		m.rt.Close(context.Background())
		return nil, err
	}
	cfg := h.cfg(i)
	cfg.Bind = gaddr(i)
	cfg.Transport = m.ep
	cfg.Logger = testLogger().With("t", h.t.Name())
	for _, s := range seeds {
		cfg.Seeds = append(cfg.Seeds, gaddr(s))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m.c, err = Start(ctx, m.nd, cfg)
	if err != nil {
		m.nd.Close()
		m.rt.Close(context.Background())
		return nil, err
	}
	h.mu.Lock()
	if old := h.ms[i]; old != nil {
		h.mu.Unlock()
		old.stop()
		h.mu.Lock()
	}
	h.ms[i] = m
	h.mu.Unlock()
	return m, nil
}

// stop closes the member's cluster, node and runtime (not its endpoint).
func (m *tmember) stop() {
	m.once.Do(func() {
		m.c.Close()
		m.nd.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m.rt.Close(ctx)
	})
}

// kill makes member i's host vanish (memnet Endpoint.Close) and then
// releases its objects.
func (h *harness) kill(i int) {
	h.mu.Lock()
	m := h.ms[i]
	h.mu.Unlock()
	m.ep.Close()
	m.stop()
}

func (h *harness) get(i int) *tmember {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ms[i]
}

// states returns member name → state as c sees it.
func states(c *Cluster) map[string]State {
	out := map[string]State{}
	for _, m := range c.Members() {
		out[m.Name] = m.State
	}
	return out
}

// waitStates waits until every observer sees every listed member in the
// given state.
func waitStates(t testing.TB, timeout time.Duration, observers []*tmember, want map[string]State) {
	t.Helper()
	testutil.Eventually(t, timeout, func() error {
		for _, o := range observers {
			got := states(o.c)
			for n, s := range want {
				if st, ok := got[n]; !ok || st != s {
					return fmt.Errorf("%s sees %s as %v (present %v), want %v", o.c.Name(), n, got[n], hasKey(got, n), s)
				}
			}
		}
		return nil
	})
}

func hasKey(m map[string]State, k string) bool { _, ok := m[k]; return ok }

// allAlive returns the want map of members is all alive.
func allAlive(is ...int) map[string]State {
	out := map[string]State{}
	for _, i := range is {
		out[name(i)] = StateAlive
	}
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// recorder collects a subscription's events.
type recorder struct {
	mu  sync.Mutex
	evs []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

func (r *recorder) kinds(member string) []EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []EventKind
	for _, e := range r.evs {
		if e.Member.Name == member {
			out = append(out, e.Kind)
		}
	}
	return out
}

func (r *recorder) has(member string, k EventKind) bool {
	return slices.Contains(r.kinds(member), k)
}

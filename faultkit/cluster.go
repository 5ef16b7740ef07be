package faultkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/grovedev/grove/clock"
	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
)

// ClusterConfig describes a cluster of Grove nodes in one process. Zero
// fields mean the documented defaults.
type ClusterConfig struct {
	// Names are the node names; each is also the node's endpoint name on
	// the network, so partitions and link faults use the same names.
	// Default n1@faultkit ... nN@faultkit with N = Size.
	Names []string
	// Size is the number of nodes when Names is empty. Default 3.
	Size int
	// Network to start the nodes on. Default a new Network with Seed.
	Network *Network
	// Seed seeds the default Network.
	Seed uint64
	// ManualClocks gives each node its own clocktest.Manual clock reading
	// Start, moved only by the test. Otherwise each node gets a
	// SkewClock over the real clock, with no skew.
	ManualClocks bool
	// Start is the first reading of manual clocks. Default 2026-01-01 UTC.
	Start time.Time
	// DataDir, when set, is a directory under which each node gets its
	// own (DataDir/<name>, see Cluster.DataDir), kept across restarts,
	// for what the application persists.
	DataDir string
	// Cookie is the cluster's secret. Default a fixed test cookie.
	Cookie []byte
	// Register registers the application's message types in each node's
	// codec (it runs once per node start, on a fresh registry).
	Register func(*codec.Registry) error
	// Proc and Node adjust each node's configuration before it starts,
	// after the kit has filled in its defaults (fast heartbeats: 100 ms,
	// timeout 1 s; reconnect between 10 and 100 ms; connect timeout
	// 1 s; logs discarded).
	Proc func(name string, cfg *proc.Config)
	Node func(name string, cfg *node.Config)
	// Membership, when set, runs a cluster member (package cluster) on
	// every node, started with the node and again on every restart: this
	// configuration with Bind at the node's GossipAddr (an IP-shaped
	// address on the node's endpoint, as membership requires), the node's
	// endpoint as Transport and every other node's GossipAddr as Seeds
	// (and, unless set, the kit's Logger). Cluster.Membership returns the
	// running member; Stop leaves gracefully, Kill does not.
	Membership *cluster.Config
	// Logger receives the kit's own messages. Default discard.
	Logger *slog.Logger
}

// Member is one running incarnation of a cluster node.
type Member struct {
	Name        string
	Runtime     *proc.Runtime
	Node        *node.Node
	Cluster     *cluster.Cluster // with ClusterConfig.Membership, else nil
	Incarnation int              // 1 for the first start, +1 per restart
}

// Cluster runs Grove nodes (a proc.Runtime and a node.Node each) in one
// process, on a fault-injecting in-memory Network, fully connected with
// node.Connect. Each node has its own clock, kept across restarts. It is
// safe for concurrent use.
type Cluster struct {
	cfg   ClusterConfig
	nw    *Network
	ownNw bool
	names []string

	mu struct {
		sync.Mutex
		members map[string]*Member // running ones
		clocks  map[string]clock.Clock
		starts  map[string]int
		closed  bool
	}
}

// ErrNotRunning is returned for a node that is stopped, killed or unknown.
var ErrNotRunning = errors.New("faultkit: node not running")

// NewCluster starts the nodes and connects every pair. On error it stops
// what it started.
func NewCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if len(cfg.Names) == 0 {
		n := cfg.Size
		if n == 0 {
			n = 3
		}
		for i := range n {
			cfg.Names = append(cfg.Names, fmt.Sprintf("n%d@faultkit", i+1))
		}
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if cfg.Cookie == nil {
		cfg.Cookie = []byte("faultkit-cookie")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{cfg: cfg, nw: cfg.Network, names: slices.Clone(cfg.Names)}
	if c.nw == nil {
		c.nw = NewNetwork(Config{Seed: cfg.Seed})
		c.ownNw = true
	}
	c.mu.members = map[string]*Member{}
	c.mu.clocks = map[string]clock.Clock{}
	c.mu.starts = map[string]int{}
	for _, name := range c.names {
		if cfg.ManualClocks {
			c.mu.clocks[name] = clocktest.New(cfg.Start)
		} else {
			c.mu.clocks[name] = NewSkewClock(nil, 0)
		}
	}
	for _, name := range c.names {
		if err := c.start(ctx, name); err != nil {
			c.Close()
			return nil, err
		}
	}
	for _, name := range c.names {
		if err := c.connect(ctx, name); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Addr returns the network address node name listens on.
func (c *Cluster) Addr(name string) string { return name + ":4370" }

// GossipAddr returns the membership address of node name: 10.77.x.y:7946
// on the node's endpoint, x.y numbering the node by its rank in Names, so
// that membership, which identifies members by IP and port, runs on the
// in-memory network. Empty for a name not in the cluster.
func (c *Cluster) GossipAddr(name string) string {
	i := slices.Index(c.names, name)
	if i < 0 {
		return ""
	}
	return fmt.Sprintf("10.77.%d.%d:7946", i/250, i%250+1)
}

// Membership returns the cluster member of the running incarnation of
// name, or nil (not running, or no ClusterConfig.Membership).
func (c *Cluster) Membership(name string) *cluster.Cluster {
	m, _ := c.Member(name)
	if m == nil {
		return nil
	}
	return m.Cluster
}

// startMembership starts name's cluster member on its node.
func (c *Cluster) startMembership(ctx context.Context, name string, nd *node.Node) (*cluster.Cluster, error) {
	if c.cfg.Membership == nil {
		return nil, nil
	}
	cfg := *c.cfg.Membership
	cfg.Bind, cfg.Advertise = c.GossipAddr(name), ""
	cfg.Transport = c.nw.Endpoint(name)
	cfg.Seeds = nil
	for _, o := range c.names {
		if o != name {
			cfg.Seeds = append(cfg.Seeds, c.GossipAddr(o))
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = c.cfg.Logger
	}
	// Seeds not up yet are retried in the background: no wait here.
	jctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return cluster.Start(jctx, nd, cfg)
}

// start starts a new incarnation of name.
func (c *Cluster) start(ctx context.Context, name string) error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.mu.members[name] != nil {
		c.mu.Unlock()
		return fmt.Errorf("faultkit: %s already running", name)
	}
	clk := c.mu.clocks[name]
	c.mu.starts[name]++
	inc := c.mu.starts[name]
	c.mu.Unlock()

	discard := slog.New(slog.DiscardHandler)
	pcfg := proc.Config{Node: name, Clock: clk, Logger: discard}
	if c.cfg.Proc != nil {
		c.cfg.Proc(name, &pcfg)
	}
	rt, err := proc.New(pcfg)
	if err != nil {
		return err
	}
	reg, err := codec.NewRegistry(codec.Config{})
	if err != nil {
		closeRuntime(rt)
		return err
	}
	if c.cfg.Register != nil {
		if err := c.cfg.Register(reg); err != nil {
			closeRuntime(rt)
			return err
		}
	}
	ncfg := node.Config{
		Name: name, Listen: c.Addr(name), Cookie: c.cfg.Cookie,
		Transport: c.nw.Endpoint(name), Codec: reg,
		Heartbeat: 100 * time.Millisecond, HeartbeatTimeout: time.Second,
		ConnectTimeout: time.Second, ReconnectMin: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond,
		Logger: discard,
	}
	if c.cfg.Node != nil {
		c.cfg.Node(name, &ncfg)
	}
	n, err := node.Start(ctx, rt, ncfg)
	if err != nil {
		closeRuntime(rt)
		return err
	}
	mc, err := c.startMembership(ctx, name, n)
	if err != nil {
		n.Close()
		closeRuntime(rt)
		return err
	}
	m := &Member{Name: name, Runtime: rt, Node: n, Cluster: mc, Incarnation: inc}
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		if mc != nil {
			mc.Close()
		}
		n.Close()
		closeRuntime(rt)
		return ErrClosed
	}
	c.mu.members[name] = m
	c.mu.Unlock()
	c.cfg.Logger.Info("faultkit: node started", "node", name, "incarnation", inc)
	return nil
}

// connect makes name keep every other node connected. A first attempt
// that fails (the peer is down or cut off) is not an error: the address
// is recorded and the link comes up on first use or from the other side.
func (c *Cluster) connect(ctx context.Context, name string) error {
	m, err := c.Member(name)
	if err != nil {
		return err
	}
	for _, o := range c.names {
		if o == name {
			continue
		}
		m.Node.AddAddress(o, c.Addr(o))
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := m.Node.Connect(cctx, o, c.Addr(o))
		cancel()
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

func closeRuntime(rt *proc.Runtime) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rt.Close(ctx)
}

// DataDir returns the data directory of node name, creating it; empty
// when ClusterConfig.DataDir is not set.
func (c *Cluster) DataDir(name string) string {
	if c.cfg.DataDir == "" {
		return ""
	}
	dir := filepath.Join(c.cfg.DataDir, unsafeName.ReplaceAllString(name, "_"))
	os.MkdirAll(dir, 0o755)
	return dir
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.@-]+`)

// Names returns the node names in the order configured.
func (c *Cluster) Names() []string { return slices.Clone(c.names) }

// Network returns the network the nodes run on.
func (c *Cluster) Network() *Network { return c.nw }

// Member returns the running incarnation of name.
func (c *Cluster) Member(name string) (*Member, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.mu.members[name]
	if m == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotRunning, name)
	}
	return m, nil
}

// Node returns the node.Node of the running incarnation of name, or nil.
func (c *Cluster) Node(name string) *node.Node {
	m, _ := c.Member(name)
	if m == nil {
		return nil
	}
	return m.Node
}

// Runtime returns the proc.Runtime of the running incarnation of name, or
// nil.
func (c *Cluster) Runtime(name string) *proc.Runtime {
	m, _ := c.Member(name)
	if m == nil {
		return nil
	}
	return m.Runtime
}

// Running reports whether name is running.
func (c *Cluster) Running(name string) bool {
	_, err := c.Member(name)
	return err == nil
}

// Clock returns the clock of node name: a *clocktest.Manual with
// ManualClocks, a *SkewClock otherwise.
func (c *Cluster) Clock(name string) clock.Clock {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.clocks[name]
}

// Jump moves the clock of node name by d, forwards or back: Advance or Set
// on a manual clock, Jump on a skewed one. Timers the jump passes fire.
func (c *Cluster) Jump(name string, d time.Duration) {
	switch clk := c.Clock(name).(type) {
	case *clocktest.Manual:
		if d >= 0 {
			clk.Advance(d)
		} else {
			clk.Set(clk.Now().Add(d))
		}
	case *SkewClock:
		clk.Jump(d)
	}
}

// Stop stops node name gracefully: its node closes every link (peers see
// ErrNoConnection at once) and its runtime stops its processes.
func (c *Cluster) Stop(ctx context.Context, name string) error {
	m, err := c.take(name)
	if err != nil {
		return err
	}
	var leaveErr error
	if m.Cluster != nil {
		leaveErr = m.Cluster.Leave(ctx) // the others see it left
	}
	err = m.Node.Close()
	return errors.Join(leaveErr, err, m.Runtime.Close(ctx))
}

// Kill kills node name as kill -9 would: its host's endpoint closes first,
// so every connection dies mid-stream and nothing more leaves the node,
// then the node and runtime are closed only to reclaim their goroutines
// (their exit signals cannot reach other nodes any more). State the
// application did not persist is gone with the runtime.
func (c *Cluster) Kill(name string) error {
	m, err := c.take(name)
	if err != nil {
		return err
	}
	c.nw.mem.Endpoint(name).Close()
	if m.Cluster != nil {
		m.Cluster.Close()
	}
	m.Node.Close()
	closeRuntime(m.Runtime)
	return nil
}

func (c *Cluster) take(name string) (*Member, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.mu.members[name]
	if m == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotRunning, name)
	}
	delete(c.mu.members, name)
	return m, nil
}

// Restart starts a new incarnation of name (stopped or killed) under the
// same name and address, with the same clock, and connects it to the
// others. Its old PIDs stay dead. A running node is killed first.
func (c *Cluster) Restart(ctx context.Context, name string) error {
	if c.Running(name) {
		if err := c.Kill(name); err != nil {
			return err
		}
	}
	if err := c.start(ctx, name); err != nil {
		return err
	}
	return c.connect(ctx, name)
}

// Pause stalls the network of node name (see Network.Pause).
func (c *Cluster) Pause(name string) { c.nw.Pause(name) }

// Resume undoes Pause.
func (c *Cluster) Resume(name string) { c.nw.Resume(name) }

// Close stops every running node (killing them: Close is for test
// cleanup) and, if the cluster created its network, closes it. It is
// idempotent.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil
	}
	c.mu.closed = true
	var ms []*Member
	for _, m := range c.mu.members {
		ms = append(ms, m)
	}
	clear(c.mu.members)
	c.mu.Unlock()
	c.nw.HealAll()
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() {
			if m.Cluster != nil {
				m.Cluster.Close()
			}
			m.Node.Close()
			closeRuntime(m.Runtime)
		})
	}
	wg.Wait()
	if c.ownNw {
		c.nw.Close()
	}
	return nil
}

// ErrClosed is returned by a Cluster after Close.
var ErrClosed = errors.New("faultkit: closed")

package kv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/faultkit/check"
	"github.com/grovedev/grove/faultkit/history"
	"github.com/grovedev/grove/internal/kvcheck"
	"github.com/grovedev/grove/raft"
)

// kvNode is one node of a test cluster: its current host and store,
// replaced when the node is killed and restarted, and an HTTP server that
// serves whichever store is current.
type kvNode struct {
	name string
	mu   sync.Mutex
	inc  int
	host *raft.Host
	st   *Store
	srv  *httptest.Server
}

func (n *kvNode) store() *Store {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st
}

// kvCluster runs a kv store on a faultkit cluster; a manager follows the
// nodes' incarnations, so kills and restarts by a nemesis restart the
// store from its log.
type kvCluster struct {
	t       testing.TB
	fk      *faultkit.Cluster
	nodes   map[string]*kvNode
	names   []string
	initial []string
	stop    chan struct{}
	wg      sync.WaitGroup
	tick    time.Duration
}

func newKVCluster(t testing.TB, seed uint64, size, voters int) *kvCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fk, err := faultkit.NewCluster(ctx, faultkit.ClusterConfig{Size: size, Seed: seed, DataDir: t.(interface{ TempDir() string }).TempDir(), Register: raft.RegisterTypes})
	if err != nil {
		t.Fatal(err)
	}
	c := &kvCluster{t: t, fk: fk, nodes: map[string]*kvNode{}, names: fk.Names(), stop: make(chan struct{}), tick: 20 * time.Millisecond}
	c.initial = c.names[:voters]
	for _, name := range c.names {
		n := &kvNode{name: name}
		n.srv = httptest.NewServer(Handler(n.store, 5*time.Second))
		c.nodes[name] = n
		c.sync(n)
	}
	c.wg.Add(1)
	go c.manage()
	return c
}

// sync starts or stops n's store to match its node's incarnation.
func (c *kvCluster) sync(n *kvNode) {
	m, err := c.fk.Member(n.name)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err == nil && n.inc == m.Incarnation && n.host != nil {
		return
	}
	if n.host != nil {
		n.host.Close()
		n.host, n.st = nil, nil
	}
	if err != nil {
		return
	}
	h, err := raft.Start(m.Node, raft.Config{DataDir: c.fk.DataDir(n.name), TickInterval: c.tick, ElectionTicks: 10, SnapshotEntries: 200, KeepEntries: 50})
	if err != nil {
		c.t.Errorf("start host on %s: %v", n.name, err)
		return
	}
	cfg := Config{Members: c.initial}
	if !slices.Contains(c.initial, n.name) {
		cfg = Config{Join: true}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := Open(ctx, h, cfg)
	if err != nil {
		h.Close()
		c.t.Errorf("open store on %s: %v", n.name, err)
		return
	}
	n.inc, n.host, n.st = m.Incarnation, h, st
}

func (c *kvCluster) manage() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			return
		case <-time.After(10 * time.Millisecond):
		}
		for _, name := range c.names {
			c.sync(c.nodes[name])
		}
	}
}

func (c *kvCluster) close() {
	close(c.stop)
	c.wg.Wait()
	for _, n := range c.nodes {
		n.srv.Close()
		n.mu.Lock()
		if n.host != nil {
			n.host.Close()
		}
		n.mu.Unlock()
	}
	c.fk.Close()
}

// leader returns the node whose store leads, if any.
func (c *kvCluster) leader() (*kvNode, raft.Status) {
	for _, name := range c.names {
		if s := c.nodes[name].store(); s != nil {
			if st := s.Group().Status(); st.Role == raft.Leader && !st.Stopped {
				return c.nodes[name], st
			}
		}
	}
	return nil, raft.Status{}
}

// memberStats counts the membership changes that took effect.
type memberStats struct {
	mu                        sync.Mutex
	adds, removes, transfers  int
	failedAdds, failedRemoves int
	failedTransfers           int
}

func (m *memberStats) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("%d adds, %d removes, %d leadership transfers took effect; %d, %d, %d failed",
		m.adds, m.removes, m.transfers, m.failedAdds, m.failedRemoves, m.failedTransfers)
}

// change makes one membership change on the leader, chosen by r: hand
// leadership to another voter, add the node that is not a voter (as a
// learner, promoted once caught up), or remove a voter other than the
// leader. It returns what it tried, and false when there is no leader.
func (c *kvCluster) change(r *rand.Rand, kind int, ms *memberStats, logf func(string, ...any)) bool {
	l, st := c.leader()
	if l == nil {
		return false
	}
	g := l.store().Group()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var err error
	var what string
	var ok, bad *int
	switch {
	case kind == 0:
		var others []string
		for _, v := range st.Voters {
			if v != l.name {
				others = append(others, v)
			}
		}
		if len(others) == 0 {
			return true
		}
		to := others[r.IntN(len(others))]
		what, err, ok, bad = "transfer leadership to "+to, g.TransferLeadership(ctx, to), &ms.transfers, &ms.failedTransfers
	case len(st.Voters) < len(c.names):
		var spare string
		for _, n := range c.names {
			if !slices.Contains(st.Voters, n) {
				spare = n
			}
		}
		what, err, ok, bad = "add "+spare, g.AddMember(ctx, spare), &ms.adds, &ms.failedAdds
	default:
		var victims []string
		for _, v := range st.Voters {
			if v != l.name {
				victims = append(victims, v)
			}
		}
		x := victims[r.IntN(len(victims))]
		what, err, ok, bad = "remove "+x, g.RemoveMember(ctx, x), &ms.removes, &ms.failedRemoves
	}
	ms.mu.Lock()
	if err == nil {
		*ok++
	} else {
		*bad++
	}
	ms.mu.Unlock()
	logf("membership: %s on leader %s: %v", what, l.name, err)
	return true
}

// membership changes the group's members until stop, every so often (the
// membership part of the nemesis): leadership transfers, and the voters
// rotated through the cluster's nodes by adds and removes.
func (c *kvCluster) membership(seed uint64, every time.Duration, ms *memberStats, logf func(string, ...any), stop <-chan struct{}) {
	r := rand.New(rand.NewPCG(seed, 99))
	for {
		select {
		case <-stop:
			return
		case <-time.After(every/2 + time.Duration(r.Int64N(int64(every)))):
		}
		kind := 1
		if r.IntN(3) == 0 {
			kind = 0
		}
		c.change(r, kind, ms, logf)
	}
}

// cycle makes, on the healed cluster, each kind of change once — a
// removal, an addition and a leadership transfer — retrying each until it
// takes effect, so that every run exercises them whatever the faults let
// through before.
func (c *kvCluster) cycle(t *testing.T, seed uint64, ms *memberStats) {
	r := rand.New(rand.NewPCG(seed, 100))
	count := func(step string) int {
		ms.mu.Lock()
		defer ms.mu.Unlock()
		return map[string]int{"remove": ms.removes, "add": ms.adds, "transfer": ms.transfers}[step]
	}
	for _, step := range []string{"remove", "add", "transfer"} {
		kind := 1 // an add while a node is spare, else a removal
		if step == "transfer" {
			kind = 0
		}
		before := count(step)
		deadline := time.Now().Add(30 * time.Second)
		for count(step) == before {
			if time.Now().After(deadline) {
				t.Fatalf("healed cluster: no %s took effect in 30 s (%v)", step, ms)
			}
			c.change(r, kind, ms, t.Logf)
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// jepsen runs one seeded round of the test.
func jepsen(t *testing.T, seed uint64, dur time.Duration) {
	c := newKVCluster(t, seed, 4, 3)
	defer c.close()
	// Wait for a leader before the clock starts.
	deadline := time.Now().Add(30 * time.Second)
	for l, _ := c.leader(); l == nil; l, _ = c.leader() {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rec := history.NewRecorder()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	endpoints := func() []string {
		var out []string
		for _, n := range c.names {
			out = append(out, c.nodes[n].srv.URL)
		}
		return out
	}
	go func() {
		defer wg.Done()
		kvcheck.Workload(seed, 5, []string{"x", "y", "z"}, endpoints, &http.Client{Timeout: 8 * time.Second}, rec, stop)
	}()
	ms := &memberStats{}
	memberStop := make(chan struct{})
	var mwg sync.WaitGroup
	mwg.Add(1)
	go func() { defer mwg.Done(); c.membership(seed, 700*time.Millisecond, ms, t.Logf, memberStop) }()
	nem := faultkit.StartNemesis(faultkit.NemesisConfig{
		Seed: seed, Nodes: c.names, Duration: dur, Hold: 600 * time.Millisecond, Quiet: 300 * time.Millisecond,
		Faults: []faultkit.Fault{faultkit.FaultPartition, faultkit.FaultPause, faultkit.FaultKill, faultkit.FaultClock, faultkit.FaultDrop, faultkit.FaultReset, faultkit.FaultSlow},
		Logf:   t.Logf,
	}, nil, c.fk)
	<-nem.Done()
	close(memberStop)
	mwg.Wait()
	if err := nem.Close(); err != nil {
		t.Errorf("nemesis: %v", err)
	}
	t.Logf("seed %d: under faults: %v", seed, ms)
	// Healed: the workload goes on through one change of each kind.
	c.cycle(t, seed, ms)
	// Healed: every node must serve writes again.
	client := &http.Client{Timeout: 5 * time.Second}
	for _, name := range c.names {
		deadline := time.Now().Add(30 * time.Second)
		for {
			op := kvcheck.Do(client, "PUT", c.nodes[name].srv.URL+"/v1/kv/healed", name)
			if op.Err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s does not serve writes 30 s after the heal: %v", name, op.Err)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	h := rec.History()
	ok, failed, info := kvcheck.Counts(h)
	t.Logf("seed %d: %d operations: %d ok, %d failed, %d unknown; membership: %v", seed, ok+failed+info, ok, failed, info, ms)
	if ok == 0 {
		t.Fatal("no operation succeeded")
	}
	res := check.RequireLinearizable(t, h, check.Options{Timeout: 30 * time.Second})
	t.Logf("seed %d: %v", seed, res)
}

// TestJepsen checks that the store stays linearizable through the HTTP
// API under partitions of every shape, pauses, kills and restarts, clock
// jumps, lossy and slow links, and membership changes. The default run
// uses fixed seeds; GROVE_SEED replays one, GROVE_JEPSEN_SEEDS=N sweeps N
// more from it, GROVE_JEPSEN_SECONDS sets each run's nemesis time.
func TestJepsen(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dur := 4 * time.Second
	if s := os.Getenv("GROVE_JEPSEN_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		dur = time.Duration(n) * time.Second
	}
	seeds := []uint64{1, 2, 3}
	if raceEnabled {
		seeds, dur = seeds[:1], 3*time.Second
	}
	if s := os.Getenv(faultkit.SeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seeds = []uint64{v}
	}
	if s := os.Getenv("GROVE_JEPSEN_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			seeds = append(seeds, seeds[0]+uint64(100+i))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("replay: %s=%d go test ./kv -run 'TestJepsen'", faultkit.SeedEnv, seed)
				}
			})
			jepsen(t, seed, dur)
		})
	}
}

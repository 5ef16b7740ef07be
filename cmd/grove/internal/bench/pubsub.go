package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/pg"
	"github.com/grovedev/grove/presence"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/pubsub"
)

// PubSubConfig sizes `grove bench pubsub`.
type PubSubConfig struct {
	Small      int // subscribers of the small broadcast; default 10,000
	Large      int // subscribers of the large broadcast; default 1,000,000
	Rounds     int // broadcasts timed at each size (the median is kept); default 7 (3 for the large one)
	Stream     int // broadcasts of the throughput run; default 20,000
	StreamSubs int // subscribers per node of the throughput run; default 100
	Joins      int // group joins made visible on every node; default 10,000
	Presences  int // presences listed; default 100,000
}

func (c PubSubConfig) withDefaults() PubSubConfig {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Small, 10_000)
	def(&c.Large, 1_000_000)
	def(&c.Rounds, 7)
	def(&c.Stream, 20_000)
	def(&c.StreamSubs, 100)
	def(&c.Joins, 10_000)
	def(&c.Presences, 100_000)
	return c
}

// PubSubResult holds the figures of `grove bench pubsub`. The JSON names
// are part of the command's output contract.
type PubSubResult struct {
	Broadcast10kMs     float64 `json:"broadcast_10k_ms"`
	Broadcast1MMs      float64 `json:"broadcast_1m_ms"`
	BroadcastsPerS     float64 `json:"broadcasts_per_s"`
	PGJoin10kVisibleMs float64 `json:"pg_join_10k_visible_ms"`
	PresenceList100kMs float64 `json:"presence_list_100k_ms"`

	// The CPU time the three node processes used together (user and
	// system, whatever they ran meanwhile), per timed broadcast: what a
	// broadcast costs, whatever else the machine runs.
	Broadcast10kCPUMs float64 `json:"broadcast_10k_cpu_ms"`
	Broadcast1MCPUMs  float64 `json:"broadcast_1m_cpu_ms"`

	// Inline function subscribers (pubsub.Inline) instead of processes.
	Broadcast10kInlineMs float64 `json:"broadcast_10k_inline_ms"`
	Broadcast1MInlineMs  float64 `json:"broadcast_1m_inline_ms"`

	// The baselines and the conditions, measured in the same run.
	SliceCopy100kMs     float64 `json:"slice_copy_100k_ms"`     // copying as many presences from a plain slice
	PresenceRange100kMs float64 `json:"presence_range_100k_ms"` // Range over them, no copy, under the same updates
	// The CPU time of the listing thread for one List (GC assists
	// included): what the list costs, whatever else the machine runs.
	PresenceList100kCPUMs float64 `json:"presence_list_100k_cpu_ms"`
	PresenceUpdatesPerS   float64 `json:"presence_updates_per_s"` // the updates going on during the lists
	PGJoinBatches         uint64  `json:"pg_join_batches"`        // messages that carried the joins, from the driver
	SmallSubscribers      int     `json:"small_subscribers"`
	LargeSubscribers      int     `json:"large_subscribers"`
	Presences             int     `json:"presences"`
	Nodes                 int     `json:"nodes"`
	GOMAXPROCS            int     `json:"gomaxprocs"`
}

// Node names of the pubsub benchmark: the driver and its two peers.
var PubSubNodes = []string{"ps-a@127.0.0.1", "ps-b@127.0.0.1", "ps-c@127.0.0.1"}

// Messages between the driver and its peers.
type (
	// psSetup asks a node for N subscriber processes on Topic; each
	// broadcast they all received is reported to Report.
	psSetup struct {
		Topic  string
		N      int
		Inline bool // inline function subscribers instead of processes
		Report proc.PID
	}
	// psReport says that node's subscribers of Topic have received Count
	// messages each (or, for pg, that Count members are visible).
	psReport struct {
		Node  string
		Topic string
		Count int
	}
	// psJoin asks a node for N processes that join Group one by one.
	psJoin struct {
		Group string
		N     int
	}
	// psWatch asks a node to report when Group has Want members.
	psWatch struct {
		Group  string
		Want   int
		Report proc.PID
	}
	// psConnect asks a node to connect to another.
	psConnect struct{ Name, Addr string }
)

func pubsubCodec() (*codec.Registry, error) {
	r, err := codec.NewRegistry(codec.Config{})
	if err != nil {
		return nil, err
	}
	return r, errors.Join(
		codec.Register[psSetup](r, "grove.bench.psSetup"),
		codec.Register[psReport](r, "grove.bench.psReport"),
		codec.Register[psJoin](r, "grove.bench.psJoin"),
		codec.Register[psWatch](r, "grove.bench.psWatch"),
		codec.Register[psConnect](r, "grove.bench.psConnect"),
	)
}

// psNode is one node of the benchmark, in the driver or a peer.
type psNode struct {
	rt    *proc.Runtime
	nd    *node.Node
	ps    *pubsub.PubSub
	scope *pg.Scope

	mu     sync.Mutex
	subs   map[string][]proc.PID             // subscriber processes by topic
	inline map[string][]*pubsub.Subscription // inline function subscriptions by topic
}

func startPSNode(ctx context.Context, name string, sec LinkSecurity) (*psNode, error) {
	rt, err := proc.New(proc.Config{Node: name, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	reg, err := pubsubCodec()
	if err != nil {
		return nil, err
	}
	cfg := node.Config{Name: name, Listen: "127.0.0.1:0", Codec: reg, Logger: slog.New(slog.DiscardHandler)}
	if err := sec.apply(&cfg); err != nil {
		return nil, err
	}
	nd, err := node.Start(ctx, rt, cfg)
	if err != nil {
		closeRuntime(rt)
		return nil, err
	}
	n := &psNode{rt: rt, nd: nd, subs: map[string][]proc.PID{}, inline: map[string][]*pubsub.Subscription{}}
	if n.ps, err = pubsub.Start(nd, pubsub.Config{Buffer: 1 << 16}); err == nil {
		n.scope, err = pg.Start(nd, pg.Config{})
	}
	if err != nil {
		n.close()
		return nil, err
	}
	for name, fn := range map[string]node.Func{
		"bench.ps.setup":    n.setup,
		"bench.ps.teardown": n.teardown,
		"bench.ps.join":     n.join,
		"bench.ps.watch":    n.watch,
		"bench.ps.connect":  n.connect,
		"bench.ps.peers":    func(context.Context, any) (any, error) { return len(n.ps.Nodes()) + 100*len(n.scope.Nodes()), nil },
		"bench.ps.cpu":      func(context.Context, any) (any, error) { return int64(cpuTime()), nil },
	} {
		if err := nd.Register(name, fn); err != nil {
			n.close()
			return nil, err
		}
	}
	return n, nil
}

func (n *psNode) close() {
	if n.scope != nil {
		n.scope.Close()
	}
	if n.ps != nil {
		n.ps.Close()
	}
	n.nd.Close()
	closeRuntime(n.rt)
}

// setup spawns subscriber processes. Each counts into a counter shared by
// the node's subscribers of the topic; the one that completes a broadcast
// (N more deliveries) reports it.
func (n *psNode) setup(_ context.Context, arg any) (any, error) {
	req, ok := arg.(psSetup)
	if !ok {
		return nil, fmt.Errorf("bench: setup with %T", arg)
	}
	var got atomic.Int64
	per := int64(req.N)
	self := n.rt.Node()
	if req.Inline {
		subs := make([]*pubsub.Subscription, 0, req.N)
		for range req.N {
			s, err := n.ps.SubscribeFunc(req.Topic, func(*pubsub.Message) {
				if c := got.Add(1); c%per == 0 {
					_ = n.rt.Send(req.Report, psReport{Node: self, Topic: req.Topic, Count: int(c / per)})
				}
			}, pubsub.Inline())
			if err != nil {
				return nil, err
			}
			subs = append(subs, s)
		}
		n.mu.Lock()
		n.inline[req.Topic] = append(n.inline[req.Topic], subs...)
		n.mu.Unlock()
		return req.N, nil
	}
	sub := proc.HandlerFunc(func(p *proc.Process, msg any) {
		if _, ok := msg.(*pubsub.Message); !ok {
			return
		}
		if c := got.Add(1); c%per == 0 {
			_ = p.Send(req.Report, psReport{Node: self, Topic: req.Topic, Count: int(c / per)})
		}
	})
	pids := make([]proc.PID, 0, req.N)
	for range req.N {
		pid, err := n.rt.Spawn(sub)
		if err != nil {
			return nil, err
		}
		if _, err := n.ps.Subscribe(pid, req.Topic, pubsub.WithBuffer(1<<16, pubsub.DropNewest)); err != nil {
			return nil, err
		}
		pids = append(pids, pid)
	}
	n.mu.Lock()
	n.subs[req.Topic] = append(n.subs[req.Topic], pids...)
	n.mu.Unlock()
	return req.N, nil
}

// teardown ends the subscriber processes of a topic and waits until their
// subscriptions are gone.
func (n *psNode) teardown(ctx context.Context, arg any) (any, error) {
	topic, _ := arg.(string)
	n.mu.Lock()
	pids, subs := n.subs[topic], n.inline[topic]
	delete(n.subs, topic)
	delete(n.inline, topic)
	n.mu.Unlock()
	for _, s := range subs {
		s.Cancel()
	}
	for _, pid := range pids {
		n.rt.Exit(pid, proc.ErrKill)
	}
	for n.ps.Subscribers(topic) > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil, nil
}

// join spawns processes that join a group one at a time, as many
// processes starting and joining would.
func (n *psNode) join(_ context.Context, arg any) (any, error) {
	req, ok := arg.(psJoin)
	if !ok {
		return nil, fmt.Errorf("bench: join with %T", arg)
	}
	idle := proc.HandlerFunc(func(*proc.Process, any) {})
	for range req.N {
		pid, err := n.rt.Spawn(idle)
		if err != nil {
			return nil, err
		}
		if err := n.scope.Join(req.Group, pid); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// watch reports once the group has the members wanted, from the scope's
// events (no polling).
func (n *psNode) watch(_ context.Context, arg any) (any, error) {
	req, ok := arg.(psWatch)
	if !ok {
		return nil, fmt.Errorf("bench: watch with %T", arg)
	}
	var count atomic.Int64
	var once sync.Once
	var cancel func()
	report := func() {
		once.Do(func() {
			_ = n.rt.Send(req.Report, psReport{Node: n.rt.Node(), Topic: req.Group, Count: req.Want})
			go cancel()
		})
	}
	members, c, err := n.scope.Watch(req.Group, func(e pg.Event) {
		d := int64(len(e.PIDs))
		if e.Kind == pg.Left {
			d = -d
		}
		if count.Add(d) >= int64(req.Want) {
			report()
		}
	})
	if err != nil {
		return nil, err
	}
	cancel = c
	if count.Add(int64(len(members))) >= int64(req.Want) {
		report()
	}
	return nil, nil
}

func (n *psNode) connect(ctx context.Context, arg any) (any, error) {
	req, ok := arg.(psConnect)
	if !ok {
		return nil, fmt.Errorf("bench: connect with %T", arg)
	}
	return nil, n.nd.Connect(ctx, req.Name, req.Addr)
}

// RunPubSubPeer runs a peer node of the pubsub benchmark until ctx ends.
func RunPubSubPeer(ctx context.Context, name string, sec LinkSecurity, ready func(addr string)) error {
	n, err := startPSNode(ctx, name, sec)
	if err != nil {
		return err
	}
	defer n.close()
	ready(n.nd.Addr())
	<-ctx.Done()
	return nil
}

// reports collects psReport messages in a process of the driver.
type reports struct {
	pid proc.PID
	ch  chan psReport
}

func newReports(rt *proc.Runtime) (*reports, error) {
	r := &reports{ch: make(chan psReport, 1024)}
	pid, err := rt.Spawn(proc.HandlerFunc(func(_ *proc.Process, msg any) {
		if m, ok := msg.(psReport); ok {
			r.ch <- m
		}
	}))
	r.pid = pid
	return r, err
}

// await waits for one report of count from each node. The bound is
// generous: on a loaded machine one broadcast to a million processes has
// taken over two minutes.
func (r *reports) await(ctx context.Context, topic string, count, nodes int) error {
	seen := map[string]bool{}
	timeout := time.After(10 * time.Minute)
	for len(seen) < nodes {
		select {
		case m := <-r.ch:
			if m.Topic == topic && m.Count >= count {
				seen[m.Node] = true
			}
		case <-timeout:
			return fmt.Errorf("bench: %s: %d of %d nodes reported %d", topic, len(seen), nodes, count)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// PubSub runs the pubsub benchmarks: a driver node in this process and
// peers started by startPeer (each one `grove bench pubsub peer`), given
// the peer's name.
func PubSub(ctx context.Context, cfg PubSubConfig, sec LinkSecurity, startPeer func(ctx context.Context, name string) (addr string, stop func(), err error), progress func(string)) (PubSubResult, error) {
	cfg = cfg.withDefaults()
	res := PubSubResult{Nodes: len(PubSubNodes), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	progress("driver node and two peer node processes")
	drv, err := startPSNode(ctx, PubSubNodes[0], sec)
	if err != nil {
		return res, err
	}
	defer drv.close()
	addrs := map[string]string{}
	for _, name := range PubSubNodes[1:] {
		addr, stop, err := startPeer(ctx, name)
		if err != nil {
			return res, err
		}
		defer stop()
		addrs[name] = addr
		if err := drv.nd.Connect(ctx, name, addr); err != nil {
			return res, err
		}
	}
	if _, err := drv.nd.RPC(ctx, PubSubNodes[1], "bench.ps.connect", psConnect{PubSubNodes[2], addrs[PubSubNodes[2]]}); err != nil {
		return res, err
	}
	// Wait until every node's services know the two others.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, name := range PubSubNodes {
			v, err := drv.nd.RPC(ctx, name, "bench.ps.peers", nil)
			if err != nil || v != 202 {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return res, errors.New("bench: the nodes' services did not find each other")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rep, err := newReports(drv.rt)
	if err != nil {
		return res, err
	}
	perNode := func(total int) []int {
		out := make([]int, len(PubSubNodes))
		for i := range out {
			out[i] = total / len(out)
			if i < total%len(out) {
				out[i]++
			}
		}
		return out
	}
	setup := func(topic string, total int, inline bool) error {
		var wg sync.WaitGroup
		errs := make([]error, len(PubSubNodes))
		for i, n := range perNode(total) {
			wg.Go(func() {
				c, cancel := context.WithTimeout(ctx, 5*time.Minute)
				defer cancel()
				_, errs[i] = drv.nd.RPC(c, PubSubNodes[i], "bench.ps.setup", psSetup{Topic: topic, N: n, Inline: inline, Report: rep.pid})
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	teardown := func(topic string) {
		for _, name := range PubSubNodes {
			c, cancel := context.WithTimeout(ctx, 2*time.Minute)
			drv.nd.RPC(c, name, "bench.ps.teardown", topic)
			cancel()
		}
	}
	// clusterCPU returns the CPU time the three processes have used.
	clusterCPU := func() (time.Duration, error) {
		var sum time.Duration
		for _, name := range PubSubNodes {
			v, err := drv.nd.RPC(ctx, name, "bench.ps.cpu", nil)
			if err != nil {
				return 0, err
			}
			ns, ok := v.(int64)
			if !ok {
				return 0, fmt.Errorf("bench: CPU time of %s: got %T", name, v)
			}
			sum += time.Duration(ns)
		}
		return sum, nil
	}
	var lastCPUMs float64 // CPU per timed broadcast of the last timeBroadcasts
	// timeBroadcasts broadcasts rounds times on a topic with total
	// subscribers and returns the median time until every node's
	// subscribers have it.
	timeBroadcasts := func(topic string, total, rounds int, inline bool) (float64, error) {
		kind := "process"
		if inline {
			kind = "inline function"
		}
		progress(fmt.Sprintf("broadcast to %d %s subscribers on %d nodes", total, kind, len(PubSubNodes)))
		if err := setup(topic, total, inline); err != nil {
			return 0, err
		}
		defer teardown(topic)
		var times []float64
		var cpu0 time.Duration
		for round := 1; round <= rounds+1; round++ {
			if round == 2 {
				if cpu0, err = clusterCPU(); err != nil {
					return 0, err
				}
			}
			start := time.Now()
			if err := drv.ps.Broadcast(ctx, topic, round); err != nil {
				return 0, err
			}
			if err := rep.await(ctx, topic, round, len(PubSubNodes)); err != nil {
				return 0, err
			}
			if round > 1 { // the first warms up
				times = append(times, ms(time.Since(start)))
			}
		}
		cpu1, err := clusterCPU()
		if err != nil {
			return 0, err
		}
		lastCPUMs = ms(cpu1-cpu0) / float64(rounds)
		return median(times), nil
	}
	res.SmallSubscribers, res.LargeSubscribers = cfg.Small, cfg.Large
	if res.Broadcast10kMs, err = timeBroadcasts("small", cfg.Small, cfg.Rounds, false); err != nil {
		return res, err
	}
	res.Broadcast10kCPUMs = lastCPUMs
	if res.Broadcast10kInlineMs, err = timeBroadcasts("small-inline", cfg.Small, cfg.Rounds, true); err != nil {
		return res, err
	}
	if res.Broadcast1MMs, err = timeBroadcasts("large", cfg.Large, max(1, cfg.Rounds/2), false); err != nil {
		return res, err
	}
	res.Broadcast1MCPUMs = lastCPUMs
	if res.Broadcast1MInlineMs, err = timeBroadcasts("large-inline", cfg.Large, cfg.Rounds, true); err != nil {
		return res, err
	}

	progress(fmt.Sprintf("%d broadcasts on one topic, %d subscribers per node", cfg.Stream, cfg.StreamSubs))
	if err := setup("stream", cfg.StreamSubs*len(PubSubNodes), false); err != nil {
		return res, err
	}
	start := time.Now()
	for i := range cfg.Stream {
		if err := drv.ps.Broadcast(ctx, "stream", i); err != nil {
			return res, err
		}
	}
	if err := rep.await(ctx, "stream", cfg.Stream, len(PubSubNodes)); err != nil {
		return res, err
	}
	res.BroadcastsPerS = float64(cfg.Stream) / time.Since(start).Seconds()
	teardown("stream")

	progress(fmt.Sprintf("%d group joins until visible on every node", cfg.Joins))
	var joins []float64
	var batches uint64
	for round := range 3 {
		group := fmt.Sprintf("group-%d", round)
		for _, name := range PubSubNodes {
			if _, err := drv.nd.RPC(ctx, name, "bench.ps.watch", psWatch{Group: group, Want: cfg.Joins, Report: rep.pid}); err != nil {
				return res, err
			}
		}
		before := drv.scope.Stats().DeltasSent.Load()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, len(PubSubNodes))
		for i, n := range perNode(cfg.Joins) {
			wg.Go(func() { _, errs[i] = drv.nd.RPC(ctx, PubSubNodes[i], "bench.ps.join", psJoin{Group: group, N: n}) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return res, err
		}
		if err := rep.await(ctx, group, cfg.Joins, len(PubSubNodes)); err != nil {
			return res, err
		}
		joins = append(joins, ms(time.Since(start)))
		batches = drv.scope.Stats().DeltasSent.Load() - before
	}
	res.PGJoin10kVisibleMs, res.PGJoinBatches = median(joins), batches

	progress(fmt.Sprintf("list of %d presences under concurrent updates", cfg.Presences))
	res.Presences = cfg.Presences
	res.PresenceList100kMs, res.PresenceRange100kMs, res.PresenceList100kCPUMs, res.PresenceUpdatesPerS, res.SliceCopy100kMs, err = benchPresenceList(drv, cfg.Presences)
	return res, err
}

// presenceUpdateRate is the pace of the updates during the presence lists:
// every one of 100,000 users changing status every 10 s.
const presenceUpdateRate = 10_000

// benchPresenceList tracks n presences on the driver and times List while
// another goroutine updates them at presenceUpdateRate per second.
func benchPresenceList(n *psNode, count int) (list, rangeMs, cpuMs, updatesPerS, copyMs float64, err error) {
	tr, err := presence.StartLocal(n.rt, n.ps, presence.Config{Name: "bench.presence"})
	if err != nil {
		return 0, 0, 0, 0, 0, err
	}
	defer tr.Close()
	idle := proc.HandlerFunc(func(*proc.Process, any) {})
	changes := make([]presence.Change, count)
	for i := range changes {
		pid, err := n.rt.Spawn(idle)
		if err != nil {
			return 0, 0, 0, 0, 0, err
		}
		changes[i] = presence.Change{Op: presence.Track, PID: pid, Topic: "big", Key: fmt.Sprintf("user-%d", i), Meta: i}
	}
	if err := tr.Apply(changes...); err != nil {
		return 0, 0, 0, 0, 0, err
	}
	defer func() {
		for _, c := range changes {
			n.rt.Exit(c.PID, proc.ErrKill)
		}
	}()
	stop := make(chan struct{})
	var updates atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		const batch = presenceUpdateRate / 1000 // per millisecond
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for k := range batch {
				c := changes[(i*batch+k)%count]
				if tr.Update(c.PID, "big", c.Key, i) == nil {
					updates.Add(1)
				}
			}
		}
	})
	began := time.Now()
	var lists, ranges, cpus []float64
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for range 15 {
		cpu0 := threadCPU()
		start := time.Now()
		if l := tr.List("big"); len(l) != count {
			err = fmt.Errorf("bench: listed %d presences of %d", len(l), count)
		}
		lists = append(lists, ms(time.Since(start)))
		cpus = append(cpus, ms(threadCPU()-cpu0))
		start = time.Now()
		seen := 0
		tr.Range("big", func(presence.Presence) bool { seen++; return true })
		ranges = append(ranges, ms(time.Since(start)))
		if seen != count {
			err = fmt.Errorf("bench: ranged over %d presences of %d", seen, count)
		}
	}
	elapsed := time.Since(began)
	close(stop)
	wg.Wait()
	updatesPerS = float64(updates.Load()) / elapsed.Seconds()
	// The baseline: the same number of presences copied from a slice.
	flat := tr.List("big")
	var copies []float64
	for range 15 {
		start := time.Now()
		_ = slices.Clone(flat)
		copies = append(copies, ms(time.Since(start)))
	}
	return median(lists), median(ranges), median(cpus), updatesPerS, median(copies), err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/distsup"
	"github.com/grovedev/grove/entity"
	"github.com/grovedev/grove/names"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/placement"
	"github.com/grovedev/grove/proc"
)

// NamesConfig sizes `grove bench names`. Zero fields take the defaults.
type NamesConfig struct {
	Registrations int // local registrations timed; default 10,000
	Visible       int // registrations timed until visible everywhere; default 200
	Lookups       int // lookups timed; default 2,000,000
	Entities      int // active keyed processes; default 100,000
	EntityFor     time.Duration
	Children      int // children of the node that fails; default 10,000
}

func (c NamesConfig) withDefaults() NamesConfig {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Registrations, 10_000)
	def(&c.Visible, 200)
	def(&c.Lookups, 2_000_000)
	def(&c.Entities, 100_000)
	def(&c.Children, 10_000)
	if c.EntityFor <= 0 {
		c.EntityFor = 5 * time.Second
	}
	return c
}

// NamesResult holds the figures of `grove bench names`. The JSON names are
// part of the command's output contract.
type NamesResult struct {
	RegisterLocalUs     float64 `json:"register_local_us"`      // p50 of Register, local acknowledgement
	RegisterVisibleMs3  float64 `json:"register_visible_ms_3"`  // p50, until every other of 3 nodes sees it
	RegisterVisibleMs10 float64 `json:"register_visible_ms_10"` // p50, the same with 10 nodes
	LookupNs            float64 `json:"lookup_ns"`              // WhereIs, one goroutine
	LookupParallelNs    float64 `json:"lookup_parallel_ns"`     // WhereIs, GOMAXPROCS goroutines, per lookup
	EntityFirstMsgUs    float64 `json:"entity_first_msg_us"`    // p50 of the first call to a new key, from one of 3 nodes
	EntityMsgsPerS      float64 `json:"entity_msgs_per_s"`      // casts handled per second, all nodes
	EntitiesActive      int     `json:"entities_active"`
	Failover10kS        float64 `json:"failover_10k_children_s"` // from the dead verdict until the children run elsewhere
	FailoverDetectS     float64 `json:"failover_detect_s"`       // from the crash to the dead verdict (membership)
	FailoverChildren    int     `json:"failover_children"`
	RegisterP99Us       float64 `json:"register_local_p99_us"`
	RegisterVisible3P99 float64 `json:"register_visible_ms_3_p99"`
	GOMAXPROCS          int     `json:"gomaxprocs"`
}

// benchNode is one node of the in-process cluster of the benchmark: its
// own runtime, node and membership, on loopback TCP.
type benchNode struct {
	rt    *proc.Runtime
	nd    *node.Node
	cl    *cluster.Cluster
	close []func()
}

func (b *benchNode) stop() {
	for i := len(b.close) - 1; i >= 0; i-- {
		b.close[i]()
	}
}

// startBenchCluster starts n nodes on loopback TCP, each joining the first,
// and waits until every node sees every other alive and linked.
func startBenchCluster(ctx context.Context, prefix string, n int) ([]*benchNode, error) {
	quiet := slog.New(slog.DiscardHandler)
	cookie := []byte(prefix + "-cookie")
	var out []*benchNode
	fail := func(err error) ([]*benchNode, error) {
		for _, b := range out {
			b.stop()
		}
		return nil, err
	}
	for i := range n {
		name := fmt.Sprintf("%s%d@127.0.0.1", prefix, i)
		reg, err := codec.NewRegistry(codec.Config{})
		if err != nil {
			return fail(err)
		}
		for _, r := range []func(*codec.Registry) error{distsup.RegisterTypes, entity.RegisterTypes} {
			if err := r(reg); err != nil {
				return fail(err)
			}
		}
		rt, err := proc.New(proc.Config{Node: name, Logger: quiet})
		if err != nil {
			return fail(err)
		}
		b := &benchNode{rt: rt}
		b.close = append(b.close, func() {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rt.Close(cctx)
		})
		out = append(out, b)
		if b.nd, err = node.Start(ctx, rt, node.Config{Name: name, Listen: "127.0.0.1:0", Cookie: cookie, Codec: reg, Logger: quiet}); err != nil {
			return fail(err)
		}
		b.close = append(b.close, func() { b.nd.Close() })
		ccfg := cluster.DefaultLocalConfig()
		ccfg.Bind, ccfg.Logger = "127.0.0.1:0", quiet
		ccfg.SecretKey = cluster.KeyFromSecret(cookie)
		if i > 0 {
			ccfg.Seeds = []string{out[0].cl.GossipAddr()}
		}
		if b.cl, err = cluster.Start(ctx, b.nd, ccfg); err != nil {
			return fail(err)
		}
		b.close = append(b.close, func() { b.cl.Close() })
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok := true
		for _, b := range out {
			alive := 0
			for _, m := range b.cl.Members() {
				if m.State == cluster.StateAlive {
					alive++
				}
			}
			if alive != n || len(b.nd.Nodes()) != n-1 {
				ok = false
			}
		}
		if ok {
			return out, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fail(errors.New("bench: the cluster did not form"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stopAll(ns []*benchNode) {
	var wg sync.WaitGroup
	for _, b := range ns {
		wg.Go(b.stop)
	}
	wg.Wait()
}

func pctl(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

type idle struct{ proc.Base }

// Names runs `grove bench names`.
func Names(ctx context.Context, cfg NamesConfig, progress func(string)) (NamesResult, error) {
	cfg = cfg.withDefaults()
	if progress == nil {
		progress = func(string) {}
	}
	res := NamesResult{GOMAXPROCS: runtime.GOMAXPROCS(0)}
	progress("registry on 3 nodes: local registration, visibility, lookups")
	if err := benchRegistry(ctx, cfg, 3, &res); err != nil {
		return res, err
	}
	progress("registry on 10 nodes: visibility")
	if err := benchRegistry(ctx, cfg, 10, &res); err != nil {
		return res, err
	}
	progress(fmt.Sprintf("keyed processes on 3 nodes: first message, %d active", cfg.Entities))
	if err := benchEntities(ctx, cfg, &res); err != nil {
		return res, err
	}
	progress(fmt.Sprintf("failover of %d children", cfg.Children))
	if err := benchFailover(ctx, cfg, &res); err != nil {
		return res, err
	}
	return res, nil
}

func benchRegistry(ctx context.Context, cfg NamesConfig, n int, res *NamesResult) error {
	ns, err := startBenchCluster(ctx, fmt.Sprintf("names%d-", n), n)
	if err != nil {
		return err
	}
	defer stopAll(ns)
	regs := make([]*names.Registry, n)
	for i, b := range ns {
		if regs[i], err = names.New(b.cl, names.Config{}); err != nil {
			return err
		}
		defer regs[i].Close()
	}
	for _, r := range regs {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := r.WaitComplete(wctx)
		cancel()
		if err != nil {
			return err
		}
	}
	first := ns[0]
	// Visibility: one registration at a time on the first node, timed
	// until every other node's registry shows it.
	var vis []float64
	for i := range cfg.Visible {
		pid, err := first.rt.Spawn(idle{})
		if err != nil {
			return err
		}
		key := fmt.Sprint("visible:", i)
		t0 := time.Now()
		if err := regs[0].Register(pid, key, nil); err != nil {
			return err
		}
		for _, r := range regs[1:] {
			for {
				if _, ok := r.WhereIs(key); ok {
					break
				}
				if time.Since(t0) > 10*time.Second {
					return fmt.Errorf("bench: %s not visible after 10 s", key)
				}
				runtime.Gosched()
			}
		}
		vis = append(vis, float64(time.Since(t0).Microseconds())/1000)
	}
	if n == 10 {
		res.RegisterVisibleMs10 = pctl(vis, 0.5)
		return nil
	}
	res.RegisterVisibleMs3 = pctl(vis, 0.5)
	res.RegisterVisible3P99 = pctl(vis, 0.99)
	// Local acknowledgement.
	pids := make([]proc.PID, cfg.Registrations)
	for i := range pids {
		if pids[i], err = first.rt.Spawn(idle{}); err != nil {
			return err
		}
	}
	lat := make([]float64, 0, len(pids))
	keys := make([]string, len(pids))
	for i, pid := range pids {
		keys[i] = fmt.Sprint("session:", i)
		t0 := time.Now()
		if err := regs[0].Register(pid, keys[i], nil); err != nil {
			return err
		}
		lat = append(lat, float64(time.Since(t0).Nanoseconds())/1000)
	}
	res.RegisterLocalUs = pctl(lat, 0.5)
	res.RegisterP99Us = pctl(lat, 0.99)
	// Lookups on a node that did not register them.
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = regs[0].Sync(sctx)
	cancel()
	if err != nil {
		return err
	}
	r := regs[1]
	t0 := time.Now()
	for i := range cfg.Lookups {
		if _, ok := r.WhereIs(keys[i%len(keys)]); !ok {
			return fmt.Errorf("bench: %s not found", keys[i%len(keys)])
		}
	}
	res.LookupNs = float64(time.Since(t0).Nanoseconds()) / float64(cfg.Lookups)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	t0 = time.Now()
	for w := range workers {
		wg.Go(func() {
			for i := w; i < cfg.Lookups; i += workers {
				r.WhereIs(keys[i%len(keys)])
			}
		})
	}
	wg.Wait()
	res.LookupParallelNs = float64(time.Since(t0).Nanoseconds()) * float64(workers) / float64(cfg.Lookups)
	return nil
}

// benchEntity counts the messages it handles.
type benchEntity struct {
	proc.Base
	handled *atomic.Int64
}

func (e *benchEntity) HandleCast(*proc.Process, any) { e.handled.Add(1) }

func (e *benchEntity) HandleCall(*proc.Process, proc.From, any) (any, error) {
	e.handled.Add(1)
	return true, nil
}

func benchEntities(ctx context.Context, cfg NamesConfig, res *NamesResult) error {
	ns, err := startBenchCluster(ctx, "entity-", 3)
	if err != nil {
		return err
	}
	defer stopAll(ns)
	var handled atomic.Int64
	regions := make([]*entity.Region, len(ns))
	for i, b := range ns {
		regions[i], err = entity.Start(b.cl, entity.Config{Kind: "bench", IdleTimeout: -1,
			New: func(string) (proc.Behavior, error) { return &benchEntity{handled: &handled}, nil }})
		if err != nil {
			return err
		}
		defer regions[i].Close()
	}
	// Every region routes over all three nodes.
	for {
		ok := true
		for _, r := range regions {
			for _, b := range ns {
				if o, err := r.Owner(b.nd.Name()); err != nil || o == "" {
					ok = false
				}
			}
		}
		if ok && sameOwners(regions) {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}
	var first []float64
	for i := range 1000 {
		t0 := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := regions[0].Entity(fmt.Sprint("first:", i)).Call(cctx, true)
		cancel()
		if err != nil {
			return err
		}
		first = append(first, float64(time.Since(t0).Nanoseconds())/1000)
	}
	res.EntityFirstMsgUs = pctl(first, 0.5)
	// Activate the population, from every node, then stream casts to
	// random keys from every node.
	n := cfg.Entities
	var wg sync.WaitGroup
	for w, r := range regions {
		wg.Go(func() {
			for k := w; k < n; k += len(regions) {
				_ = r.Entity(fmt.Sprint("e", k)).Cast(true)
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(2 * time.Minute)
	for handled.Load() < int64(n+1000) {
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: %d of %d entities activated", handled.Load()-1000, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var active uint64
	for _, r := range regions {
		active += r.Stats().Activated.Load()
	}
	res.EntitiesActive = int(active) - 1000
	keys := make([]string, n)
	for k := range keys {
		keys[k] = fmt.Sprint("e", k)
	}
	start := handled.Load()
	stop := make(chan struct{})
	var sent atomic.Int64
	for w, r := range regions {
		for g := range 2 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), uint64(g)))
				for {
					select {
					case <-stop:
						return
					default:
					}
					for range 256 {
						if r.Entity(keys[rng.IntN(n)]).Cast(true) == nil {
							sent.Add(1)
						}
					}
				}
			})
		}
	}
	t0 := time.Now()
	time.Sleep(cfg.EntityFor)
	close(stop)
	wg.Wait()
	// Count what was handled once the senders stopped and the queues
	// drained (or 10 s passed).
	for end := time.Now().Add(10 * time.Second); handled.Load()-start < sent.Load() && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	res.EntityMsgsPerS = float64(handled.Load()-start) / time.Since(t0).Seconds()
	return nil
}

func sameOwners(regions []*entity.Region) bool {
	for k := range 50 {
		key := fmt.Sprint("probe", k)
		o0, _ := regions[0].Owner(key)
		for _, r := range regions[1:] {
			if o, _ := r.Owner(key); o != o0 {
				return false
			}
		}
	}
	return true
}

// benchChild is a child of the failover benchmark.
type benchChild struct{ proc.Base }

func benchFailover(ctx context.Context, cfg NamesConfig, res *NamesResult) error {
	ns, err := startBenchCluster(ctx, "failover-", 3)
	if err != nil {
		return err
	}
	defer stopAll(ns)
	victim := ns[2]
	// Children go to the victim while it lives, then wherever the default
	// strategy puts them.
	prefer := placement.StrategyFunc(func(key string, cands []placement.Candidate) (string, error) {
		for _, c := range cands {
			if c.Name == victim.nd.Name() {
				return c.Name, nil
			}
		}
		return placement.BoundedLoad{}.Place(key, cands)
	})
	sups := make([]*distsup.Supervisor, len(ns))
	for i, b := range ns {
		if sups[i], err = distsup.Start(b.cl, distsup.Config{Name: "bench", Placement: prefer}); err != nil {
			return err
		}
		defer sups[i].Close()
		if err := sups[i].Register("child", func(string, any) (proc.Behavior, error) { return benchChild{}, nil }); err != nil {
			return err
		}
	}
	for len(sups[0].Nodes()) < 3 || len(sups[1].Nodes()) < 3 {
		time.Sleep(10 * time.Millisecond)
	}
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	next := atomic.Int64{}
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(cfg.Children) {
					return
				}
				sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := sups[0].StartChild(sctx, distsup.ChildSpec{ID: fmt.Sprint("c", i), Kind: "child"})
				cancel()
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	if got := sups[0].CountChildren().Nodes[victim.nd.Name()]; got != cfg.Children {
		return fmt.Errorf("bench: %d of %d children on the victim", got, cfg.Children)
	}
	// The crash: the victim's links and membership stop without a word
	// (the others see connections drop, then SWIM declares it dead).
	failed := make(chan time.Time, 1)
	cancel := ns[0].cl.Subscribe(func(e cluster.Event) {
		if e.Kind == cluster.EventFailed && e.Member.Name == victim.nd.Name() {
			select {
			case failed <- time.Now():
			default:
			}
		}
	})
	defer cancel()
	crash := time.Now()
	sups[2].Close()
	victim.cl.Close()
	victim.nd.Close()
	var dead time.Time
	select {
	case dead = <-failed:
	case <-time.After(60 * time.Second):
		return errors.New("bench: the victim was not declared dead")
	}
	res.FailoverDetectS = dead.Sub(crash).Seconds()
	for {
		c := sups[0].CountChildren()
		moved := c.Active - c.Nodes[victim.nd.Name()]
		if moved >= cfg.Children && c.Nodes[victim.nd.Name()] == 0 {
			break
		}
		if time.Since(dead) > 2*time.Minute {
			return fmt.Errorf("bench: %d of %d children run elsewhere after 2 min", moved, cfg.Children)
		}
		time.Sleep(2 * time.Millisecond)
	}
	res.Failover10kS = time.Since(dead).Seconds()
	res.FailoverChildren = cfg.Children
	return nil
}

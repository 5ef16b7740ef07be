package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// RaftConfig tunes the Raft benchmark. Zero fields mean the defaults.
type RaftConfig struct {
	// Duration of each throughput run. Default 5 s.
	Duration time.Duration
	// Writers is the number of concurrent writers of the one-group runs
	// (default 64); the 100-group runs have WritersPerGroup per group
	// (default 4).
	Writers, WritersPerGroup int
	// Groups is the number of groups of the many-group runs. Default 100.
	Groups int
	// Payload is the size of a command. Default 128 bytes.
	Payload int
	// IdleGroups is the number of idle groups measured. Default 10,000.
	IdleGroups int
	// FailoverTrials is the number of leader kills. Default 7.
	FailoverTrials int
	// Grove is the grove binary that runs the failover's node processes.
	// Default the running executable.
	Grove string
	// Dir holds the logs; default a temporary directory, removed after.
	Dir string
	// Skip names parts to leave out: "hashicorp", "idle", "failover",
	// "kv", "100g".
	Skip []string
}

func (c RaftConfig) withDefaults() RaftConfig {
	if c.Duration == 0 {
		c.Duration = 5 * time.Second
	}
	if c.Writers == 0 {
		c.Writers = 64
	}
	if c.WritersPerGroup == 0 {
		c.WritersPerGroup = 4
	}
	if c.Groups == 0 {
		c.Groups = 100
	}
	if c.Payload == 0 {
		c.Payload = 128
	}
	if c.IdleGroups == 0 {
		c.IdleGroups = 10_000
	}
	if c.FailoverTrials == 0 {
		c.FailoverTrials = 7
	}
	return c
}

// RaftResult holds the figures of `grove bench raft`, under the keys the
// JSON output uses. Both engines run 3 nodes on loopback with fsync on and
// the same payload; each hashicorp group is one raft.Raft per node with
// its own BoltDB file and TCP transport.
type RaftResult struct {
	WritesPerS1G           float64 `json:"writes_per_s_1g"`
	WritesPerS100G         float64 `json:"writes_per_s_100g"`
	CommitP50Ms1G          float64 `json:"commit_p50_ms_1g"`
	CommitP99Ms1G          float64 `json:"commit_p99_ms_1g"`
	HashicorpWritesPerS1G  float64 `json:"hashicorp_writes_per_s_1g"`
	HashicorpWritesPerS100 float64 `json:"hashicorp_writes_per_s_100g"`
	HashicorpCommitP50Ms1G float64 `json:"hashicorp_commit_p50_ms_1g"`
	HashicorpCommitP99Ms1G float64 `json:"hashicorp_commit_p99_ms_1g"`
	KVHTTPOpsPerS          float64 `json:"kv_http_ops_per_s"`
	FailoverP50Ms          float64 `json:"failover_p50_ms"`
	FailoverMaxMs          float64 `json:"failover_max_ms"`
	IdleGroupBytes         float64 `json:"idle_group_bytes"`
	// Idle10kGroupsCPU is the CPU of the idle groups: the process's CPU
	// with them less IdleBaselineCPU, its CPU before they were started.
	Idle10kGroupsCPU float64 `json:"idle_10k_groups_cpu"`
	IdleBaselineCPU  float64 `json:"idle_baseline_cpu"`
	IdleGroups       int     `json:"idle_groups"`
	Ratio1G          float64 `json:"ratio_1g"`
	Ratio100G        float64 `json:"ratio_100g"`
	Payload          int     `json:"payload_bytes"`
	SyncsPerWrite1G  float64 `json:"syncs_per_write_1g"`
	// Errors names the parts that failed, with why; their figures are 0.
	Errors map[string]string `json:"errors,omitempty"`
}

// Raft runs the Raft benchmark.
func Raft(ctx context.Context, cfg RaftConfig, progress func(string)) (RaftResult, error) {
	cfg = cfg.withDefaults()
	res := RaftResult{Payload: cfg.Payload, IdleGroups: cfg.IdleGroups}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "grove-bench-raft")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	skip := func(p string) bool { return slices.Contains(cfg.Skip, p) }
	sub := func(name string) string {
		p := fmt.Sprintf("%s/%s", dir, name)
		_ = os.MkdirAll(p, 0o750)
		return p
	}

	progress("grove: one group, 3 nodes")
	fail := func(part string, err error) {
		if res.Errors == nil {
			res.Errors = map[string]string{}
		}
		res.Errors[part] = err.Error()
		progress(fmt.Sprintf("%s failed: %v", part, err))
	}
	if err := groveWrites(ctx, cfg, sub("grove-1g"), 1, cfg.Writers, &res.WritesPerS1G, &res.CommitP50Ms1G, &res.CommitP99Ms1G, &res.SyncsPerWrite1G); err != nil {
		fail("grove_1g", err)
	}
	if !skip("hashicorp") {
		progress("hashicorp/raft: one group, 3 nodes")
		if err := hashicorpWrites(ctx, cfg, sub("hc-1g"), 1, cfg.Writers, &res.HashicorpWritesPerS1G, &res.HashicorpCommitP50Ms1G, &res.HashicorpCommitP99Ms1G); err != nil {
			fail("hashicorp_1g", err)
		}
	}
	if !skip("100g") {
		progress(fmt.Sprintf("grove: %d groups, 3 nodes", cfg.Groups))
		var p50, p99, spw float64
		if err := groveWrites(ctx, cfg, sub("grove-100g"), cfg.Groups, cfg.WritersPerGroup, &res.WritesPerS100G, &p50, &p99, &spw); err != nil {
			fail("grove_100g", err)
		}
		if !skip("hashicorp") {
			progress(fmt.Sprintf("hashicorp/raft: %d groups (one raft.Raft per group and node)", cfg.Groups))
			if err := hashicorpWrites(ctx, cfg, sub("hc-100g"), cfg.Groups, cfg.WritersPerGroup, &res.HashicorpWritesPerS100, &p50, &p99); err != nil {
				fail("hashicorp_100g", err)
			}
		}
	}
	if !skip("kv") {
		progress("kv over HTTP, 3 nodes")
		v, err := kvHTTP(ctx, cfg, sub("kv"))
		if err != nil {
			fail("kv", err)
		}
		res.KVHTTPOpsPerS = v
	}
	if !skip("idle") {
		progress(fmt.Sprintf("grove: %d idle groups, 3 nodes", cfg.IdleGroups))
		b, cpu, base, err := idleGroups(ctx, cfg, sub("idle"))
		if err != nil {
			fail("idle", err)
		}
		res.IdleGroupBytes, res.Idle10kGroupsCPU, res.IdleBaselineCPU = b, cpu, base
	}
	if !skip("failover") {
		progress(fmt.Sprintf("failover: %d kill -9 of the leader's grove node process", cfg.FailoverTrials))
		p50, mx, err := failover(ctx, cfg, sub("failover"))
		if err != nil {
			fail("failover", err)
		}
		res.FailoverP50Ms, res.FailoverMaxMs = p50, mx
	}
	if res.HashicorpWritesPerS1G > 0 {
		res.Ratio1G = res.WritesPerS1G / res.HashicorpWritesPerS1G
	}
	if res.HashicorpWritesPerS100 > 0 {
		res.Ratio100G = res.WritesPerS100G / res.HashicorpWritesPerS100
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// drive runs op from writers goroutines for d and returns the rate and
// the latencies' p50 and p99 in ms. writer gets the writer's number.
func drive(ctx context.Context, d time.Duration, writers int, op func(ctx context.Context, writer int) error) (perS, p50, p99 float64, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		lats  []time.Duration
		n     atomic.Int64
		first atomic.Pointer[error]
		wg    sync.WaitGroup
	)
	stop := time.Now().Add(d)
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(stop) && ctx.Err() == nil {
				t0 := time.Now()
				octx, ocancel := context.WithTimeout(ctx, 10*time.Second)
				e := op(octx, w)
				ocancel()
				if e != nil {
					first.CompareAndSwap(nil, &e)
					cancel()
					break
				}
				mine = append(mine, time.Since(t0))
				n.Add(1)
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if e := first.Load(); e != nil {
		return 0, 0, 0, *e
	}
	slices.Sort(lats)
	if len(lats) == 0 {
		return 0, 0, 0, fmt.Errorf("no operation completed")
	}
	q := func(f float64) float64 { return float64(lats[int(f*float64(len(lats)-1))]) / 1e6 }
	return float64(n.Load()) / elapsed.Seconds(), q(0.5), q(0.99), nil
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/kv"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/raft"
)

// raftSink is the benchmark's machine: it counts commands and their bytes.
type raftSink struct{ n, bytes uint64 }

func (s *raftSink) Apply(_ uint64, cmd []byte) (any, []raft.Effect) {
	s.n++
	s.bytes += uint64(len(cmd))
	return nil, nil
}
func (s *raftSink) Snapshot() ([]byte, error) { return fmt.Appendf(nil, "%d %d", s.n, s.bytes), nil }
func (s *raftSink) Restore(b []byte) error {
	_, err := fmt.Sscanf(string(b), "%d %d", &s.n, &s.bytes)
	return err
}

// groveCluster is three Grove nodes on loopback TCP, each with a Raft host.
type groveCluster struct {
	names []string
	rts   []*proc.Runtime
	nodes []*node.Node
	hosts []*raft.Host
}

func newGroveCluster(ctx context.Context, dir string, cfg raft.Config) (*groveCluster, error) {
	c := &groveCluster{}
	quiet := slog.New(slog.DiscardHandler)
	for i := range 3 {
		name := fmt.Sprintf("raft%d@127.0.0.1", i+1)
		reg, err := codec.NewRegistry(codec.Config{})
		if err != nil {
			return nil, err
		}
		if err := raft.RegisterTypes(reg); err != nil {
			return nil, err
		}
		rt, err := proc.New(proc.Config{Node: name, Logger: quiet})
		if err != nil {
			c.close()
			return nil, err
		}
		n, err := node.Start(ctx, rt, node.Config{Name: name, Listen: "127.0.0.1:0", Cookie: []byte("bench"), Codec: reg, Logger: quiet})
		if err != nil {
			closeRuntime(rt)
			c.close()
			return nil, err
		}
		c.names, c.rts, c.nodes = append(c.names, name), append(c.rts, rt), append(c.nodes, n)
	}
	for i, n := range c.nodes {
		for j, o := range c.nodes {
			if i != j {
				if err := n.Connect(ctx, o.Name(), o.Addr()); err != nil {
					c.close()
					return nil, err
				}
			}
		}
	}
	for i, n := range c.nodes {
		hc := cfg
		hc.DataDir = filepath.Join(dir, fmt.Sprint(i))
		hc.Logger = quiet
		h, err := raft.Start(n, hc)
		if err != nil {
			c.close()
			return nil, err
		}
		c.hosts = append(c.hosts, h)
	}
	return c, nil
}

func (c *groveCluster) close() {
	for _, h := range c.hosts {
		h.Close()
	}
	for _, n := range c.nodes {
		n.Close()
	}
	for _, rt := range c.rts {
		closeRuntime(rt)
	}
}

// startGroups starts groups g0..g(n-1) on every node and returns, per
// group, the handle on the node that leads it.
func (c *groveCluster) startGroups(ctx context.Context, n int, machine func() raft.Machine) ([]*raft.Group, error) {
	const chunk = 1000
	handles := make([][]*raft.Group, len(c.hosts))
	for i, h := range c.hosts {
		for lo := 0; lo < n; lo += chunk {
			var cfgs []raft.GroupConfig
			for g := lo; g < min(n, lo+chunk); g++ {
				cfgs = append(cfgs, raft.GroupConfig{Name: fmt.Sprintf("g%d", g), Members: c.names, Machine: machine()})
			}
			gs, err := h.StartGroups(ctx, cfgs)
			if err != nil {
				return nil, err
			}
			handles[i] = append(handles[i], gs...)
		}
	}
	leaders := make([]*raft.Group, n)
	for g := range n {
		for {
			for i := range c.hosts {
				if handles[i][g].Status().Role == raft.Leader {
					leaders[g] = handles[i][g]
				}
			}
			if leaders[g] != nil {
				break
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return leaders, nil
}

// groveWrites measures commands on groups of a fresh 3-node cluster.
func groveWrites(ctx context.Context, cfg RaftConfig, dir string, groups, writersPer int, perS, p50, p99, syncsPerWrite *float64) error {
	c, err := newGroveCluster(ctx, dir, raft.Config{})
	if err != nil {
		return err
	}
	defer c.close()
	leaders, err := c.startGroups(ctx, groups, func() raft.Machine { return &raftSink{} })
	if err != nil {
		return err
	}
	payload := make([]byte, cfg.Payload)
	syncs := func() (s uint64) {
		for _, h := range c.hosts {
			s += h.Stats().Syncs.Load()
		}
		return s
	}
	before := syncs()
	var writes float64
	*perS, *p50, *p99, err = drive(ctx, cfg.Duration, groups*writersPer, func(ctx context.Context, w int) error {
		_, err := leaders[w%groups].Command(ctx, payload)
		return err
	})
	writes = *perS * cfg.Duration.Seconds()
	if writes > 0 {
		*syncsPerWrite = float64(syncs()-before) / writes
	}
	return err
}

// kvHTTP measures PUTs through the HTTP API of random nodes.
func kvHTTP(ctx context.Context, cfg RaftConfig, dir string) (float64, error) {
	c, err := newGroveCluster(ctx, dir, raft.Config{})
	if err != nil {
		return 0, err
	}
	defer c.close()
	var urls []string
	for _, h := range c.hosts {
		s, err := kv.Open(ctx, h, kv.Config{Members: c.names})
		if err != nil {
			return 0, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		srv := &http.Server{Handler: kv.Handler(func() *kv.Store { return s }, 0)}
		go srv.Serve(ln)
		defer srv.Close()
		urls = append(urls, "http://"+ln.Addr().String())
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	payload := strings.Repeat("x", cfg.Payload)
	do := func(ctx context.Context, w int) error {
		url := fmt.Sprintf("%s/v1/kv/key%d", urls[rand.IntN(len(urls))], w)
		req, _ := http.NewRequestWithContext(ctx, "PUT", url, strings.NewReader(payload))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("PUT: %s", resp.Status)
		}
		return nil
	}
	// Wait for a leader.
	for {
		if err := do(ctx, 0); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	perS, _, _, err := drive(ctx, cfg.Duration, cfg.Writers, do)
	return perS, err
}

// idleGroups starts IdleGroups groups on three nodes, waits for them to
// quiesce, and measures the heap each costs per node and the CPU the
// idle groups use: the process's CPU with them, less its CPU before they
// were started (three nodes with their links and logs, no group), both
// measured in the same run.
func idleGroups(ctx context.Context, cfg RaftConfig, dir string) (bytesPerGroup, cpuPerS, baseline float64, err error) {
	c, err := newGroveCluster(ctx, dir, raft.Config{QuiesceTicks: 5})
	if err != nil {
		return 0, 0, 0, err
	}
	defer c.close()
	if baseline, err = cpuOver(ctx, 5*time.Second); err != nil {
		return 0, 0, 0, err
	}
	before := heapInUse()
	if _, err := c.startGroups(ctx, cfg.IdleGroups, func() raft.Machine { return &raftSink{} }); err != nil {
		return 0, 0, 0, err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		active := int64(0)
		for _, h := range c.hosts {
			active += h.Stats().Active.Load()
		}
		if active == 0 {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, 0, errors.New("groups did not quiesce within 5 minutes")
		}
		select {
		case <-ctx.Done():
			return 0, 0, 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	after := heapInUse()
	bytesPerGroup = float64(after-before) / float64(cfg.IdleGroups*len(c.hosts))
	with, err := cpuOver(ctx, 5*time.Second)
	if err != nil {
		return 0, 0, 0, err
	}
	return bytesPerGroup, max(0, with-baseline), baseline, nil
}

// cpuOver returns the CPU seconds per second the process used over d.
func cpuOver(ctx context.Context, d time.Duration) (float64, error) {
	runtime.GC()
	cpu0, t0 := cpuTime(), time.Now()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	return (cpuTime() - cpu0).Seconds() / time.Since(t0).Seconds(), nil
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

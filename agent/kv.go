package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/kv"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/raft"
)

// KVConfig turns on the replicated key-value store of `grove node --kv`.
type KVConfig struct {
	// Enabled serves the store (--kv, GROVE_KV). Needs --data-dir.
	Enabled bool
	// BootstrapExpect is how many members form the store's group: the
	// first that many cluster members (by name) bootstrap it together once
	// they see each other; later nodes join it as members
	// (--bootstrap-expect, GROVE_BOOTSTRAP_EXPECT). Default 1.
	BootstrapExpect int
	// RaftTick is the Raft tick (--raft-tick, GROVE_RAFT_TICK); elections
	// time out after 10 to 20 ticks. Default 100 ms.
	RaftTick time.Duration
}

func init() {
	envNames["kv"] = "GROVE_KV"
	envNames["bootstrap-expect"] = "GROVE_BOOTSTRAP_EXPECT"
	envNames["raft-tick"] = "GROVE_RAFT_TICK"
}

// RegisterFlags adds the store's flags to fs.
func (c *KVConfig) RegisterFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.Enabled, "kv", false, "serve the linearizable key-value store on the admin address (needs --data-dir)")
	fs.IntVar(&c.BootstrapExpect, "bootstrap-expect", 1, "with --kv: how many members form the store (the first that meet)")
	fs.DurationVar(&c.RaftTick, "raft-tick", 0, "with --kv: the Raft tick; elections time out after 10 to 20 ticks (default 100ms)")
}

func (c *KVConfig) validate(cfg *Config) error {
	if !c.Enabled {
		return nil
	}
	switch {
	case cfg.DataDir == "":
		return errors.New("--kv needs --data-dir")
	case c.BootstrapExpect < 1:
		return fmt.Errorf("--bootstrap-expect %d: want at least 1", c.BootstrapExpect)
	case c.RaftTick < 0:
		return errors.New("--raft-tick: negative")
	}
	return nil
}

// kvState is the store's part of an agent.
type kvState struct {
	host      *raft.Host
	store     atomic.Pointer[kv.Store]
	peersKick chan struct{} // kv_peers.go
}

// kvJoinFunc is the RPC a node that was not among the first members calls
// on one that is, to be added to the store's group.
const kvJoinFunc = "grove.kv.join"

// kvCodec gives the node a codec that knows the Raft messages.
func kvCodec(cfg Config, nc *node.Config) error {
	if !cfg.KV.Enabled {
		return nil
	}
	if err := cfg.KV.validate(&cfg); err != nil {
		return err
	}
	reg, err := codec.NewRegistry(codec.Config{})
	if err != nil {
		return err
	}
	if err := raft.RegisterTypes(reg); err != nil {
		return err
	}
	nc.Codec = reg
	return nil
}

// startKV opens the Raft log and forms or rejoins the store in the
// background.
func (a *Agent) startKV() error {
	if !a.cfg.KV.Enabled {
		return nil
	}
	h, err := raft.Start(a.node, raft.Config{DataDir: filepath.Join(a.cfg.DataDir, "kv"), TickInterval: a.cfg.KV.RaftTick, Logger: a.log})
	if err != nil {
		return fmt.Errorf("--kv: %w", err)
	}
	a.kv.host = h
	a.kv.peersKick = make(chan struct{}, 1)
	if err := a.node.Register(kvJoinFunc, func(ctx context.Context, arg any) (any, error) {
		name, _ := arg.(string)
		s := a.kv.store.Load()
		if s == nil {
			return nil, kv.ErrNotStarted
		}
		return nil, s.Group().AddMember(ctx, name)
	}); err != nil {
		h.Close()
		return err
	}
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		a.formKV()
	}()
	go func() {
		defer a.wg.Done()
		a.recordKVPeers()
	}()
	return nil
}

// formKV restarts the store from the log, or waits for BootstrapExpect
// members and forms it with them, or joins it.
func (a *Agent) formKV() {
	ctx := a.ctx
	stored, err := a.kv.host.Groups()
	if err != nil {
		a.log.Error("kv: reading the raft log", slog.Any("err", err))
		return
	}
	var cfg kv.Config
	var first []string
	if slices.Contains(stored, kv.DefaultGroup) {
		// A restart: reach the members where they were last seen, in case
		// no --join names one (or this node came back on a new address).
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.rejoinKVPeers(ctx)
		}()
	} else {
		n := a.cfg.KV.BootstrapExpect
		for {
			members := a.aliveMembers()
			if len(members) >= n {
				first = members[:n]
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
		cfg.Members = first
		if !slices.Contains(first, a.cfg.Name) {
			cfg = kv.Config{Join: true}
		}
	}
	s, err := kv.Open(ctx, a.kv.host, cfg)
	if err != nil {
		a.log.Error("kv: starting the store", slog.Any("err", err))
		return
	}
	a.kv.store.Store(s)
	a.kickKVPeers()
	a.log.Info("kv: store started", slog.Any("members", first), slog.Bool("restarted", first == nil), slog.Bool("join", cfg.Join))
	if !cfg.Join {
		return
	}
	// Ask the first members, in turn, to add this node.
	for i := 0; ; i++ {
		if st := s.Group().Status(); slices.Contains(st.Voters, a.cfg.Name) {
			return
		}
		target := first[i%len(first)]
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := a.node.RPC(cctx, target, kvJoinFunc, a.cfg.Name)
		cancel()
		if err == nil {
			a.log.Info("kv: joined the store", slog.String("via", target))
			return
		}
		var nl *raft.NotLeaderError
		if errors.As(err, &nl) && nl.Leader != "" {
			first = append([]string{nl.Leader}, first...)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// aliveMembers returns the names of the alive cluster members, sorted.
func (a *Agent) aliveMembers() []string {
	var out []string
	for _, m := range a.Members() {
		if m.State == "alive" {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return out
}

// closeKV stops the store and closes the Raft log.
func (a *Agent) closeKV() {
	if a.kv.host != nil {
		a.kv.host.Close()
	}
}

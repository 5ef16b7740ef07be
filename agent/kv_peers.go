package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/grovedev/grove/cluster"
)

// The store's group is named in the Raft log by node names only. A node
// that restarts from its --data-dir must also find its peers' addresses,
// whether or not it is given --join, and whether or not it (or they) came
// back on another port: each node keeps the node addresses of the store's
// members it last saw alive in a file next to the log, and a restarted node
// links to them (and joins the membership through them) until one answers.
// The peers learn its new address from the membership protocol.

// kvPeersFile is the file of the members' last known addresses.
const kvPeersFile = "kv-peers.json"

// kvPeersEvery is how often the file is looked at when no membership
// event asks for it sooner.
const kvPeersEvery = time.Second

func (a *Agent) kvPeersPath() string { return filepath.Join(a.cfg.DataDir, kvPeersFile) }

// loadKVPeers reads the file of last known addresses; a missing file is an
// empty map.
func loadKVPeers(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	var peers map[string]string
	if err := json.Unmarshal(b, &peers); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if peers == nil {
		peers = map[string]string{}
	}
	return peers, nil
}

// saveKVPeers replaces the file atomically.
func saveKVPeers(path string, peers map[string]string) error {
	b, err := json.Marshal(peers)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// kvMembers returns the store group's members other than this node, or
// nil before the store started.
func (a *Agent) kvMembers() []string {
	s := a.kv.store.Load()
	if s == nil {
		return nil
	}
	st := s.Group().Status()
	var out []string
	for _, m := range append(st.Voters, st.Learners...) {
		if m != a.cfg.Name {
			out = append(out, m)
		}
	}
	return out
}

// kickKVPeers asks recordKVPeers to look at the members now.
func (a *Agent) kickKVPeers() {
	select {
	case a.kv.peersKick <- struct{}{}:
	default:
	}
}

// recordKVPeers keeps the file up to date: the alive cluster members'
// addresses, for the store's members only (the cluster may hold others),
// keeping the last known address of a member not alive now. It looks at
// every membership event, when the store starts, and every second.
func (a *Agent) recordKVPeers() {
	path := a.kvPeersPath()
	saved, err := loadKVPeers(path)
	if err != nil {
		a.log.Warn("kv: peers file unreadable; rewriting it", slog.Any("err", err))
		saved = map[string]string{}
	}
	cancel := a.cluster.Subscribe(func(cluster.Event) { a.kickKVPeers() })
	defer cancel()
	t := time.NewTicker(kvPeersEvery)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		case <-a.kv.peersKick:
		}
		members := a.kvMembers()
		if members == nil {
			continue
		}
		next := map[string]string{}
		alive := map[string]string{}
		for _, m := range a.Members() {
			if m.State == "alive" && m.Address != "" {
				alive[m.Name] = m.Address
			}
		}
		for _, name := range members {
			if addr, ok := alive[name]; ok {
				next[name] = addr
			} else if addr, ok := saved[name]; ok {
				next[name] = addr
			}
		}
		if maps.Equal(next, saved) {
			continue
		}
		if err := saveKVPeers(path, next); err != nil {
			a.log.Warn("kv: writing the peers file", slog.Any("err", err))
			continue
		}
		saved = next
	}
}

// rejoinKVPeers links to every member of the store at its last known
// address — the node keeps those links up, redialing, and the membership
// protocol corrects an address that changed — and joins the cluster
// through the first member that answers, unless the node is already
// linked to one (through --join or discovery). It gives up when the agent
// closes.
func (a *Agent) rejoinKVPeers(ctx context.Context) {
	peers, err := loadKVPeers(a.kvPeersPath())
	if err != nil {
		a.log.Warn("kv: peers file unreadable", slog.Any("err", err))
		return
	}
	delete(peers, a.cfg.Name)
	if len(peers) == 0 {
		return
	}
	names := slices.Sorted(maps.Keys(peers))
	for _, n := range names {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := a.node.Connect(cctx, n, peers[n]); err != nil {
				a.log.Debug("kv: member not reached at its last known address yet", slog.String("peer", n), slog.String("addr", peers[n]), slog.Any("err", err))
			}
		}()
	}
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		for _, n := range names {
			if m, ok := a.cluster.Member(n); ok && m.State == cluster.StateAlive {
				return // in the cluster with it already
			}
		}
		for _, n := range names {
			p := Peer{Name: n, Addr: peers[n]}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := a.joinOnce(cctx, &p)
			cancel()
			if err == nil {
				a.log.Info("kv: rejoined through a member's last known address", slog.String("peer", n), slog.String("addr", p.Addr))
				a.ready.Store(true)
				return
			}
			a.log.Debug("kv: no join through a member's last known address", slog.String("peer", n), slog.String("addr", p.Addr), slog.Any("err", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

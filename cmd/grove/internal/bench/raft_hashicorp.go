package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// hcFSM is the hashicorp baseline's machine, the same as sink.
type hcFSM struct{ n, bytes uint64 }

func (f *hcFSM) Apply(l *hraft.Log) any {
	f.n++
	f.bytes += uint64(len(l.Data))
	return nil
}
func (f *hcFSM) Snapshot() (hraft.FSMSnapshot, error) { return hcSnap{f.n, f.bytes}, nil }
func (f *hcFSM) Restore(r io.ReadCloser) error {
	defer r.Close()
	_, err := fmt.Fscanf(r, "%d %d", &f.n, &f.bytes)
	return err
}

type hcSnap struct{ n, bytes uint64 }

func (s hcSnap) Persist(sink hraft.SnapshotSink) error {
	if _, err := fmt.Fprintf(sink, "%d %d", s.n, s.bytes); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}
func (hcSnap) Release() {}

// hcGroup is one hashicorp/raft group: three raft.Raft, each with its own
// BoltDB log (fsync on) and TCP transport on loopback, as a Go user runs
// hashicorp/raft.
type hcGroup struct {
	rafts  []*hraft.Raft
	stores []*raftboltdb.BoltStore
	trans  []*hraft.NetworkTransport
}

func newHCGroup(dir string, g int) (*hcGroup, error) {
	hg := &hcGroup{}
	var servers []hraft.Server
	for i := range 3 {
		t, err := hraft.NewTCPTransport("127.0.0.1:0", nil, 8, 10*time.Second, io.Discard)
		if err != nil {
			hg.close()
			return nil, err
		}
		hg.trans = append(hg.trans, t)
		servers = append(servers, hraft.Server{ID: hraft.ServerID(fmt.Sprintf("n%d", i)), Address: t.LocalAddr()})
	}
	for i := range 3 {
		path := filepath.Join(dir, fmt.Sprintf("g%d-n%d.bolt", g, i))
		store, err := raftboltdb.New(raftboltdb.Options{Path: path})
		if err != nil {
			hg.close()
			return nil, err
		}
		hg.stores = append(hg.stores, store)
		conf := hraft.DefaultConfig()
		conf.LocalID = servers[i].ID
		conf.LogOutput = io.Discard
		r, err := hraft.NewRaft(conf, &hcFSM{}, store, store, hraft.NewDiscardSnapshotStore(), hg.trans[i])
		if err != nil {
			hg.close()
			return nil, err
		}
		hg.rafts = append(hg.rafts, r)
	}
	if err := hg.rafts[0].BootstrapCluster(hraft.Configuration{Servers: servers}).Error(); err != nil {
		hg.close()
		return nil, err
	}
	return hg, nil
}

func (hg *hcGroup) leader(ctx context.Context) (*hraft.Raft, error) {
	for {
		for _, r := range hg.rafts {
			if r.State() == hraft.Leader {
				return r, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// close shuts the group down. A raft.Raft's Shutdown can wait for good on
// a replication goroutine stuck in its transport (seen with 300 instances
// on a loaded machine), so every Shutdown is started, the transports are
// closed, and the wait is bounded: a group still not down after it is
// left behind (reported), and the benchmark goes on.
func (hg *hcGroup) close() error {
	var futs []hraft.Future
	for _, r := range hg.rafts {
		futs = append(futs, r.Shutdown())
	}
	for _, t := range hg.trans {
		t.Close()
	}
	done := make(chan struct{})
	go func() {
		for _, f := range futs {
			f.Error()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(hcShutdownWait):
		return errors.New("hashicorp/raft: Shutdown did not return; group left behind")
	}
	for _, s := range hg.stores {
		s.Close()
	}
	return nil
}

// hcShutdownWait bounds the wait for a hashicorp group's shutdown.
const hcShutdownWait = 10 * time.Second

// hashicorpWrites measures Apply on groups of hashicorp/raft.
func hashicorpWrites(ctx context.Context, cfg RaftConfig, dir string, groups, writersPer int, perS, p50, p99 *float64) error {
	var gs []*hcGroup
	defer func() {
		// In parallel: each close may wait up to hcShutdownWait.
		var wg sync.WaitGroup
		var stuck atomic.Int64
		for _, g := range gs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if g.close() != nil {
					stuck.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := stuck.Load(); n > 0 {
			fmt.Fprintf(os.Stderr, "hashicorp/raft: %d of %d groups did not shut down within %v; left behind\n", n, len(gs), hcShutdownWait)
		}
	}()
	for g := range groups {
		hg, err := newHCGroup(dir, g)
		if err != nil {
			return err
		}
		gs = append(gs, hg)
	}
	leaders := make([]atomic.Pointer[hraft.Raft], groups)
	for g, hg := range gs {
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		l, err := hg.leader(lctx)
		cancel()
		if err != nil {
			return fmt.Errorf("group %d: no leader: %w", g, err)
		}
		leaders[g].Store(l)
	}
	payload := make([]byte, cfg.Payload)
	var err error
	*perS, *p50, *p99, err = drive(ctx, cfg.Duration, groups*writersPer, func(ctx context.Context, w int) error {
		g := w % groups
		for {
			l := leaders[g].Load()
			err := l.Apply(payload, 10*time.Second).Error()
			if !errors.Is(err, hraft.ErrNotLeader) && !errors.Is(err, hraft.ErrLeadershipLost) {
				return err
			}
			// A new election (a loaded machine starves the heartbeats):
			// write to the new leader, as a client of hashicorp/raft does.
			nl, lerr := gs[g].leader(ctx)
			if lerr != nil {
				return fmt.Errorf("leadership changed during the run and no new leader: %w", err)
			}
			leaders[g].CompareAndSwap(l, nl)
		}
	})
	return err
}

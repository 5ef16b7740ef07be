package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
)

// freePort returns a port p such that p and p+2 (the gossip port) were free
// a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+2))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no free port pair")
	return 0
}

// TestFormationSimultaneousStart starts a seed and four nodes that join it
// at the same moment, as a deployment does, with the default timings, and
// requires all five to know each other within 2 s. A joiner whose link came
// up before the seed's membership was running used to retry with a second
// dial the seed refused, forever.
func TestFormationSimultaneousStart(t *testing.T) {
	for trial := range 3 {
		port := freePort(t)
		seedAddr := "127.0.0.1:" + strconv.Itoa(port)
		cfgs := []Config{{Name: "seed@127.0.0.1", Listen: seedAddr, Cookie: "c", ShutdownTTL: 5 * time.Second}}
		for i := 1; i < 5; i++ {
			cfgs = append(cfgs, Config{Name: fmt.Sprintf("n%d@127.0.0.1", i), Listen: "127.0.0.1:0",
				Gossip: "127.0.0.1:0", Cookie: "c", Join: []string{seedAddr}, ShutdownTTL: 5 * time.Second})
		}
		agents := make([]*Agent, len(cfgs))
		var wg sync.WaitGroup
		started := time.Now()
		for i, cfg := range cfgs {
			wg.Go(func() {
				a, err := Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Error(err)
					return
				}
				agents[i] = a
			})
		}
		wg.Wait()
		closeAll := func() {
			var wg sync.WaitGroup
			for _, a := range agents {
				if a != nil {
					wg.Go(func() { a.Close(context.Background()) })
				}
			}
			wg.Wait()
		}
		if t.Failed() {
			closeAll()
			return
		}
		bound := 2 * time.Second
		if raceEnabled {
			bound = 4 * time.Second
		}
		defer closeAll() // also when Eventually fails
		testutil.Eventually(t, bound, func() error {
			for _, a := range agents {
				alive := 0
				for _, m := range a.Members() {
					if m.State == "alive" {
						alive++
					}
				}
				if alive != 5 {
					return fmt.Errorf("trial %d: %s sees %+v", trial, a.cfg.Name, a.Members())
				}
			}
			return nil
		})
		t.Logf("trial %d: formed in %v", trial, time.Since(started).Round(time.Millisecond))
		closeAll()
	}
}

// TestJoinRetriesOverTheSameLink: a joiner's link to its peer is up but the
// peer's membership is not running yet; the joiner retries over that link
// (a second dial would be refused as a duplicate) and is ready once the
// peer's membership starts.
func TestJoinRetriesOverTheSameLink(t *testing.T) {
	port := freePort(t)
	peerAddr := "127.0.0.1:" + strconv.Itoa(port)
	quiet := slog.New(slog.DiscardHandler)
	rt, err := proc.New(proc.Config{Node: "peer@127.0.0.1", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	nd, err := node.Start(context.Background(), rt, node.Config{Name: "peer@127.0.0.1", Listen: peerAddr, Cookie: []byte("c"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Close()
	a, err := Start(context.Background(), Config{Name: "j@127.0.0.1", Listen: "127.0.0.1:0", Gossip: "127.0.0.1:0",
		Cookie: "c", Join: []string{peerAddr}, ShutdownTTL: 5 * time.Second}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	testutil.Eventually(t, 5*time.Second, func() error {
		if len(nd.Nodes()) != 1 {
			return errorf("not linked yet")
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // a few failed attempts over the link
	if a.ready.Load() {
		t.Fatal("ready before the peer runs membership")
	}
	ccfg := cluster.DefaultLANConfig()
	ccfg.Bind, ccfg.Logger = "127.0.0.1:"+strconv.Itoa(port+2), quiet
	c, err := cluster.Start(context.Background(), nd, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testutil.Eventually(t, 10*time.Second, func() error {
		if !a.ready.Load() {
			return errorf("the joiner is not ready")
		}
		return nil
	})
}

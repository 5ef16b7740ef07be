package e2e

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/faultkit/check"
	"github.com/grovedev/grove/faultkit/dockerkit"
	"github.com/grovedev/grove/faultkit/history"
	"github.com/grovedev/grove/internal/kvcheck"
)

const kvImage = "grove-raft-e2e:test"

// kvCluster is three `grove node --kv` containers and the host addresses
// of their admin APIs, which change when a container restarts.
type kvCluster struct {
	*dockerkit.Cluster
	names []string
	mu    sync.Mutex
	admin map[string]string
}

func (c *kvCluster) refresh(t *testing.T, name string) {
	addr, err := c.HostAddr(context.Background(), name, "4371")
	if err != nil {
		t.Logf("admin address of %s: %v", name, err)
		return
	}
	c.mu.Lock()
	c.admin[name] = "http://" + addr
	c.mu.Unlock()
}

func (c *kvCluster) endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, n := range c.names {
		if a, ok := c.admin[n]; ok {
			out = append(out, a)
		}
	}
	return out
}

// TestKVJepsenInContainers checks the store's linearizability across three
// containers under real faults: docker kill (SIGKILL) and restart from the
// container's data dir, pauses (docker pause, or SIGSTOP and SIGCONT where
// the engine has no cgroup freezer), and iptables partitions of one node
// from the others. It takes one to two minutes, so `go test ./...` skips
// it; .ci/e2e runs it with GROVE_DOCKER_JEPSEN=1. The schedule comes from
// GROVE_SEED (default 1); the nemesis runs GROVE_DOCKER_JEPSEN_SECONDS
// (default 15).
func TestKVJepsenInContainers(t *testing.T) {
	if testing.Short() || os.Getenv("GROVE_DOCKER_JEPSEN") == "" {
		t.Skip("linearizability across containers: set GROVE_DOCKER_JEPSEN=1 to run it (one to two minutes; .ci/e2e does)")
	}
	ctx := context.Background()
	if err := dockerkit.Available(ctx); err != nil {
		t.Skipf("%v: end-to-end container tests skipped", err)
	}
	seed := uint64(1)
	if s := os.Getenv(faultkit.SeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = v
	}
	dur := 15 * time.Second
	if s := os.Getenv("GROVE_DOCKER_JEPSEN_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		dur = time.Duration(n) * time.Second
	}
	_, thisFile, _, _ := runtime.Caller(0)
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := dockerkit.BuildImage(bctx, filepath.Dir(filepath.Dir(thisFile)), kvImage); err != nil {
		t.Fatal(err)
	}
	k, err := dockerkit.New(ctx, dockerkit.Config{Image: kvImage, Alias: "grovekv", Ports: []string{"4371"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Close(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	c := &kvCluster{Cluster: k, names: []string{"k1", "k2", "k3"}, admin: map[string]string{}}
	for _, n := range c.names {
		if err := c.Start(ctx, n, "--name", n+"@"+n, "--listen", "0.0.0.0:4370", "--advertise", n+":4370",
			"--admin", "0.0.0.0:4371", "--admin-token", adminToken, "--gossip", "0.0.0.0:4372", "--cookie", "e2e-secret", "--heartbeat", "100ms",
			"--discovery", "dns:grovekv:4370", "--discovery-interval", "300ms",
			"--kv", "--bootstrap-expect", "3", "--data-dir", "/data", "--raft-tick", "20ms"); err != nil {
			t.Fatal(err)
		}
		c.refresh(t, n)
	}
	client := adminClient(3 * time.Second)
	serving := func(within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for _, ep := range c.endpoints() {
			for {
				r := kvcheck.Do(client, "PUT", ep+"/v1/kv/probe", "x")
				if r.Err == nil {
					break
				}
				if time.Now().After(deadline) {
					for _, n := range c.names {
						t.Logf("%s:\n%s", n, c.Logs(ctx, n, 20))
					}
					t.Fatalf("%s does not serve writes: %v", ep, r.Err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	serving(90 * time.Second)

	rec := history.NewRecorder()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		kvcheck.Workload(seed, 6, []string{"a", "b", "c"}, c.endpoints, adminClient(5*time.Second), rec, stop)
	}()

	r := rand.New(rand.NewPCG(seed, 7))
	freezer := true // docker pause works; else SIGSTOP and SIGCONT
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(500+r.IntN(1000)) * time.Millisecond)
		victim := c.names[r.IntN(len(c.names))]
		hold := time.Duration(1000+r.IntN(2000)) * time.Millisecond
		switch r.IntN(3) {
		case 0:
			t.Logf("nemesis: docker kill %s, restart after %v", victim, hold)
			if err := c.Kill(ctx, victim); err != nil {
				t.Fatal(err)
			}
			time.Sleep(hold)
			if err := c.Restart(ctx, victim); err != nil {
				t.Fatal(err)
			}
			c.refresh(t, victim)
		case 1:
			var rest []string
			for _, n := range c.names {
				if n != victim {
					rest = append(rest, n)
				}
			}
			t.Logf("nemesis: partition %s | %v for %v", victim, rest, hold)
			if err := c.Partition(ctx, []string{victim}, rest); err != nil {
				t.Logf("partition skipped: %v", err)
				continue
			}
			time.Sleep(hold)
			if err := c.Heal(ctx); err != nil {
				t.Fatal(err)
			}
		case 2:
			t.Logf("nemesis: pause %s for %v", victim, hold)
			resume := c.Resume
			if !freezer {
				resume = func(ctx context.Context, name string) error { return c.Signal(ctx, name, "CONT") }
				if err := c.Signal(ctx, victim, "STOP"); err != nil {
					t.Fatal(err)
				}
			} else if err := c.Pause(ctx, victim); err != nil {
				// No cgroup freezer here: stop the process instead.
				t.Logf("docker pause failed (%v): SIGSTOP instead, from now on", err)
				freezer = false
				if err := c.Signal(ctx, victim, "STOP"); err != nil {
					t.Fatal(err)
				}
				resume = func(ctx context.Context, name string) error { return c.Signal(ctx, name, "CONT") }
			}
			time.Sleep(hold)
			if err := resume(ctx, victim); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Log("nemesis: healed")
	serving(60 * time.Second)
	close(stop)
	<-done
	h := rec.History()
	ok, failed, unknown := kvcheck.Counts(h)
	t.Logf("seed %d: %d operations: %d ok, %d failed, %d unknown", seed, ok+failed+unknown, ok, failed, unknown)
	if ok == 0 {
		t.Fatal("no operation succeeded")
	}
	res := check.RequireLinearizable(t, h, check.Options{Timeout: 60 * time.Second})
	t.Log(res)
}

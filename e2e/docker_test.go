package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/grovedev/grove/faultkit/dockerkit"
	"github.com/grovedev/grove/internal/testutil"
)

const image = "grove-e2e:test"

// cluster is a dockerkit cluster of grove nodes with their admin APIs.
type cluster struct {
	*dockerkit.Cluster
	admin map[string]string // node → 127.0.0.1:port of its admin API
}

// newCluster builds the image and creates the network, or skips the test
// where no Docker engine answers.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test across containers; skipped with -short")
	}
	ctx := context.Background()
	if err := dockerkit.Available(ctx); err != nil {
		t.Skipf("%v: end-to-end container tests skipped", err)
	}
	_, thisFile, _, _ := runtime.Caller(0)
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := dockerkit.BuildImage(bctx, filepath.Dir(filepath.Dir(thisFile)), image); err != nil {
		t.Fatal(err)
	}
	k, err := dockerkit.New(ctx, dockerkit.Config{Image: image, Alias: "grove", Ports: []string{"4371"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Close(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return &cluster{Cluster: k, admin: map[string]string{}}
}

// start runs a node that discovers the others through the DNS alias.
func (c *cluster) start(t *testing.T, name string) {
	t.Helper()
	err := c.Start(context.Background(), name,
		"--name", name+"@"+name, "--listen", "0.0.0.0:4370", "--advertise", name+":4370",
		"--admin", "0.0.0.0:4371", "--admin-token", adminToken, "--gossip", "0.0.0.0:4372", "--cookie", "e2e-secret", "--heartbeat", "100ms",
		"--discovery", "dns:grove:4370", "--discovery-interval", "300ms")
	if err != nil {
		t.Fatal(err)
	}
	c.refreshAdmin(t, name)
}

// refreshAdmin learns the host port of name's admin API (it changes when
// the container restarts).
func (c *cluster) refreshAdmin(t *testing.T, name string) {
	t.Helper()
	addr, err := c.HostAddr(context.Background(), name, "4371")
	if err != nil {
		t.Fatal(err)
	}
	c.admin[name] = addr
}

func (c *cluster) getJSON(name, path string, v any) error {
	client := adminClient(2 * time.Second)
	resp, err := client.Get("http://" + c.admin[name] + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// members returns member → state as node name sees it.
func (c *cluster) members(name string) (map[string]string, error) {
	var ms []struct{ Name, State string }
	if err := c.getJSON(name, "/v1/members", &ms); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.Name] = m.State
	}
	return out, nil
}

func (c *cluster) quorum(name string) (bool, error) {
	var st struct{ Quorum bool }
	err := c.getJSON(name, "/v1/status", &st)
	return st.Quorum, err
}

// waitAll polls until every node in from sees member in one of states.
func (c *cluster) waitAll(t *testing.T, from []string, member string, states ...string) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, func() error {
		for _, n := range from {
			ms, err := c.members(n)
			if err != nil {
				return err
			}
			if !slices.Contains(states, ms[member]) {
				return fmt.Errorf("%s sees %s as %q, want %v\n%s", n, member, ms[member], states, c.Logs(context.Background(), n, 10))
			}
		}
		return nil
	})
}

func without(names []string, drop ...string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(drop, n) {
			out = append(out, n)
		}
	}
	return out
}

// TestClusterInContainers: five nodes find each other through Docker's
// DNS; a kill, a pause, a restart under the same name and a 2|3 partition
// are noticed, reported and healed.
func TestClusterInContainers(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	names := []string{"n1", "n2", "n3", "n4", "n5"}
	start := time.Now()
	for _, n := range names {
		c.start(t, n)
	}
	for _, n := range names {
		c.waitAll(t, names, n+"@"+n, "alive")
	}
	t.Logf("5 containers formed a cluster %v after the first started", time.Since(start).Round(time.Millisecond))

	// docker kill: suspected at once (the links die), then declared dead.
	killed := time.Now()
	if err := c.Kill(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	c.waitAll(t, without(names, "n3"), "n3@n3", "suspect", "dead")
	t.Logf("docker kill noticed by all four others after %v", time.Since(killed).Round(time.Millisecond))
	c.waitAll(t, without(names, "n3"), "n3@n3", "dead")
	t.Logf("declared dead by all four after %v", time.Since(killed).Round(time.Millisecond))

	// The same container restarted: a new incarnation under the same name
	// rejoins with no manual step.
	if err := c.Restart(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	c.refreshAdmin(t, "n3")
	c.waitAll(t, names, "n3@n3", "alive")

	// docker pause: a frozen node is noticed like a silent failure, and
	// comes back on resume.
	// Where the engine cannot freeze (docker pause fails with "unable to
	// freeze"), SIGSTOP and SIGCONT of the node's process do the same.
	paused := time.Now()
	resume := c.Resume
	if err := c.Pause(ctx, "n4"); err != nil {
		t.Logf("docker pause failed (%v); stopping the process with SIGSTOP instead", err)
		if err := c.Signal(ctx, "n4", "STOP"); err != nil {
			t.Fatal(err)
		}
		resume = func(ctx context.Context, name string) error { return c.Signal(ctx, name, "CONT") }
	}
	c.waitAll(t, without(names, "n4"), "n4@n4", "suspect", "dead")
	t.Logf("pause noticed by all four others after %v", time.Since(paused).Round(time.Millisecond))
	if err := resume(ctx, "n4"); err != nil {
		t.Fatal(err)
	}
	c.waitAll(t, names, "n4@n4", "alive")

	// A 2|3 partition: the 3-side keeps quorum, the 2-side loses it; the
	// heal reconverges.
	small, large := []string{"n1", "n2"}, []string{"n3", "n4", "n5"}
	cut := time.Now()
	if err := c.Partition(ctx, small, large); err != nil {
		t.Skipf("partition part skipped: %v", err)
	}
	c.waitAll(t, large, "n1@n1", "suspect", "dead")
	t.Logf("silent 2|3 partition noticed by the 3-side after %v", time.Since(cut).Round(time.Millisecond))
	testutil.Eventually(t, 60*time.Second, func() error {
		for _, n := range names {
			q, err := c.quorum(n)
			if err != nil {
				return err
			}
			if want := slices.Contains(large, n); q != want {
				return fmt.Errorf("%s reports quorum %v, want %v", n, q, want)
			}
		}
		return nil
	})
	t.Logf("3-side reports quorum, 2-side none, %v after the cut", time.Since(cut).Round(time.Millisecond))
	if err := c.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	for _, n := range names {
		c.waitAll(t, names, n+"@"+n, "alive")
	}
	t.Logf("all five alive again %v after the heal", time.Since(healed).Round(time.Millisecond))
}

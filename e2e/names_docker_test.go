package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/grovedev/grove/agent"
	"github.com/grovedev/grove/faultkit/dockerkit"
	"github.com/grovedev/grove/internal/testutil"
)

const namesImage = "grove-names-e2e:test"

// TestFailoverInContainers: three node containers; the one that runs the
// singleton also runs at least 1,000 children of the distributed
// supervisor. docker kill (SIGKILL) of it: the survivors declare it dead,
// and every one of its children, and the singleton, runs again on them.
func TestFailoverInContainers(t *testing.T) {
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
	if err := dockerkit.BuildImage(bctx, filepath.Dir(filepath.Dir(thisFile)), namesImage); err != nil {
		t.Fatal(err)
	}
	k, err := dockerkit.New(ctx, dockerkit.Config{Image: namesImage, Alias: "grovenames", Ports: []string{"4371"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Close(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	c := &cluster{Cluster: k, admin: map[string]string{}}
	names := []string{"s1", "s2", "s3"}
	for _, n := range names {
		if err := k.Start(ctx, n, "--name", n+"@"+n, "--listen", "0.0.0.0:4370", "--advertise", n+":4370",
			"--admin", "0.0.0.0:4371", "--admin-token", adminToken, "--gossip", "0.0.0.0:4372",
			"--cookie", "e2e-secret", "--heartbeat", "100ms",
			"--discovery", "dns:grovenames:4370", "--discovery-interval", "300ms"); err != nil {
			t.Fatal(err)
		}
		c.refreshAdmin(t, n)
	}
	children := func(n, node string) (agent.ChildrenStatus, error) {
		var st agent.ChildrenStatus
		path := "/v1/children"
		if node != "" {
			path += "?node=" + node
		}
		return st, c.getJSON(n, path, &st)
	}
	testutil.Eventually(t, 90*time.Second, func() error {
		for _, n := range names {
			st, err := children(n, "")
			if err != nil {
				return err
			}
			if !st.Complete || len(st.Members) != 3 {
				return fmt.Errorf("%s: %+v\n%s", n, st, c.Logs(ctx, n, 5))
			}
		}
		return nil
	})
	// Where the singleton runs.
	var single agent.WorkerReply
	testutil.Eventually(t, 30*time.Second, func() error { return c.getJSON("s1", "/v1/singleton", &single) })
	victim := single.Node
	var victimShort string
	fmt.Sscanf(victim, "%2s@", &victimShort)
	t.Logf("the singleton runs on %s", victim)
	// Children until the victim runs at least 1,000 of them.
	client := adminClient(2 * time.Minute)
	total := 0
	for batch := 0; ; batch++ {
		st, err := children("s1", "")
		if err != nil {
			t.Fatal(err)
		}
		if st.Nodes[victim] >= 1000 {
			total = st.Specs
			break
		}
		resp, err := client.Post(fmt.Sprintf("http://%s/v1/children?count=500&prefix=b%d-", c.admin["s1"], batch), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var sc agent.StartedChildren
		json.NewDecoder(resp.Body).Decode(&sc)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || sc.Started != 500 {
			t.Fatalf("start: %s %+v", resp.Status, sc)
		}
	}
	onVictim, err := children("s1", victim)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d children in all, %d on %s", total, len(onVictim.IDs), victim)

	killed := time.Now()
	if err := k.Kill(ctx, victimShort); err != nil {
		t.Fatal(err)
	}
	survivors := without(names, victimShort)
	c.waitAll(t, survivors, victim, "dead")
	dead := time.Since(killed)
	testutil.Eventually(t, 60*time.Second, func() error {
		for _, n := range survivors {
			st, err := children(n, "")
			if err != nil {
				return err
			}
			if st.Active != total || st.Nodes[victim] != 0 {
				return fmt.Errorf("%s sees %d of %d children running, %d on %s", n, st.Active, total, st.Nodes[victim], victim)
			}
		}
		return nil
	})
	back := time.Since(killed)
	// Every child of the victim answers, from a survivor.
	for _, id := range onVictim.IDs {
		var r agent.WorkerReply
		if err := c.getJSON(survivors[0], "/v1/children/"+id, &r); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if r.Node == victim || r.Node == "" {
			t.Fatalf("%s answers from %q", id, r.Node)
		}
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		var r agent.WorkerReply
		if err := c.getJSON(survivors[1], "/v1/singleton", &r); err != nil {
			return err
		}
		if r.Node == victim || r.Node == "" {
			return fmt.Errorf("the singleton answers from %q", r.Node)
		}
		return nil
	})
	t.Logf("docker kill of %s: declared dead after %v; its %d children and the singleton ran on the survivors %v after the kill",
		victim, dead.Round(time.Millisecond), len(onVictim.IDs), back.Round(time.Millisecond))
}

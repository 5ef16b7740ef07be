package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
)

// docker runs a docker command and returns its trimmed output.
func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// requireDocker skips the test where no Docker engine answers.
func requireDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test across containers; skipped with -short")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker command: end-to-end container tests need a Docker engine")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := docker(ctx, "info", "--format", "{{.ServerVersion}}"); err != nil {
		t.Skipf("no Docker engine answers (%v: %s): end-to-end container tests skipped", err, out)
	}
}

// buildImage builds the grove image from a static binary and returns its tag.
func buildImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	_, thisFile, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(thisFile))
	if err := os.MkdirAll(filepath.Join(dir, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "deploy", "grove"), "./cmd/grove")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
		t.Fatal(err)
	}
	tag := "grove-e2e:test"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := docker(ctx, "build", "-q", "-t", tag, dir); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	return tag
}

// cluster is a set of grove containers on a network of their own.
type cluster struct {
	t       *testing.T
	image   string
	network string
	admin   map[string]string // container → 127.0.0.1:port of its admin API
}

func newCluster(t *testing.T, image string) *cluster {
	t.Helper()
	ctx := context.Background()
	c := &cluster{t: t, image: image, network: fmt.Sprintf("grove-e2e-%d", time.Now().UnixNano()), admin: map[string]string{}}
	if out, err := docker(ctx, "network", "create", c.network); err != nil {
		t.Fatalf("network create: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		for name := range c.admin {
			docker(context.Background(), "rm", "-f", name)
		}
		docker(context.Background(), "network", "rm", c.network)
	})
	return c
}

// start runs a node in a container named name, reachable by the others as
// name and, for discovery, under the shared DNS alias "grove".
func (c *cluster) start(name string) {
	c.t.Helper()
	ctx := context.Background()
	full := c.network + "-" + name
	args := []string{"run", "-d", "--name", full, "--hostname", name, "--network", c.network, "--network-alias", "grove",
		"--network-alias", name, "-p", "127.0.0.1::4371", c.image,
		"--name", name + "@" + name, "--listen", "0.0.0.0:4370", "--advertise", name + ":4370",
		"--admin", "0.0.0.0:4371", "--gossip", "0.0.0.0:4372", "--cookie", "e2e-secret", "--heartbeat", "100ms",
		"--discovery", "dns:grove:4370", "--discovery-interval", "300ms"}
	if out, err := docker(ctx, args...); err != nil {
		c.t.Fatalf("docker run %s: %v\n%s", name, err, out)
	}
	port, err := docker(ctx, "port", full, "4371/tcp")
	if err != nil {
		c.t.Fatalf("docker port: %v %s", err, port)
	}
	c.admin[full] = strings.Split(port, "\n")[0]
}

func (c *cluster) container(name string) string { return c.network + "-" + name }

// members returns name → state as the node in container name sees it.
func (c *cluster) members(name string) (map[string]string, error) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + c.admin[c.container(name)] + "/v1/members")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ms []struct{ Name, State string }
	if err := json.NewDecoder(resp.Body).Decode(&ms); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.Name] = m.State
	}
	return out, nil
}

func (c *cluster) logs(name string) string {
	out, _ := docker(context.Background(), "logs", "--tail", "30", c.container(name))
	return out
}

// TestClusterInContainers starts five nodes that find each other through
// Docker's DNS, kills one and checks that the others notice.
func TestClusterInContainers(t *testing.T) {
	requireDocker(t)
	image := buildImage(t)
	c := newCluster(t, image)
	names := []string{"n1", "n2", "n3", "n4", "n5"}
	start := time.Now()
	for _, n := range names {
		c.start(n)
	}
	testutil.Eventually(t, 60*time.Second, func() error {
		for _, n := range names {
			ms, err := c.members(n)
			if err != nil {
				return err
			}
			for _, other := range names {
				if ms[other+"@"+other] != "alive" {
					return fmt.Errorf("%s sees %v", n, ms)
				}
			}
		}
		return nil
	})
	t.Logf("5 containers formed a full mesh %v after the first started", time.Since(start).Round(time.Millisecond))

	killed := time.Now()
	if out, err := docker(context.Background(), "kill", c.container("n3")); err != nil {
		t.Fatalf("docker kill: %v %s", err, out)
	}
	others := []string{"n1", "n2", "n4", "n5"}
	c.waitAll(t, others, "n3@n3", "suspect", "dead")
	t.Logf("docker kill noticed (suspect) by all four others after %v", time.Since(killed).Round(time.Millisecond))
	c.waitAll(t, others, "n3@n3", "dead")
	t.Logf("docker kill declared dead by all four others after %v", time.Since(killed).Round(time.Millisecond))

	// The same container restarted: a new incarnation under the same name
	// rejoins without any manual step.
	if out, err := docker(context.Background(), "start", c.container("n3")); err != nil {
		t.Fatalf("docker start: %v %s", err, out)
	}
	port, err := docker(context.Background(), "port", c.container("n3"), "4371/tcp")
	if err != nil {
		t.Fatal(err)
	}
	c.admin[c.container("n3")] = strings.Split(port, "\n")[0]
	c.waitAll(t, names, "n3@n3", "alive")

	// A 2|3 partition made with iptables on the DOCKER-USER chain: the
	// 3-side keeps quorum, the 2-side loses it; the heal reconverges.
	small, large := []string{"n1", "n2"}, []string{"n3", "n4", "n5"}
	var rules [][]string
	for _, a := range small {
		for _, b := range large {
			ia, ib := c.ip(t, a), c.ip(t, b)
			rules = append(rules, []string{"-s", ia, "-d", ib, "-j", "DROP"}, []string{"-s", ib, "-d", ia, "-j", "DROP"})
		}
	}
	for _, r := range rules {
		if out, err := exec.Command("iptables", append([]string{"-I", "DOCKER-USER"}, r...)...).CombinedOutput(); err != nil {
			t.Skipf("iptables unavailable (%v: %s): partition part skipped", err, out)
		}
	}
	healed := false
	heal := func() {
		if healed {
			return
		}
		healed = true
		for _, r := range rules {
			exec.Command("iptables", append([]string{"-D", "DOCKER-USER"}, r...)...).Run()
		}
	}
	defer heal()
	cut := time.Now()
	c.waitAll(t, large, "n1@n1", "suspect", "dead")
	t.Logf("silent 2|3 partition noticed (suspect) by the 3-side after %v", time.Since(cut).Round(time.Millisecond))
	testutil.Eventually(t, 60*time.Second, func() error {
		for _, n := range append(append([]string{}, small...), large...) {
			q, err := c.quorum(n)
			if err != nil {
				return err
			}
			want := n != "n1" && n != "n2"
			if q != want {
				return fmt.Errorf("%s reports quorum %v, want %v", n, q, want)
			}
		}
		return nil
	})
	t.Logf("3-side reports quorum, 2-side none, %v after the cut", time.Since(cut).Round(time.Millisecond))
	heal()
	healedAt := time.Now()
	for _, n := range names {
		c.waitAll(t, names, n+"@"+n, "alive")
	}
	t.Logf("all five alive again %v after the heal", time.Since(healedAt).Round(time.Millisecond))
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
				return fmt.Errorf("%s sees %s as %q, want %v", n, member, ms[member], states)
			}
		}
		return nil
	})
}

// quorum returns whether the node in container name reports quorum.
func (c *cluster) quorum(name string) (bool, error) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + c.admin[c.container(name)] + "/v1/status")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var st struct{ Quorum bool }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return false, err
	}
	return st.Quorum, nil
}

// ip returns the container's address on the cluster's network.
func (c *cluster) ip(t *testing.T, name string) string {
	t.Helper()
	out, err := docker(context.Background(), "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", c.container(name))
	if err != nil || out == "" {
		t.Fatalf("inspect %s: %v %s", name, err, out)
	}
	return out
}

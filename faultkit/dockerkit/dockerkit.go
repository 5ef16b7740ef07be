// Package dockerkit is the fault-injection kit for real processes: it runs
// `grove node` (or any image) in Docker containers on a network of their
// own and injects the same faults as the in-process kit — kill, pause,
// restart, partitions of any shape and one-way cuts — with docker commands
// and iptables rules on the DOCKER-USER chain.
//
// # Usage
//
//	if err := dockerkit.Available(ctx); err != nil {
//		t.Skip(err) // no Docker engine here
//	}
//	c, err := dockerkit.New(ctx, dockerkit.Config{Image: "grove:dev"})
//	defer c.Close(context.Background())
//	c.Start(ctx, "n1", "--name", "n1@n1", ...)
//	c.Partition(ctx, []string{"n1", "n2"}, []string{"n3", "n4", "n5"})
//	c.Heal(ctx)
//
// Partition rules live in the host's DOCKER-USER chain, which needs root;
// every rule the kit adds is removed by Heal and Close.
package dockerkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrUnavailable is returned when no Docker engine answers.
var ErrUnavailable = errors.New("dockerkit: no Docker engine answers")

// run runs a command and returns its trimmed combined output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err != nil {
		return s, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, s)
	}
	return s, nil
}

// Available reports whether a Docker engine answers.
func Available(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("%w: no docker command", ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := run(ctx, "docker", "info", "--format", "{{.ServerVersion}}"); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// BuildImage builds a FROM scratch image of the grove binary from the
// module at root (CGO off, so the binary is static) and tags it.
func BuildImage(ctx context.Context, root, tag string) error {
	dir, err := os.MkdirTemp("", "grove-image")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(dir, "deploy"), 0o755); err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, "deploy", "grove"), "./cmd/grove")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("dockerkit: go build: %w\n%s", err, out)
	}
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
		return err
	}
	_, err = run(ctx, "docker", "build", "-q", "-t", tag, dir)
	return err
}

// Config describes a cluster of containers.
type Config struct {
	// Image is the image every node runs.
	Image string
	// Alias is a DNS name every container also answers to on the
	// network, for discovery by DNS; default "grove".
	Alias string
	// Ports are container ports published on 127.0.0.1 (random host
	// ports), for the test to reach, e.g. the admin API; see HostAddr.
	Ports []string
}

// Cluster is a set of containers on a Docker network of their own. Its
// methods are safe for concurrent use.
type Cluster struct {
	cfg     Config
	network string

	mu     sync.Mutex
	nodes  map[string]*container // by short name
	rules  [][]string            // iptables rules in DOCKER-USER, to delete
	closed bool
}

type container struct {
	full string
	args []string
}

// New creates the cluster's network.
func New(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Image == "" {
		return nil, errors.New("dockerkit: Config.Image is required")
	}
	if cfg.Alias == "" {
		cfg.Alias = "grove"
	}
	c := &Cluster{cfg: cfg, network: fmt.Sprintf("grove-kit-%d", time.Now().UnixNano()), nodes: map[string]*container{}}
	if _, err := run(ctx, "docker", "network", "create", c.network); err != nil {
		return nil, err
	}
	return c, nil
}

// Network returns the Docker network's name.
func (c *Cluster) Network() string { return c.network }

// Start runs a container named name (its host name and a DNS alias on the
// network) with args for the image's entry point.
func (c *Cluster) Start(ctx context.Context, name string, args ...string) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("dockerkit: closed")
	}
	full := c.network + "-" + name
	c.nodes[name] = &container{full: full, args: args}
	c.mu.Unlock()
	dargs := []string{"run", "-d", "--name", full, "--hostname", name, "--network", c.network,
		"--network-alias", c.cfg.Alias, "--network-alias", name}
	for _, p := range c.cfg.Ports {
		dargs = append(dargs, "-p", "127.0.0.1::"+p)
	}
	dargs = append(append(dargs, c.cfg.Image), args...)
	_, err := run(ctx, "docker", dargs...)
	return err
}

func (c *Cluster) container(name string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[name]
	if !ok {
		return "", fmt.Errorf("dockerkit: no node %q", name)
	}
	return n.full, nil
}

// HostAddr returns the 127.0.0.1 address that a published container port
// of name is reachable at.
func (c *Cluster) HostAddr(ctx context.Context, name, port string) (string, error) {
	full, err := c.container(name)
	if err != nil {
		return "", err
	}
	out, err := run(ctx, "docker", "port", full, port+"/tcp")
	if err != nil {
		return "", err
	}
	return strings.Split(out, "\n")[0], nil
}

// IP returns the container's address on the cluster's network.
func (c *Cluster) IP(ctx context.Context, name string) (string, error) {
	full, err := c.container(name)
	if err != nil {
		return "", err
	}
	ip, err := run(ctx, "docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", full)
	if err == nil && ip == "" {
		err = fmt.Errorf("dockerkit: %s has no address (is it running?)", name)
	}
	return ip, err
}

// docker runs a docker verb on one node's container.
func (c *Cluster) docker(ctx context.Context, verb, name string, extra ...string) error {
	full, err := c.container(name)
	if err != nil {
		return err
	}
	_, err = run(ctx, "docker", append(append([]string{verb}, extra...), full)...)
	return err
}

// Kill kills the node's process at once (SIGKILL), as a crash would.
func (c *Cluster) Kill(ctx context.Context, name string) error { return c.docker(ctx, "kill", name) }

// Stop stops the node gracefully (SIGTERM, then SIGKILL after timeout).
func (c *Cluster) Stop(ctx context.Context, name string, timeout time.Duration) error {
	return c.docker(ctx, "stop", name, "-t", fmt.Sprint(int(timeout.Seconds())))
}

// Pause freezes every process of the node (SIGSTOP-like, through the
// cgroup freezer): it keeps its state but does nothing.
func (c *Cluster) Pause(ctx context.Context, name string) error { return c.docker(ctx, "pause", name) }

// Signal sends a signal to the node's main process, e.g. "STOP" and
// "CONT": a pause where the engine has no cgroup freezer (docker pause
// fails there with "unable to freeze"). The engine sends it from outside
// the container, so even the STOP of its PID 1 takes effect.
func (c *Cluster) Signal(ctx context.Context, name, signal string) error {
	return c.docker(ctx, "kill", name, "--signal", signal)
}

// Resume thaws a paused node.
func (c *Cluster) Resume(ctx context.Context, name string) error {
	return c.docker(ctx, "unpause", name)
}

// Restart starts a stopped or killed node's container again, with the same
// name and arguments: the node comes back as a new incarnation.
func (c *Cluster) Restart(ctx context.Context, name string) error {
	return c.docker(ctx, "start", name)
}

// Logs returns the last lines the node wrote.
func (c *Cluster) Logs(ctx context.Context, name string, lines int) string {
	full, err := c.container(name)
	if err != nil {
		return err.Error()
	}
	out, _ := run(ctx, "docker", "logs", "--tail", fmt.Sprint(lines), full)
	return out
}

// Partition cuts the network between the groups: nodes in different groups
// no longer reach each other, silently (packets are dropped, as on a real
// partition); nodes within a group still do. Nodes in no group are left
// alone.
func (c *Cluster) Partition(ctx context.Context, groups ...[]string) error {
	for i, g := range groups {
		for _, h := range groups[i+1:] {
			for _, a := range g {
				for _, b := range h {
					if err := c.OneWay(ctx, a, b); err != nil {
						return err
					}
					if err := c.OneWay(ctx, b, a); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// OneWay drops every packet from node from to node to: to no longer hears
// from, while from still hears to (TCP connections from either side stall,
// since their acknowledgements are lost too).
func (c *Cluster) OneWay(ctx context.Context, from, to string) error {
	a, err := c.IP(ctx, from)
	if err != nil {
		return err
	}
	b, err := c.IP(ctx, to)
	if err != nil {
		return err
	}
	rule := []string{"-s", a, "-d", b, "-j", "DROP"}
	if _, err := run(ctx, "iptables", append([]string{"-I", "DOCKER-USER"}, rule...)...); err != nil {
		return fmt.Errorf("dockerkit: partitions need iptables and root: %w", err)
	}
	c.mu.Lock()
	c.rules = append(c.rules, rule)
	c.mu.Unlock()
	return nil
}

// Heal removes every partition rule the kit added.
func (c *Cluster) Heal(ctx context.Context) error {
	c.mu.Lock()
	rules := c.rules
	c.rules = nil
	c.mu.Unlock()
	var errs []error
	for _, r := range rules {
		if _, err := run(ctx, "iptables", append([]string{"-D", "DOCKER-USER"}, r...)...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close heals the network, removes the containers and the network. It is
// idempotent.
func (c *Cluster) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var names []string
	for _, n := range c.nodes {
		names = append(names, n.full)
	}
	c.mu.Unlock()
	errs := []error{c.Heal(ctx)}
	if len(names) > 0 {
		if _, err := run(ctx, "docker", append([]string{"rm", "-f"}, names...)...); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := run(ctx, "docker", "network", "rm", c.network); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

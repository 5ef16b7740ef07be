package demo

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// nodeProc is one `grove node` process of the demo's cluster.
type nodeProc struct {
	name, addr, admin string
	cmd               *exec.Cmd
	exited            chan struct{}
}

var startedLine = regexp.MustCompile(`msg="node started" name=\S+ addr=(\S+) admin=(\S+)`)

// startNode starts `grove node` and waits for it to say where it listens.
func startNode(ctx context.Context, grove, name, cookie string, join ...string) (*nodeProc, error) {
	args := []string{"node", "--name", name, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--cookie", cookie, "--heartbeat", "100ms"}
	for _, j := range join {
		args = append(args, "--join", j)
	}
	cmd := exec.CommandContext(ctx, grove, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	np := &nodeProc{name: name, cmd: cmd, exited: make(chan struct{})}
	found := make(chan []string, 1)
	go func() {
		defer close(np.exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := startedLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
	}()
	select {
	case m := <-found:
		np.addr, np.admin = m[1], m[2]
		return np, nil
	case <-np.exited:
		return nil, fmt.Errorf("demo: %s exited at start", name)
	case <-time.After(20 * time.Second):
		np.kill()
		return nil, fmt.Errorf("demo: %s did not start", name)
	}
}

func (np *nodeProc) kill() {
	np.cmd.Process.Kill()
	<-np.exited
}

// members returns each member's state as np sees it.
func (np *nodeProc) members() (map[string]string, error) {
	client := http.Client{Timeout: time.Second}
	resp, err := client.Get("http://" + np.admin + "/v1/members")
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

// cluster starts three node processes, kills one and shows how fast the
// others notice.
func (d *demo) cluster(ctx context.Context, grove string) error {
	d.title("5. Three node processes form a cluster")
	key := make([]byte, 16)
	rand.Read(key)
	cookie := hex.EncodeToString(key)
	var nodes []*nodeProc
	defer func() {
		for _, n := range nodes {
			n.kill()
		}
	}()
	seed, err := startNode(ctx, grove, "n1@127.0.0.1", cookie)
	if err != nil {
		return err
	}
	nodes = append(nodes, seed)
	for _, name := range []string{"n2@127.0.0.1", "n3@127.0.0.1"} {
		n, err := startNode(ctx, grove, name, cookie, seed.addr)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	formed := time.Now()
	if err := d.poll(ctx, func() bool {
		ms, err := seed.members()
		return err == nil && ms["n2@127.0.0.1"] == "alive" && ms["n3@127.0.0.1"] == "alive"
	}); err != nil {
		return fmt.Errorf("demo: the cluster did not form: %w", err)
	}
	d.say("n1, n2 and n3 are separate OS processes; n2 and n3 joined n1 over authenticated links (%v)", time.Since(formed).Round(time.Millisecond))
	for _, n := range nodes {
		d.say("  %-14s links on %-16s admin API http://%s", n.name, n.addr, n.admin)
	}

	victim := nodes[2]
	killed := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-victim.exited
	if err := d.poll(ctx, func() bool {
		ms, err := seed.members()
		return err == nil && ms[victim.name] != "alive"
	}); err != nil {
		return fmt.Errorf("demo: the kill was not noticed: %w", err)
	}
	d.say("kill -9 of %s: n1 suspected it %v later (its link died with the process)", victim.name, time.Since(killed).Round(time.Microsecond))
	if err := d.pollFor(ctx, 30*time.Second, func() bool {
		ms, err := seed.members()
		return err == nil && ms[victim.name] == "dead"
	}); err != nil {
		return fmt.Errorf("demo: the membership protocol did not declare the kill: %w", err)
	}
	d.say("the membership protocol (SWIM) declared it dead %v after the kill", time.Since(killed).Round(time.Millisecond))
	ms, _ := seed.members()
	var lines []string
	for _, name := range []string{"n1@127.0.0.1", "n2@127.0.0.1", "n3@127.0.0.1"} {
		lines = append(lines, fmt.Sprintf("%s %s", name, ms[name]))
	}
	d.say("n1's member list: %s", strings.Join(lines, ", "))

	d.say("stopping n1 and n2 with SIGTERM...")
	for _, n := range nodes[:2] {
		n.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, n := range nodes[:2] {
		select {
		case <-n.exited:
		case <-time.After(15 * time.Second):
			return errors.New("demo: a node did not stop on SIGTERM")
		}
	}
	d.say("both stopped gracefully")
	return nil
}

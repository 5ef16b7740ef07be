package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/grovedev/grove/cmd/grove/internal/nodeproc"
)

// startNode starts one `grove node` process of the demo's cluster.
// Arguments starting with "--" are flags; the others are peers to join.
func startNode(ctx context.Context, grove, name, cookie string, join ...string) (*nodeproc.Proc, error) {
	args := []string{"--name", name, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--cookie", cookie, "--heartbeat", "100ms"}
	for _, j := range join {
		if strings.HasPrefix(j, "--") {
			args = append(args, j)
			continue
		}
		args = append(args, "--join", j)
	}
	return nodeproc.Start(ctx, grove, args...)
}

// state returns the state of member as p sees it, empty if unknown.
func state(p *nodeproc.Proc, member string) string {
	ms, err := p.Members()
	if err != nil {
		return ""
	}
	return ms[member].State
}

// cluster starts three node processes, kills one and shows how fast the
// others notice.
func (d *demo) cluster(ctx context.Context, grove string) error {
	d.title("5. Three node processes form a cluster")
	key := make([]byte, 16)
	rand.Read(key)
	cookie := hex.EncodeToString(key)
	names := []string{"n1@127.0.0.1", "n2@127.0.0.1", "n3@127.0.0.1"}
	var nodes []*nodeproc.Proc
	defer func() {
		for _, n := range nodes {
			n.Kill()
		}
	}()
	seed, err := startNode(ctx, grove, names[0], cookie)
	if err != nil {
		return err
	}
	nodes = append(nodes, seed)
	for _, name := range names[1:] {
		n, err := startNode(ctx, grove, name, cookie, seed.Addr)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	formed := time.Now()
	if err := d.poll(ctx, func() bool {
		return state(seed, names[1]) == "alive" && state(seed, names[2]) == "alive"
	}); err != nil {
		return fmt.Errorf("demo: the cluster did not form: %w", err)
	}
	d.say("n1, n2 and n3 are separate OS processes; n2 and n3 joined n1 over authenticated links (%v)", time.Since(formed).Round(time.Millisecond))
	for i, n := range nodes {
		d.say("  %-14s links on %-16s admin API http://%s", names[i], n.Addr, n.Admin)
	}

	victim, victimName := nodes[2], names[2]
	killed := time.Now()
	if err := victim.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-victim.Exited()
	if err := d.poll(ctx, func() bool {
		st := state(seed, victimName)
		return st != "" && st != "alive"
	}); err != nil {
		return fmt.Errorf("demo: the kill was not noticed: %w", err)
	}
	d.say("kill -9 of %s: n1 suspected it %v later (its link died with the process)", victimName, time.Since(killed).Round(time.Microsecond))
	if err := d.pollFor(ctx, 30*time.Second, func() bool {
		return state(seed, victimName) == "dead"
	}); err != nil {
		return fmt.Errorf("demo: the membership protocol did not declare the kill: %w", err)
	}
	d.say("the membership protocol (SWIM) declared it dead %v after the kill", time.Since(killed).Round(time.Millisecond))
	var lines []string
	for _, name := range names {
		lines = append(lines, fmt.Sprintf("%s %s", name, state(seed, name)))
	}
	d.say("n1's member list: %s", strings.Join(lines, ", "))

	d.say("stopping n1 and n2 with SIGTERM...")
	for _, n := range nodes[:2] {
		n.Signal(syscall.SIGTERM)
	}
	for _, n := range nodes[:2] {
		select {
		case <-n.Exited():
		case <-time.After(15 * time.Second):
			return errors.New("demo: a node did not stop on SIGTERM")
		}
	}
	d.say("both stopped gracefully")
	return nil
}

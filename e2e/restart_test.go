package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
)

// freeListenPort returns a loopback port p such that p and p+2 (the
// default gossip port) were free a moment ago.
func freeListenPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+2))
		ln.Close()
		if err == nil {
			ln2.Close()
			return p
		}
	}
	t.Fatal("no free pair of ports")
	return 0
}

type status struct {
	Quorum    bool `json:"quorum"`
	Reachable int  `json:"reachable"`
}

func (p *groveProc) status() (status, error) {
	var st status
	code, b, err := p.adminGet("/v1/status")
	if err != nil {
		return st, err
	}
	if code != 200 {
		return st, fmt.Errorf("/v1/status: %d", code)
	}
	return st, json.Unmarshal(b, &st)
}

// TestSeedRestartedWithoutJoin runs three `grove node` processes with the
// default timings, two joined through the first, as the README starts
// them. The seed is killed with SIGKILL and started again with the same
// command, without --join: the links its peers redial bring it the whole
// membership at once (it used to list only itself for 9 to 15 s while
// claiming quorum), and it never claims a quorum over members it has not
// heard from.
func TestSeedRestartedWithoutJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs grove node processes")
	}
	bin := buildGrove(t)
	port := freeListenPort(t)
	seedArgs := []string{"--name", "seed@127.0.0.1", "--listen", "127.0.0.1:" + strconv.Itoa(port),
		"--admin", "127.0.0.1:0", "--cookie", "restart-test-cookie"}
	seed := startGrove(t, bin, seedArgs...)
	join := func(name string) *groveProc {
		return startGrove(t, bin, "--name", name, "--listen", "127.0.0.1:0", "--gossip", "127.0.0.1:0",
			"--admin", "127.0.0.1:0", "--cookie", "restart-test-cookie", "--join", seed.addr)
	}
	b, c := join("b@127.0.0.1"), join("c@127.0.0.1")
	all := []string{"seed@127.0.0.1", "b@127.0.0.1", "c@127.0.0.1"}
	allAlive := func(p *groveProc) error {
		ms, err := p.memberStates()
		if err != nil {
			return err
		}
		for _, n := range all {
			if ms[n] != "alive" {
				return fmt.Errorf("%s sees %v", p.name, ms)
			}
		}
		return nil
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, p := range []*groveProc{seed, b, c} {
			if err := allAlive(p); err != nil {
				return err
			}
		}
		return nil
	})

	seed.cmd.Process.Kill()
	<-seed.exited
	seed = startGrove(t, bin, seedArgs...)
	restarted := time.Now()
	testutil.Eventually(t, 20*time.Second, func() error {
		ms, err := seed.memberStates()
		if err != nil {
			return err
		}
		st, err := seed.status()
		if err != nil {
			return err
		}
		// Once it lists others, a quorum needs a majority it reaches.
		if len(ms) > 1 && st.Quorum && 2*st.Reachable <= len(ms) {
			t.Fatalf("the restarted seed claims quorum reaching %d of the %d it lists: %v", st.Reachable, len(ms), ms)
		}
		return allAlive(seed)
	})
	merged := time.Since(restarted)
	t.Logf("the restarted seed lists every member alive %v after it started", merged.Round(time.Millisecond))
	if merged > 5*time.Second {
		t.Errorf("the restarted seed took %v to list its peers", merged)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, p := range []*groveProc{b, c} {
			if err := allAlive(p); err != nil {
				return err
			}
		}
		return nil
	})
}

package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/grovedev/grove/agent"
	"github.com/grovedev/grove/cmd/grove/internal/nodeproc"
	"github.com/grovedev/grove/internal/testutil"
)

// nodeProc is a `grove node` OS process under test.
type nodeProc struct{ *nodeproc.Proc }

// startNodeProc runs `grove node` on loopback with fast heartbeats; the
// process is killed when the test ends.
func startNodeProc(t *testing.T, bin string, args ...string) *nodeProc {
	t.Helper()
	p, err := nodeproc.Start(context.Background(), bin, append([]string{"-v", "--listen", "127.0.0.1:0",
		"--admin", "127.0.0.1:0", "--cookie", "e2e", "--heartbeat", "100ms"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return &nodeProc{p}
}

func (np *nodeProc) members(t *testing.T) map[string]agent.Member {
	t.Helper()
	ms, err := np.Members()
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func (np *nodeProc) get(t *testing.T, path string) int {
	t.Helper()
	code, err := np.Get(path)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// TestNodeProcesses runs three `grove node` processes on loopback: two join
// the first; a kill -9 is noticed by the seed; SIGTERM stops a node cleanly.
func TestNodeProcesses(t *testing.T) {
	bin := buildGrove(t)
	seed := startNodeProc(t, bin, "--name", "seed@127.0.0.1", "--region", "eu")
	b := startNodeProc(t, bin, "--name", "b@127.0.0.1", "--join", seed.Addr)
	c := startNodeProc(t, bin, "--name", "c@127.0.0.1", "--join", "seed@127.0.0.1="+seed.Addr)

	testutil.Eventually(t, 10*time.Second, func() error {
		ms := seed.members(t)
		for _, n := range []string{"seed@127.0.0.1", "b@127.0.0.1", "c@127.0.0.1"} {
			if ms[n].State != "alive" {
				return fmt.Errorf("%s: %+v", n, ms)
			}
		}
		if b.get(t, "/readyz") != 200 || c.get(t, "/readyz") != 200 {
			return fmt.Errorf("joiners not ready")
		}
		return nil
	})
	if ms := seed.members(t); ms["seed@127.0.0.1"].Region != "eu" || ms["b@127.0.0.1"].Incarnation == 0 {
		t.Fatalf("members %+v", ms)
	}
	for _, path := range []string{"/healthz", "/readyz", "/v1/status", "/metrics"} {
		if code := seed.get(t, path); code != 200 {
			t.Fatalf("%s: %d", path, code)
		}
	}

	// kill -9: the seed suspects b at once (its link died) and the
	// membership protocol declares it dead.
	killed := time.Now()
	b.Signal(syscall.SIGKILL)
	testutil.Eventually(t, 10*time.Second, func() error {
		if st := seed.members(t)["b@127.0.0.1"].State; st == "alive" {
			return fmt.Errorf("b is %s", st)
		}
		return nil
	})
	t.Logf("kill -9 noticed by the seed after %v", time.Since(killed).Round(time.Millisecond))
	testutil.Eventually(t, 30*time.Second, func() error {
		if st := seed.members(t)["b@127.0.0.1"].State; st != "dead" {
			return fmt.Errorf("b is %s", st)
		}
		return nil
	})
	t.Logf("b declared dead after %v", time.Since(killed).Round(time.Millisecond))

	// SIGTERM: a graceful stop with exit status 0.
	c.Signal(syscall.SIGTERM)
	select {
	case <-c.Exited():
		if err := c.Err(); err != nil {
			t.Fatalf("SIGTERM exit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	// The leave announcement is best effort: when it is not heard, SWIM
	// declares the node dead instead.
	testutil.Eventually(t, 30*time.Second, func() error {
		if st := seed.members(t)["c@127.0.0.1"].State; st != "left" && st != "dead" {
			return fmt.Errorf("c is %s\nseed's log:\n%s\nc's log:\n%s", st, seed.Logs(), c.Logs())
		}
		return nil
	})
	t.Logf("after SIGTERM the seed sees c as %s", seed.members(t)["c@127.0.0.1"].State)
}

// TestNodeBadConfiguration checks one-line errors and a non-zero exit.
func TestNodeBadConfiguration(t *testing.T) {
	bin := buildGrove(t)
	for _, args := range [][]string{
		{"node"},
		{"node", "--name", "x@h"},
		{"node", "--name", "noat", "--cookie", "c"},
		{"node", "--name", "x@h", "--cookie", "c", "--join", "nope"},
		{"node", "--name", "x@h", "--cookie", "c", "--cookie-file", "/f"},
		{"node", "--name", "x@h", "--cookie", "c", "--listen", "bad"},
		{"node", "--name", "x@h", "--tls-cert", "a.pem"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil {
			t.Errorf("grove %v succeeded", args)
			continue
		}
		lines := len(regexp.MustCompile("\n").FindAllString(string(out), -1))
		if lines != 1 {
			t.Errorf("grove %v: want a one-line error, got:\n%s", args, out)
		}
	}
}

// TestTwoNodeClusterStopsTogether sends SIGTERM to both nodes of a
// two-node cluster at once, with the default timings: both must exit with
// status 0, well within the shutdown timeout, although neither is left to
// confirm the other's leave notice.
func TestTwoNodeClusterStopsTogether(t *testing.T) {
	bin := buildGrove(t)
	start := func(args ...string) *nodeProc {
		p, err := nodeproc.Start(context.Background(), bin, append([]string{"--listen", "127.0.0.1:0",
			"--admin", "127.0.0.1:0", "--cookie", "e2e"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Kill)
		return &nodeProc{p}
	}
	a := start("--name", "a@127.0.0.1")
	b := start("--name", "b@127.0.0.1", "--join", a.Addr)
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, p := range []*nodeProc{a, b} {
			if ms := p.members(t); ms["a@127.0.0.1"].State != "alive" || ms["b@127.0.0.1"].State != "alive" {
				return fmt.Errorf("members %+v", ms)
			}
		}
		return nil
	})
	stopped := time.Now()
	a.Signal(syscall.SIGTERM)
	b.Signal(syscall.SIGTERM)
	for _, p := range []*nodeProc{a, b} {
		select {
		case <-p.Exited():
			if err := p.Err(); err != nil {
				t.Errorf("exit after SIGTERM: %v\n%s", err, p.Logs())
			}
		case <-time.After(8 * time.Second):
			t.Fatalf("no exit within 8 s of SIGTERM (the shutdown timeout is 10 s)\n%s", p.Logs())
		}
	}
	took := time.Since(stopped)
	t.Logf("both stopped %v after SIGTERM", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("stopping took %v", took)
	}
}

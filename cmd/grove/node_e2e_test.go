package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grovedev/grove/agent"
	"github.com/grovedev/grove/internal/testutil"
)

// nodeProc is a `grove node` OS process.
type nodeProc struct {
	cmd   *exec.Cmd
	addr  string // node links
	admin string // admin API
	exit  chan error
	mu    sync.Mutex
	log   []string // what it logged, shown when a test fails
}

func (np *nodeProc) logs() string {
	np.mu.Lock()
	defer np.mu.Unlock()
	return strings.Join(np.log, "\n")
}

var startedLine = regexp.MustCompile(`msg="node started" name=\S+ addr=(\S+) admin=(\S+)`)

// startNodeProc runs `grove node` and waits for its "node started" line.
func startNodeProc(t *testing.T, bin string, args ...string) *nodeProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"node", "-v", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--cookie", "e2e", "--heartbeat", "100ms"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	np := &nodeProc{cmd: cmd, exit: make(chan error, 1)}
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			np.mu.Lock()
			np.log = append(np.log, sc.Text())
			np.mu.Unlock()
			if m := startedLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
			}
		}
		io.Copy(io.Discard, stderr)
		np.exit <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-np.exit
	})
	select {
	case m := <-found:
		np.addr, np.admin = m[1], m[2]
	case err := <-np.exit:
		t.Fatalf("grove node exited: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("grove node did not start")
	}
	return np
}

func (np *nodeProc) members(t *testing.T) map[string]agent.Member {
	t.Helper()
	resp, err := http.Get("http://" + np.admin + "/v1/members")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ms []agent.Member
	if err := json.NewDecoder(resp.Body).Decode(&ms); err != nil {
		t.Fatal(err)
	}
	out := map[string]agent.Member{}
	for _, m := range ms {
		out[m.Name] = m
	}
	return out
}

func (np *nodeProc) get(t *testing.T, path string) int {
	t.Helper()
	resp, err := http.Get("http://" + np.admin + path)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestNodeProcesses runs three `grove node` processes on loopback: two join
// the first; a kill -9 is noticed by the seed; SIGTERM stops a node cleanly.
func TestNodeProcesses(t *testing.T) {
	bin := buildGrove(t)
	seed := startNodeProc(t, bin, "--name", "seed@127.0.0.1", "--region", "eu")
	b := startNodeProc(t, bin, "--name", "b@127.0.0.1", "--join", seed.addr)
	c := startNodeProc(t, bin, "--name", "c@127.0.0.1", "--join", "seed@127.0.0.1="+seed.addr)

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
	b.cmd.Process.Signal(syscall.SIGKILL)
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
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.exit:
		if err != nil {
			t.Fatalf("SIGTERM exit: %v", err)
		}
		c.exit <- nil // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	// The leave announcement is best effort: when it is not heard, SWIM
	// declares the node dead instead.
	testutil.Eventually(t, 30*time.Second, func() error {
		if st := seed.members(t)["c@127.0.0.1"].State; st != "left" && st != "dead" {
			return fmt.Errorf("c is %s\nseed's log:\n%s\nc's log:\n%s", st, seed.logs(), c.logs())
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

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/grovedev/grove/cmd/grove/internal/nodeproc"
)

// failover runs three `grove node --kv` processes with 15 ms ticks (150 to
// 300 ms election timeouts), kills the leader's process with SIGKILL, and
// times until a write is acknowledged by another node; the killed node is
// restarted from its data dir before the next trial.
func failover(ctx context.Context, cfg RaftConfig, dir string) (p50, mx float64, err error) {
	bin := cfg.Grove
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return 0, 0, err
		}
	}
	names := []string{"fa@127.0.0.1", "fb@127.0.0.1", "fc@127.0.0.1"}
	// Fixed addresses, kept across restarts as in a deployment, so that a
	// restarted node is found where it was.
	var listen, gossip []string
	for range names {
		a, err := freeAddr()
		if err != nil {
			return 0, 0, err
		}
		g, err := freeAddr()
		if err != nil {
			return 0, 0, err
		}
		listen, gossip = append(listen, a), append(gossip, g)
	}
	args := func(i int) []string {
		a := []string{"--name", names[i], "--listen", listen[i], "--gossip", gossip[i], "--admin", "127.0.0.1:0", "--cookie", "bench",
			"--kv", "--bootstrap-expect", "3", "--data-dir", filepath.Join(dir, names[i]), "--raft-tick", "15ms", "--heartbeat", "100ms"}
		for j := range names {
			if j != i {
				a = append(a, "--join", names[j]+"="+listen[j])
			}
		}
		return a
	}
	procs := make([]*nodeproc.Proc, 3)
	defer func() {
		for _, p := range procs {
			if p != nil {
				p.Signal(syscall.SIGTERM)
				select {
				case <-p.Exited():
				case <-time.After(10 * time.Second):
					p.Kill()
				}
			}
		}
	}()
	for i := range procs {
		if procs[i], err = nodeproc.Start(ctx, bin, args(i)...); err != nil {
			return 0, 0, err
		}
	}
	client := &http.Client{Timeout: 2 * time.Second}
	put := func(p *nodeproc.Proc, key string) bool {
		req, _ := http.NewRequest("PUT", "http://"+p.Admin+"/v1/kv/"+key, strings.NewReader("v"))
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	leader := func() int {
		for i, p := range procs {
			resp, err := client.Get("http://" + p.Admin + "/v1/kv-status")
			if err != nil {
				continue
			}
			var st struct {
				Role   string   `json:"role"`
				Voters []string `json:"voters"`
			}
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if st.Role == "leader" && len(st.Voters) == 3 {
				return i
			}
		}
		return -1
	}
	waitHealthy := func() (int, error) {
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if l := leader(); l >= 0 {
				ok := true
				for _, p := range procs {
					ok = ok && put(p, "health")
				}
				if ok {
					return l, nil
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		return -1, fmt.Errorf("cluster not healthy within 60 s")
	}
	var times []float64
	for trial := range cfg.FailoverTrials {
		l, err := waitHealthy()
		if err != nil {
			return 0, 0, err
		}
		// Let the followers settle (quiesce or heartbeat) as in steady state.
		time.Sleep(500 * time.Millisecond)
		other := procs[(l+1)%3]
		killed := time.Now()
		procs[l].Kill()
		for !put(other, fmt.Sprintf("after%d", trial)) {
			if time.Since(killed) > 30*time.Second {
				var logs strings.Builder
				for i, p := range procs {
					if i != l {
						lines := strings.Split(p.Logs(), "\n")
						fmt.Fprintf(&logs, "\n--- %s:\n%s", names[i], strings.Join(lines[max(0, len(lines)-15):], "\n"))
					}
				}
				return 0, 0, fmt.Errorf("no write acknowledged 30 s after the kill (trial %d)%s", trial, logs.String())
			}
			time.Sleep(2 * time.Millisecond)
		}
		times = append(times, float64(time.Since(killed).Microseconds())/1000)
		if procs[l], err = nodeproc.Start(ctx, bin, args(l)...); err != nil {
			return 0, 0, err
		}
	}
	slices.Sort(times)
	return times[len(times)/2], times[len(times)-1], nil
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	args := func(i int, join string) []string {
		a := []string{"--name", names[i], "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--cookie", "bench",
			"--kv", "--bootstrap-expect", "3", "--data-dir", filepath.Join(dir, names[i]), "--raft-tick", "15ms", "--heartbeat", "100ms"}
		if join != "" {
			a = append(a, "--join", join)
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
	if procs[0], err = nodeproc.Start(ctx, bin, args(0, "")...); err != nil {
		return 0, 0, err
	}
	for i := 1; i < 3; i++ {
		if procs[i], err = nodeproc.Start(ctx, bin, args(i, procs[0].Addr)...); err != nil {
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
				return 0, 0, fmt.Errorf("no write acknowledged 30 s after the kill")
			}
			time.Sleep(2 * time.Millisecond)
		}
		times = append(times, float64(time.Since(killed).Microseconds())/1000)
		if procs[l], err = nodeproc.Start(ctx, bin, args(l, other.Addr)...); err != nil {
			return 0, 0, err
		}
	}
	slices.Sort(times)
	return times[len(times)/2], times[len(times)-1], nil
}

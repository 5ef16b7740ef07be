package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
)

type kvReply struct {
	code    int
	Value   string `json:"value"`
	Version uint64 `json:"version"`
	Error   string `json:"error"`
	Leader  string `json:"leader"`
	Role    string `json:"role"`
}

func kvDo(np *nodeProc, method, path, body string) (kvReply, error) {
	req, _ := http.NewRequest(method, "http://"+np.Admin+path, strings.NewReader(body))
	c := http.Client{Timeout: 15 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return kvReply{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r kvReply
	_ = json.Unmarshal(b, &r)
	r.code = resp.StatusCode
	return r, nil
}

// TestKVNodeProcesses runs `grove node --kv --bootstrap-expect 3` as three
// OS processes: the store forms, any node answers, a compare-and-set
// conflict is a 409, the leader's kill -9 loses no acknowledged write, and
// the killed node rejoins from its --data-dir.
func TestKVNodeProcesses(t *testing.T) {
	bin := buildGrove(t)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	names := []string{"a@127.0.0.1", "b@127.0.0.1", "c@127.0.0.1"}
	kvArgs := func(i int) []string {
		return []string{"--name", names[i], "--kv", "--bootstrap-expect", "3", "--data-dir", dirs[i], "--raft-tick", "20ms"}
	}
	nodes := make([]*nodeProc, 3)
	nodes[0] = startNodeProc(t, bin, kvArgs(0)...)
	for i := 1; i < 3; i++ {
		nodes[i] = startNodeProc(t, bin, append(kvArgs(i), "--join", nodes[0].Addr)...)
	}
	leaderOf := func() (int, error) {
		for i, np := range nodes {
			if np == nil {
				continue
			}
			r, err := kvDo(np, "GET", "/v1/kv-status", "")
			if err != nil {
				return -1, err
			}
			if r.Role == "leader" {
				return i, nil
			}
		}
		return -1, fmt.Errorf("no leader")
	}
	testutil.Eventually(t, 60*time.Second, func() error { _, err := leaderOf(); return err })

	// Writes through every node; reads through every node.
	var acked []string
	for i := range 30 {
		np := nodes[i%3]
		key := fmt.Sprintf("k%d", i%5)
		val := fmt.Sprintf("v%d", i)
		var r kvReply
		testutil.Eventually(t, 20*time.Second, func() error {
			var err error
			r, err = kvDo(np, "PUT", "/v1/kv/"+key, val)
			if err == nil && r.code != 200 {
				err = fmt.Errorf("%d %s", r.code, r.Error)
			}
			return err
		})
		if r.Version == 0 {
			t.Fatalf("PUT returned version 0")
		}
		acked = append(acked, key+"="+val)
	}
	last := map[string]string{}
	for _, kv := range acked {
		k, v, _ := strings.Cut(kv, "=")
		last[k] = v
	}
	check := func(who []*nodeProc) {
		t.Helper()
		for _, np := range who {
			for k, v := range last {
				r, err := kvDo(np, "GET", "/v1/kv/"+k, "")
				if err != nil || r.code != 200 || r.Value != v {
					t.Fatalf("GET %s on %s: %+v %v, want %s", k, np.Admin, r, err, v)
				}
			}
		}
	}
	check(nodes)

	// CAS: a stale version is refused with the current one.
	cur, _ := kvDo(nodes[1], "GET", "/v1/kv/k0", "")
	r, _ := kvDo(nodes[2], "PUT", fmt.Sprintf("/v1/kv/k0?cas=%d", cur.Version-1), "nope")
	if r.code != 409 || r.Version != cur.Version {
		t.Fatalf("stale CAS: %+v, want 409 with version %d", r, cur.Version)
	}
	r, _ = kvDo(nodes[2], "PUT", fmt.Sprintf("/v1/kv/k0?cas=%d", cur.Version), "cas-ok")
	if r.code != 200 || r.Version <= cur.Version {
		t.Fatalf("CAS: %+v", r)
	}
	last["k0"] = "cas-ok"
	if r, _ := kvDo(nodes[0], "PUT", "/v1/kv/new?cas=0", "x"); r.code != 200 {
		t.Fatalf("create with cas=0: %+v", r)
	}
	if r, _ := kvDo(nodes[0], "PUT", "/v1/kv/new?cas=0", "x"); r.code != 409 {
		t.Fatalf("second create with cas=0: %+v", r)
	}
	if r, _ := kvDo(nodes[0], "PUT", "/v1/kv/big", strings.Repeat("x", 600<<10)); r.code != 413 {
		t.Fatalf("large value: %+v, want 413", r)
	}
	if r, _ := kvDo(nodes[0], "GET", "/v1/kv/missing", ""); r.code != 404 {
		t.Fatalf("missing key: %+v", r)
	}
	if r, _ := kvDo(nodes[1], "GET", "/v1/kv/k1?stale=1", ""); r.code != 200 || r.Value != last["k1"] {
		t.Fatalf("stale read: %+v", r)
	}
	if r, _ := kvDo(nodes[1], "DELETE", "/v1/kv/new", ""); r.code != 200 {
		t.Fatalf("delete: %+v", r)
	}

	// kill -9 the leader in the middle of writes to every node: the others
	// elect a new one, and no acknowledged write is lost.
	li, _ := leaderOf()
	killed := nodes[li]
	var ackMu sync.Mutex
	ackedDuring := map[string]string{}
	stopW := make(chan struct{})
	var wg sync.WaitGroup
	all := slices.Clone(nodes)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stopW:
					return
				default:
				}
				key, val := fmt.Sprintf("w%d-%d", w, n), fmt.Sprintf("v%d", n)
				r, err := kvDo(all[(w+n)%3], "PUT", "/v1/kv/"+key, val)
				if err == nil && r.code == 200 {
					ackMu.Lock()
					ackedDuring[key] = val
					ackMu.Unlock()
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	killed.Signal(syscall.SIGKILL)
	<-killed.Exited()
	nodes[li] = nil
	var rest []*nodeProc
	for _, np := range nodes {
		if np != nil {
			rest = append(rest, np)
		}
	}
	start := time.Now()
	testutil.Eventually(t, 30*time.Second, func() error {
		r, err := kvDo(rest[0], "PUT", "/v1/kv/after", "kill")
		if err == nil && r.code != 200 {
			err = fmt.Errorf("%d %s", r.code, r.Error)
		}
		return err
	})
	t.Logf("first write acknowledged %v after the leader's kill -9", time.Since(start).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	close(stopW)
	wg.Wait()
	ackMu.Lock()
	for k, v := range ackedDuring {
		last[k] = v
	}
	t.Logf("%d writes acknowledged while the leader was killed", len(ackedDuring))
	ackMu.Unlock()
	check(rest)

	// The killed node restarts from its data dir and catches up.
	restarted := startNodeProc(t, bin, append(kvArgs(li), "--join", rest[0].Addr)...)
	nodes[li] = restarted
	testutil.Eventually(t, 60*time.Second, func() error {
		r, err := kvDo(restarted, "GET", "/v1/kv/after?stale=1", "")
		if err != nil || r.code != 200 || r.Value != "kill" {
			return fmt.Errorf("restarted node: %+v %v", r, err)
		}
		return nil
	})
	check([]*nodeProc{restarted})
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKVNodeRestartsOnNewAddress restarts `grove node --kv` processes on
// new ports (--listen 127.0.0.1:0): a node restarted with --join naming one
// peer is reached by the others too, and a node restarted with no --join at
// all finds its group again from its --data-dir. Each step then kills the
// node that helped, so the write that follows needs a quorum made with the
// restarted node at its new address.
func TestKVNodeRestartsOnNewAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	bin := buildGrove(t)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	names := []string{"a@127.0.0.1", "b@127.0.0.1", "c@127.0.0.1"}
	kvArgs := func(i int) []string {
		return []string{"--name", names[i], "--kv", "--bootstrap-expect", "3", "--data-dir", dirs[i], "--raft-tick", "20ms"}
	}
	nodes := make([]*nodeProc, 3)
	// eventually polls f; on a timeout it shows the live nodes' state.
	eventually := func(within time.Duration, f func() error) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			err := f()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				for i, np := range nodes {
					select {
					case <-np.Exited():
						continue
					default:
					}
					st, _ := kvDo(np, "GET", "/v1/kv-status", "")
					ms, _ := np.Members()
					var lines []string
					for _, l := range strings.Split(np.Logs(), "\n") {
						if !strings.Contains(l, "component=raft") && !strings.Contains(l, "memberlist:") {
							lines = append(lines, l)
						}
					}
					logs := strings.Join(lines[max(0, len(lines)-60):], "\n")
					t.Logf("%s at %s: kv-status %+v\nmembers %+v\n%s", names[i], np.Addr, st, ms, logs)
				}
				t.Fatalf("not after %v: %v", within, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	nodes[0] = startNodeProc(t, bin, kvArgs(0)...)
	for i := 1; i < 3; i++ {
		nodes[i] = startNodeProc(t, bin, append(kvArgs(i), "--join", nodes[0].Addr)...)
	}
	put := func(np *nodeProc, key, val string, within time.Duration) {
		t.Helper()
		eventually(within, func() error {
			r, err := kvDo(np, "PUT", "/v1/kv/"+key, val)
			if err == nil && r.code != 200 {
				err = fmt.Errorf("%d %s", r.code, r.Error)
			}
			return err
		})
	}
	caughtUp := func(np *nodeProc, key, val string) {
		t.Helper()
		eventually(60*time.Second, func() error {
			r, err := kvDo(np, "GET", "/v1/kv/"+key+"?stale=1", "")
			if err != nil || r.code != 200 || r.Value != val {
				return fmt.Errorf("%s: GET %s: %+v %v, want %s", np.Admin, key, r, err, val)
			}
			return nil
		})
	}
	kill := func(i int) {
		t.Helper()
		nodes[i].Signal(syscall.SIGKILL)
		<-nodes[i].Exited()
	}
	put(nodes[0], "k", "v1", 60*time.Second)
	for i := range nodes {
		caughtUp(nodes[i], "k", "v1")
	}

	// c restarts on a new port and joins b only; then b dies: a and c must
	// reach each other at c's new address to commit.
	kill(2)
	old := nodes[2].Addr
	nodes[2] = startNodeProc(t, bin, append(kvArgs(2), "--join", nodes[1].Addr)...)
	if nodes[2].Addr == old {
		t.Fatalf("restarted on the same address %s", old)
	}
	caughtUp(nodes[2], "k", "v1")
	put(nodes[0], "k", "v2", 30*time.Second)
	caughtUp(nodes[2], "k", "v2")
	// b records where the members are (c's new address too) before it dies.
	eventually(30*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(dirs[1], "kv-peers.json"))
		if err != nil {
			return err
		}
		var peers map[string]string
		if err := json.Unmarshal(b, &peers); err != nil {
			return err
		}
		if peers[names[0]] != nodes[0].Addr || peers[names[2]] != nodes[2].Addr {
			return fmt.Errorf("b's kv-peers.json: %v", peers)
		}
		return nil
	})
	kill(1)
	put(nodes[0], "k", "v3", 60*time.Second)
	caughtUp(nodes[2], "k", "v3")

	// b restarts on a new port with no --join at all: from its data dir it
	// finds a and c again; then a dies, and b and c must commit together.
	nodes[1] = startNodeProc(t, bin, kvArgs(1)...)
	caughtUp(nodes[1], "k", "v3")
	kill(0)
	put(nodes[2], "k", "v4", 60*time.Second)
	caughtUp(nodes[1], "k", "v4")
}

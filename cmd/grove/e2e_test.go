package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildGrove builds the grove binary once per test run.
func buildGrove(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "grove")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func run(t *testing.T, bin string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("grove %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, o.String(), e.String())
	}
	return o.String(), e.String()
}

// TestBinary runs the binary as a user would: the demo, the local
// benchmark, and the remote benchmark, whose two nodes are separate OS
// processes exchanging sends, calls and RPCs over loopback TCP, with and
// without TLS.
func TestBinary(t *testing.T) {
	bin := buildGrove(t)

	t.Run("demo", func(t *testing.T) {
		out, _ := run(t, bin, "demo")
		for _, want := range []string{"restarted it as", "gave up", "reverse start order",
			"joined n1 over authenticated links", "n1 suspected it", "declared it dead", "both stopped gracefully", "every node holds 12",
			"dropped bob", "partition {chat1, chat3} | {chat2}", "the diffs it missed while cut off: joins of [ann cat dan]",
			"bob is listed everywhere again", "no zombie cat", "reach chat1 again",
			"resolves on sup3", "ran again on the survivors", "were handed off to"} {
			if !strings.Contains(out, want) {
				t.Errorf("demo output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("bench local", func(t *testing.T) {
		out, _ := run(t, bin, "bench", "local", "--json", "--rounds", "2000", "--messages", "20000", "--processes", "10000", "--calls", "2000")
		var res map[string]any
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("not one JSON object: %v\n%s", err, out)
		}
		for _, k := range []string{"pingpong_rtps", "chan_pingpong_rtps", "stream_1to1_mps", "stream_nton_mps", "spawn_per_s", "bytes_per_process", "call_p50_ns", "call_p99_ns"} {
			if v, ok := res[k].(float64); !ok || v <= 0 {
				t.Errorf("%s = %v", k, res[k])
			}
		}
	})

	t.Run("bench remote", func(t *testing.T) {
		out, _ := run(t, bin, "bench", "remote", "--json", "--small", "20000", "--kib", "2000", "--big", "50", "--round-trips", "200", "--erlang=false")
		var res map[string]any
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("not one JSON object: %v\n%s", err, out)
		}
		for _, k := range []string{"remote_stream_small_mps", "remote_stream_1k_mibps", "remote_stream_64k_mibps", "remote_rtt_p50_us", "remote_rtt_p99_us", "remote_stream_small_tls_mps", "raw_tcp_small_mps",
			"remote_stream_small_aead_mps", "remote_stream_64k_aead_mibps", "raw_tcp_64k_mibps", "raw_tcp_1k_mibps", "raw_tcp_rtt_p50_us"} {
			if v, ok := res[k].(float64); !ok || v <= 0 {
				t.Errorf("%s = %v", k, res[k])
			}
		}
	})

	t.Run("bad flag", func(t *testing.T) {
		cmd := exec.Command(bin, "bench", "local", "--rounds", "many")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--rounds") {
			t.Fatalf("bad flag accepted or unclear: %v\n%s", err, out)
		}
	})
}

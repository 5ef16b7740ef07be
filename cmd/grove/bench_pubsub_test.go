package main

import (
	"encoding/json"
	"testing"
)

// TestBenchPubSub runs `grove bench pubsub --json` at a small size: three
// node processes, every figure present.
func TestBenchPubSub(t *testing.T) {
	bin := buildGrove(t)
	out, _ := run(t, bin, "bench", "pubsub", "--json", "--small", "300", "--large", "3000", "--rounds", "2",
		"--stream", "200", "--stream-subscribers", "10", "--joins", "300", "--presences", "1000")
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"broadcast_10k_ms", "broadcast_1m_ms", "broadcasts_per_s", "pg_join_10k_visible_ms",
		"presence_list_100k_ms", "broadcast_10k_inline_ms", "broadcast_1m_inline_ms", "slice_copy_100k_ms",
		"broadcast_10k_cpu_ms", "broadcast_1m_cpu_ms"} {
		if v, ok := res[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v", k, res[k])
		}
	}
	if res["nodes"] != 3.0 {
		t.Errorf("nodes = %v", res["nodes"])
	}
}

package main

import (
	"encoding/json"
	"testing"
)

// TestBenchNames runs `grove bench names --json` at a small size: every
// figure the issue names is present.
func TestBenchNames(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sixteen nodes and a failover")
	}
	bin := buildGrove(t)
	out, _ := run(t, bin, "bench", "names", "--json", "--registrations", "500", "--visible", "10", "--lookups", "10000",
		"--entities", "2000", "--entity-for", "300ms", "--children", "300")
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"register_local_us", "register_visible_ms_3", "register_visible_ms_10", "lookup_ns",
		"entity_first_msg_us", "entity_msgs_per_s", "failover_10k_children_s"} {
		if v, ok := res[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v", k, res[k])
		}
	}
}

package bench

import (
	"context"
	"testing"
	"time"
)

// TestRaftSmall runs every part of the Raft benchmark but the failover
// (which needs the grove binary) at a tiny size.
func TestRaftSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several 3-node clusters")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	skip := []string{"failover"}
	if raceEnabled {
		skip = append(skip, "hashicorp", "kv")
	}
	res, err := Raft(ctx, RaftConfig{Duration: 300 * time.Millisecond, Writers: 4, WritersPerGroup: 1, Groups: 3, IdleGroups: 30, Skip: skip, Dir: t.TempDir()}, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]float64{
		"writes_per_s_1g": res.WritesPerS1G, "writes_per_s_100g": res.WritesPerS100G, "hashicorp_writes_per_s_1g": res.HashicorpWritesPerS1G,
		"hashicorp_writes_per_s_100g": res.HashicorpWritesPerS100, "kv_http_ops_per_s": res.KVHTTPOpsPerS, "idle_group_bytes": res.IdleGroupBytes,
		"commit_p99_ms_1g": res.CommitP99Ms1G,
	} {
		if v <= 0 && !(raceEnabled && (k[:2] == "ha" || k[:2] == "kv")) {
			t.Errorf("%s = %v", k, v)
		}
	}
	if res.CommitP99Ms1G < res.CommitP50Ms1G {
		t.Errorf("p99 %v < p50 %v", res.CommitP99Ms1G, res.CommitP50Ms1G)
	}
}

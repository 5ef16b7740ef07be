package bench

import (
	"context"
	"testing"
	"time"

	"github.com/grovedev/grove/eventstore/storetest"
)

// TestEventsSmall runs the event store benchmark at a tiny size and checks
// that every figure was measured.
func TestEventsSmall(t *testing.T) {
	url := storetest.PostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := Events(ctx, EventsConfig{PostgresURL: url, Duration: 200 * time.Millisecond, Writers: 4, Batch: 10,
		GrowthEvents: 20000, GrowthSamples: 100, CatchupEvents: 2000, Dir: t.TempDir()}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{
		"pg_append_eps_1w": res.PGAppend1W, "pg_append_eps_50w": res.PGAppend50W, "pg_append_eps_50w_b1": res.PGAppend50WB1,
		"pg_hot_row": res.PGHotRow50W, "embedded_append_eps_50w": res.EmbeddedAppend50W, "pebble_raw": res.PebbleRaw50W,
		"catchup_eps": res.CatchupEPS, "embedded_catchup_eps": res.EmbeddedCatchupEPS, "append_latency_growth": res.AppendLatencyGrowth,
	} {
		if !(v > 0) {
			t.Errorf("%s = %v", name, v)
		}
	}
	// The catch-up reads at most CatchupEvents, fewer when the appends of
	// a loaded machine stored fewer.
	if res.CatchupEvents <= 0 || res.CatchupEvents > 2000 || res.GrowthEvents != 20000 {
		t.Errorf("sizes %+v", res)
	}
}

package bench

import (
	"context"
	"testing"
)

// TestLocalSmall runs every local benchmark at a small size, so that the
// code behind `grove bench local` is exercised by the test suite.
func TestLocalSmall(t *testing.T) {
	var steps []string
	res, err := Local(context.Background(), LocalConfig{
		PingPongRounds: 2000, StreamMessages: 20000, StreamPairs: 4, Processes: 5000, Calls: 2000,
	}, func(s string) { steps = append(steps, s) })
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 6 {
		t.Fatalf("steps %v", steps)
	}
	for name, v := range map[string]float64{
		"pingpong": res.PingPongRTPS, "chan": res.ChanPingPongRTPS, "1to1": res.Stream1to1MPS,
		"nton": res.StreamNtoNMPS, "spawn": res.SpawnPerS, "bytes": res.BytesPerProcess,
		"p50": res.CallP50Ns, "p99": res.CallP99Ns,
	} {
		if v <= 0 {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	if res.CallP99Ns < res.CallP50Ns {
		t.Errorf("p99 %v < p50 %v", res.CallP99Ns, res.CallP50Ns)
	}
}

package pgstore

import (
	"context"
	"testing"
)

// TestHorizonCore drives the horizon with scripted samples.
func TestHorizonCore(t *testing.T) {
	var h horizon
	script := []struct {
		sample   sample
		wantWait []string // what the query is told to wait for
		wantSafe uint64
	}{
		{sample{hi: 0}, nil, 0},
		{sample{hi: 5}, nil, 5},                        // nothing in flight: all of 5 is safe
		{sample{hi: 9, xips: []string{"100"}}, nil, 5}, // 100 may hold a position ≤ 9
		{sample{done: false, hi: 12, xips: []string{"100", "101"}}, []string{"100"}, 5}, // still waiting for 100
		{sample{done: true, hi: 15, xips: []string{"102"}}, []string{"100"}, 9},         // 100 ended: 9 is safe; wait for 102 now
		{sample{done: true, hi: 15}, []string{"102"}, 15},
		{sample{hi: 3}, nil, 15}, // never backwards
	}
	for i, step := range script {
		got, err := h.advance(context.Background(), func(_ context.Context, pending []string) (sample, error) {
			if len(pending) != len(step.wantWait) {
				t.Fatalf("step %d: waits for %v, want %v", i, pending, step.wantWait)
			}
			for j := range pending {
				if pending[j] != step.wantWait[j] {
					t.Fatalf("step %d: waits for %v, want %v", i, pending, step.wantWait)
				}
			}
			return step.sample, nil
		})
		if err != nil || got != step.wantSafe {
			t.Fatalf("step %d: safe %d %v, want %d", i, got, err, step.wantSafe)
		}
	}
}

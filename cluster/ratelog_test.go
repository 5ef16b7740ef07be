package cluster

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

type recordingHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r)
	h.mu.Unlock()
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func TestRateLog(t *testing.T) {
	h := &recordingHandler{}
	r := newRateLog(slog.New(h), 3, time.Second)
	now := t0
	r.now = func() time.Time { return now }
	for range 100 {
		r.Log(slog.LevelWarn, "junk", "refused")
	}
	r.Log(slog.LevelWarn, "other", "another kind")
	if len(h.recs) != 4 {
		t.Fatalf("%d lines for 101 events", len(h.recs))
	}
	now = now.Add(1500 * time.Millisecond)
	r.Log(slog.LevelWarn, "junk", "refused")
	last := h.recs[len(h.recs)-1]
	var suppressed uint64
	last.Attrs(func(a slog.Attr) bool {
		if a.Key == "suppressed" {
			suppressed = a.Value.Uint64()
		}
		return true
	})
	if len(h.recs) != 5 || suppressed != 97 {
		t.Fatalf("%d lines, suppressed %d", len(h.recs), suppressed)
	}
	// Many keys: bounded buckets.
	for i := range 1000 {
		r.Log(slog.LevelWarn, string(rune('a'+i%500)), "x")
	}
	if n := len(r.mu.keys); n > maxLogKeys {
		t.Fatalf("%d buckets", n)
	}
}

package cluster

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// limitedLogger logs lines that peers can cause at will (refused
// connections, a library's warnings about bad input) without letting them
// flood the log: per key, a burst of lines and then one per interval, each
// line after a pause saying how many were suppressed. What it suppresses is
// still counted by the caller's metrics. Safe for concurrent use.
type limitedLogger interface {
	Log(level slog.Level, key, msg string, attrs ...slog.Attr)
}

// rateLog is the limitedLogger of this package: a token bucket per key.
type rateLog struct {
	log      *slog.Logger
	burst    int
	interval time.Duration
	now      func() time.Time

	mu struct {
		sync.Mutex
		keys map[string]*logBucket
	}
}

type logBucket struct {
	tokens     float64
	last       time.Time
	suppressed uint64
}

var _ limitedLogger = (*rateLog)(nil)

// maxLogKeys bounds the buckets kept; beyond it the oldest are dropped.
const maxLogKeys = 64

func newRateLog(log *slog.Logger, burst int, interval time.Duration) *rateLog {
	r := &rateLog{log: log, burst: burst, interval: interval, now: time.Now}
	r.mu.keys = map[string]*logBucket{}
	return r
}

// Log logs msg unless key has used up its lines.
func (r *rateLog) Log(level slog.Level, key, msg string, attrs ...slog.Attr) {
	if !r.log.Enabled(context.Background(), level) {
		return
	}
	now := r.now()
	r.mu.Lock()
	b := r.mu.keys[key]
	if b == nil {
		if len(r.mu.keys) >= maxLogKeys {
			r.dropOldestLocked()
		}
		b = &logBucket{tokens: float64(r.burst), last: now}
		r.mu.keys[key] = b
	}
	b.tokens = min(float64(r.burst), b.tokens+float64(now.Sub(b.last))/float64(r.interval))
	b.last = now
	if b.tokens < 1 {
		b.suppressed++
		r.mu.Unlock()
		return
	}
	b.tokens--
	suppressed := b.suppressed
	b.suppressed = 0
	r.mu.Unlock()
	if suppressed > 0 {
		attrs = append(attrs, slog.Uint64("suppressed", suppressed))
	}
	r.log.LogAttrs(context.Background(), level, msg, attrs...)
}

func (r *rateLog) dropOldestLocked() {
	var oldest string
	var t time.Time
	for k, b := range r.mu.keys {
		if oldest == "" || b.last.Before(t) {
			oldest, t = k, b.last
		}
	}
	delete(r.mu.keys, oldest)
}

// Package ratelog writes log lines at a rate that cannot flood: each kind
// of line (a key) gets a small burst, then at most one line per interval;
// lines held back are counted and the count rides on the next line of that
// key that is written ("suppressed": N). A network peer that triggers a
// warning per packet or per connection therefore costs a few lines a
// second, not a line per packet.
//
// Counting what was dropped is the caller's job too: a line held back here
// should correspond to a counter in the caller's metrics, so the log shows
// that something happens and the metric shows how much.
//
// # Usage
//
//	lim := ratelog.New(logger, ratelog.Config{})
//	lim.Warn("handshake refused", "node link refused", slog.String("addr", addr))
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Config tunes a Limiter. Zero fields mean the defaults.
type Config struct {
	// Burst is how many lines of one key may be written back to back.
	// Default 5.
	Burst int
	// Interval is how often one more line of a key may be written once
	// its burst is used up. Default 1 s.
	Interval time.Duration
	// MaxKeys bounds the keys tracked; lines of keys beyond it share one
	// bucket. Default 256.
	MaxKeys int
	// Now is the clock; default time.Now. Tests set it.
	Now func() time.Time
}

// Limiter rate-limits log lines per key. It is safe for concurrent use.
// The zero value is not usable; call New.
type Limiter struct {
	log *slog.Logger
	cfg Config

	mu struct {
		sync.Mutex
		keys map[string]*bucket
	}
}

type bucket struct {
	tokens     float64
	last       time.Time
	suppressed uint64
}

// overflowKey is the shared bucket of keys past MaxKeys.
const overflowKey = "\x00overflow"

// New returns a Limiter writing to log.
func New(log *slog.Logger, cfg Config) *Limiter {
	if cfg.Burst <= 0 {
		cfg.Burst = 5
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 256
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Limiter{log: log, cfg: cfg}
	l.mu.keys = make(map[string]*bucket)
	return l
}

// Allow reports whether a line of key may be written now and, if so, how
// many lines of that key were held back since the last one written. A
// caller that formats its own line uses it; Log does it for slog lines.
func (l *Limiter) Allow(key string) (ok bool, suppressed uint64) {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.mu.keys[key]
	if b == nil {
		if len(l.mu.keys) >= l.cfg.MaxKeys-1 { // one place is the overflow bucket
			key = overflowKey
			b = l.mu.keys[key]
		}
		if b == nil {
			b = &bucket{tokens: float64(l.cfg.Burst), last: now}
			l.mu.keys[key] = b
		}
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(float64(l.cfg.Burst), b.tokens+float64(el)/float64(l.cfg.Interval))
		b.last = now
	}
	if b.tokens < 1 {
		b.suppressed++
		return false, 0
	}
	b.tokens--
	s := b.suppressed
	b.suppressed = 0
	return true, s
}

// Log writes a line at level unless key is over its rate; a written line
// carries the number of lines of key held back before it.
func (l *Limiter) Log(level slog.Level, key, msg string, attrs ...slog.Attr) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	ok, s := l.Allow(key)
	if !ok {
		return
	}
	if s > 0 {
		attrs = append(attrs, slog.Uint64("suppressed", s))
	}
	l.log.LogAttrs(context.Background(), level, msg, attrs...)
}

// Warn is Log at slog.LevelWarn.
func (l *Limiter) Warn(key, msg string, attrs ...slog.Attr) {
	l.Log(slog.LevelWarn, key, msg, attrs...)
}

// Info is Log at slog.LevelInfo.
func (l *Limiter) Info(key, msg string, attrs ...slog.Attr) {
	l.Log(slog.LevelInfo, key, msg, attrs...)
}

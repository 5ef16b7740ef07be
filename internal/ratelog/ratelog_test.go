package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestBurstThenOneLinePerInterval(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(slog.New(slog.DiscardHandler), Config{Burst: 3, Interval: time.Second, Now: c.now})
	allowed := 0
	for range 1000 {
		if ok, _ := l.Allow("k"); ok {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("burst allowed %d lines, want 3", allowed)
	}
	c.t = c.t.Add(time.Second)
	ok, s := l.Allow("k")
	if !ok || s != 997 {
		t.Fatalf("after an interval: ok=%v suppressed=%d, want true 997", ok, s)
	}
	if ok, _ := l.Allow("k"); ok {
		t.Fatal("a second line in the same interval was allowed")
	}
	// Other keys have their own budget.
	if ok, _ := l.Allow("other"); !ok {
		t.Fatal("another key was held back")
	}
}

func TestTokensDoNotAccumulatePastBurst(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(slog.New(slog.DiscardHandler), Config{Burst: 2, Interval: time.Second, Now: c.now})
	c.t = c.t.Add(time.Hour)
	n := 0
	for range 10 {
		if ok, _ := l.Allow("k"); ok {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("after an idle hour %d lines passed, want the burst of 2", n)
	}
}

func TestKeysAreBounded(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(slog.New(slog.DiscardHandler), Config{Burst: 1, MaxKeys: 4, Now: c.now})
	n := 0
	for i := range 10000 {
		if ok, _ := l.Allow(strings.Repeat("x", i%5000+1)); ok {
			n++
		}
	}
	if len(l.mu.keys) > 4 {
		t.Fatalf("%d keys tracked, want at most 4", len(l.mu.keys))
	}
	if n > 4 {
		t.Fatalf("%d lines passed with 4 keys of burst 1", n)
	}
}

func TestLogCarriesSuppressedCount(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	h := slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil)
	c := &clock{t: time.Unix(1000, 0)}
	l := New(slog.New(h), Config{Burst: 1, Interval: time.Second, Now: c.now})
	for range 50 {
		l.Warn("refused", "link refused", slog.String("addr", "10.0.0.1:5"))
	}
	c.t = c.t.Add(time.Second)
	l.Warn("refused", "link refused")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "suppressed=49") {
		t.Fatalf("log:\n%s", buf.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func TestConcurrentUse(t *testing.T) {
	l := New(slog.New(slog.DiscardHandler), Config{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				l.Warn(string(rune('a'+i)), "x")
			}
		}()
	}
	wg.Wait()
}

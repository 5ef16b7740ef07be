package faultkit

import (
	"sync"
	"time"

	"github.com/grovedev/grove/clock"
)

// SkewClock is a clock.Clock that reads another clock (by default the real
// one) plus an offset the test can change, to give one node a skewed clock
// or make it jump. Timers are kept by deadline on the skewed time line:
// a jump forward fires every timer it passes at once, a jump back delays
// them. It is safe for concurrent use.
type SkewClock struct {
	base clock.Clock
	mu   struct {
		sync.Mutex
		offset time.Duration
		timers map[*skewTimer]struct{}
	}
}

var _ clock.Clock = (*SkewClock)(nil)

// NewSkewClock returns a clock reading base plus offset; nil base means
// clock.Real.
func NewSkewClock(base clock.Clock, offset time.Duration) *SkewClock {
	if base == nil {
		base = clock.Real
	}
	c := &SkewClock{base: base}
	c.mu.offset = offset
	c.mu.timers = map[*skewTimer]struct{}{}
	return c
}

// Now returns the base clock's reading plus the offset.
func (c *SkewClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Now().Add(c.mu.offset)
}

// Offset returns the current offset.
func (c *SkewClock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.offset
}

// Jump moves the clock by d (forward if positive, back if negative).
func (c *SkewClock) Jump(d time.Duration) { c.SetOffset(c.Offset() + d) }

// SetOffset sets the offset and re-arms pending timers against their
// deadlines on the new time line.
func (c *SkewClock) SetOffset(off time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.offset = off
	now := c.base.Now().Add(off)
	for t := range c.mu.timers {
		if t.inner.Stop() {
			t.armLocked(now)
		}
	}
}

// AfterFunc calls f once the skewed clock has moved d past its reading.
func (c *SkewClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.base.Now().Add(c.mu.offset)
	t := &skewTimer{c: c, f: f, deadline: now.Add(d)}
	c.mu.timers[t] = struct{}{}
	t.armLocked(now)
	return t
}

type skewTimer struct {
	c        *SkewClock
	f        func()
	deadline time.Time
	inner    clock.Timer // guarded by c.mu
}

func (t *skewTimer) armLocked(now time.Time) {
	t.inner = t.c.base.AfterFunc(t.deadline.Sub(now), func() {
		t.c.mu.Lock()
		_, ok := t.c.mu.timers[t]
		delete(t.c.mu.timers, t)
		t.c.mu.Unlock()
		if ok {
			t.f()
		}
	})
}

func (t *skewTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if _, ok := t.c.mu.timers[t]; !ok {
		return false
	}
	delete(t.c.mu.timers, t)
	t.inner.Stop()
	return true
}

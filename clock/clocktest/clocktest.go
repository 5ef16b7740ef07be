// Package clocktest provides a manual clock.Clock for tests.
//
// A Manual clock stands still until the test moves it with Advance or Set.
// Callbacks scheduled with AfterFunc run when the clock reaches their
// deadline, each in its own goroutine as the clock.Clock contract requires;
// Advance and Set wait for them to return before returning themselves, so a
// test that advances the clock observes the effects of every timer that was
// due without sleeping.
//
// # Usage
//
//	c := clocktest.New(time.Unix(0, 0))
//	fired := false
//	c.AfterFunc(time.Second, func() { fired = true })
//	c.Advance(time.Second) // runs the callback before returning
//	// fired == true
package clocktest

import (
	"sort"
	"sync"
	"time"

	"github.com/grovedev/grove/clock"
)

// Manual is a clock.Clock that only moves when told to. It may be moved
// backwards with Set, to simulate a clock that steps back.
//
// Manual is safe for concurrent use by many goroutines. Callbacks may call
// any method of the clock, including Advance.
type Manual struct {
	mu struct {
		sync.Mutex
		now    time.Time
		seq    uint64
		timers map[*timer]struct{}
	}
}

var _ clock.Clock = (*Manual)(nil)

// New returns a manual clock that reads start until it is moved.
func New(start time.Time) *Manual {
	m := &Manual{}
	m.mu.now = start
	m.mu.timers = make(map[*timer]struct{})
	return m
}

// Now returns the clock's current reading.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.now
}

// AfterFunc schedules f to run once the clock has moved d past its current
// reading. A d of zero or less makes f due at the next Advance or Set.
func (m *Manual) AfterFunc(d time.Duration, f func()) clock.Timer {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.seq++
	t := &timer{m: m, when: m.mu.now.Add(d), seq: m.mu.seq, f: f}
	m.mu.timers[t] = struct{}{}
	return t
}

// Advance moves the clock forward by d (which must not be negative) and runs
// every callback that has become due, one at a time in deadline order,
// waiting for each to return.
func (m *Manual) Advance(d time.Duration) {
	if d < 0 {
		panic("clocktest: Advance with a negative duration")
	}
	m.mu.Lock()
	now := m.mu.now.Add(d)
	m.mu.now = now
	m.mu.Unlock()
	m.fire(now)
}

// Set moves the clock to t, forwards or backwards, and runs every callback
// whose deadline is at or before t, waiting for them to return. Timers that
// are not due stay pending; moving the clock backwards delays them.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	m.mu.now = t
	m.mu.Unlock()
	m.fire(t)
}

// Pending returns the number of scheduled callbacks that have neither run nor
// been stopped.
func (m *Manual) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mu.timers)
}

// fire runs the callbacks due at now one at a time, in deadline order (then
// scheduling order), each in its own goroutine, and returns once the last
// has returned.
func (m *Manual) fire(now time.Time) {
	m.mu.Lock()
	var due []*timer
	for t := range m.mu.timers {
		if !t.when.After(now) {
			due = append(due, t)
			delete(m.mu.timers, t)
		}
	}
	m.mu.Unlock()
	sort.Slice(due, func(i, j int) bool {
		if !due[i].when.Equal(due[j].when) {
			return due[i].when.Before(due[j].when)
		}
		return due[i].seq < due[j].seq
	})
	var wg sync.WaitGroup
	for _, t := range due {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.f()
		}()
		wg.Wait()
	}
}

// timer is one callback scheduled on a Manual clock.
type timer struct {
	m    *Manual
	when time.Time
	seq  uint64
	f    func()
}

// Stop cancels the callback. It reports whether the call was prevented.
func (t *timer) Stop() bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	if _, ok := t.m.mu.timers[t]; !ok {
		return false
	}
	delete(t.m.mu.timers, t)
	return true
}

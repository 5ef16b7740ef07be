package hlc

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/vclock"
	"pgregory.net/rapid"
)

const testSkew = 100 * time.Millisecond

func newTestClock(t interface {
	Helper()
	Fatal(...any)
}, physical *clocktest.Manual) *Clock {
	t.Helper()
	c, err := New(physical, Config{MaxSkew: testSkew})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stampedEvent is an event of the model: its HLC timestamp and its causal
// past as a vector clock.
type stampedEvent struct {
	ts   Timestamp
	past vclock.Clock
}

// TestClockProperties drives several nodes, each with its own skewed and
// occasionally backwards-stepping physical clock, through local events and
// message exchanges, and checks the properties of the HLC paper: timestamps
// are monotonic, never behind the physical clock, never ahead of the highest
// physical time seen, respect happened-before, and Update refuses exactly
// the remote timestamps beyond MaxSkew.
func TestClockProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const nodes = 3
		names := []string{"a", "b", "c"}
		phys := make([]*clocktest.Manual, nodes)
		clocks := make([]*Clock, nodes)
		pasts := make([]vclock.Clock, nodes)
		last := make([]Timestamp, nodes)
		var events []stampedEvent
		var maxPhys int64
		for i := range nodes {
			skew := rapid.Int64Range(-int64(time.Second), int64(time.Second)).Draw(t, "skew")
			phys[i] = clocktest.New(time.Unix(1000, skew))
			maxPhys = max(maxPhys, phys[i].Now().UnixNano())
			clocks[i] = newTestClock(t, phys[i])
		}
		var inflight []stampedEvent
		record := func(i int, ts Timestamp) {
			if !ts.After(last[i]) {
				t.Fatalf("node %d: timestamp %v not after previous %v", i, ts, last[i])
			}
			if pt := phys[i].Now().UnixNano(); ts.WallNanos < pt {
				t.Fatalf("node %d: timestamp %v behind physical clock %d", i, ts, pt)
			}
			if ts.WallNanos > maxPhys {
				t.Fatalf("node %d: timestamp %v ahead of every physical clock (max %d)", i, ts, maxPhys)
			}
			last[i] = ts
			pasts[i].Increment(names[i])
			events = append(events, stampedEvent{ts: ts, past: pasts[i].Copy()})
		}
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for range steps {
			i := rapid.IntRange(0, nodes-1).Draw(t, "node")
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0: // physical time passes, or steps back
				d := rapid.Int64Range(-int64(50*time.Millisecond), int64(200*time.Millisecond)).Draw(t, "dt")
				phys[i].Set(phys[i].Now().Add(time.Duration(d)))
				maxPhys = max(maxPhys, phys[i].Now().UnixNano())
			case 1: // local event
				record(i, clocks[i].Now())
			case 2: // send
				ts := clocks[i].Now()
				record(i, ts)
				inflight = append(inflight, events[len(events)-1])
			case 3: // receive any message in flight, possibly again
				if len(inflight) == 0 {
					continue
				}
				m := inflight[rapid.IntRange(0, len(inflight)-1).Draw(t, "msg")]
				before, rejected := clocks[i].Last(), clocks[i].Rejected()
				pt := phys[i].Now().UnixNano()
				ts, err := clocks[i].Update(m.ts)
				tooFar := m.ts.WallNanos-pt > int64(testSkew)
				if tooFar != (err != nil) {
					t.Fatalf("Update(%v) at physical %d: err %v, want refusal %v", m.ts, pt, err, tooFar)
				}
				if err != nil {
					var se *SkewError
					if !errors.Is(err, ErrClockSkew) || !errors.As(err, &se) || se.Remote != m.ts {
						t.Fatalf("Update error %v is not a SkewError for %v", err, m.ts)
					}
					if clocks[i].Last() != before || clocks[i].Rejected() != rejected+1 {
						t.Fatal("refused Update changed the clock or did not count")
					}
					continue
				}
				if !ts.After(m.ts) {
					t.Fatalf("receive timestamp %v not after message %v", ts, m.ts)
				}
				pasts[i].Merge(m.past)
				record(i, ts)
			}
		}
		for _, e := range events {
			for _, f := range events {
				if e.past.Compare(f.past) == vclock.Before && !e.ts.Before(f.ts) {
					t.Fatalf("event %v happened before %v but its timestamp is not smaller", e, f)
				}
			}
		}
	})
}

func TestUpdateRefusesBeyondMaxSkew(t *testing.T) {
	phys := clocktest.New(time.Unix(100, 0))
	c := newTestClock(t, phys)
	now := phys.Now().UnixNano()
	if _, err := c.Update(Timestamp{WallNanos: now + int64(testSkew)}); err != nil {
		t.Fatalf("Update at exactly MaxSkew: %v", err)
	}
	_, err := c.Update(Timestamp{WallNanos: now + int64(testSkew) + 1})
	if !errors.Is(err, ErrClockSkew) {
		t.Fatalf("Update beyond MaxSkew: err = %v, want ErrClockSkew", err)
	}
	if _, err := c.Update(Timestamp{WallNanos: math.MaxInt64}); !errors.Is(err, ErrClockSkew) {
		t.Fatalf("Update far in the future: err = %v", err)
	}
	if c.Rejected() != 2 {
		t.Fatalf("Rejected = %d, want 2", c.Rejected())
	}
	if got := c.Now(); got.WallNanos != now+int64(testSkew) || got.Logical != 2 {
		t.Fatalf("Now after accepted remote = %v", got)
	}
	phys.Advance(time.Second)
	if got := c.Now(); got != (Timestamp{WallNanos: phys.Now().UnixNano()}) {
		t.Fatalf("Now after physical clock passed the remote = %v", got)
	}
}

func TestNowWhenPhysicalClockStepsBack(t *testing.T) {
	phys := clocktest.New(time.Unix(100, 0))
	c := newTestClock(t, phys)
	a := c.Now()
	phys.Set(time.Unix(99, 0))
	b := c.Now()
	if b.WallNanos != a.WallNanos || b.Logical != a.Logical+1 {
		t.Fatalf("after step back got %v, want %v with logical+1", b, a)
	}
}

func TestLogicalOverflowMovesWallTime(t *testing.T) {
	if got := tick(Timestamp{WallNanos: 5, Logical: math.MaxUint32}); got != (Timestamp{WallNanos: 6}) {
		t.Fatalf("tick at max logical = %v", got)
	}
}

func TestConfig(t *testing.T) {
	if _, err := New(clocktest.New(time.Unix(0, 0)), Config{MaxSkew: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative MaxSkew: err = %v", err)
	}
	if _, err := New(nil, Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("nil clock: err = %v", err)
	}
	c, err := New(clocktest.New(time.Unix(0, 0)), Config{})
	if err != nil || c.maxSkew != DefaultMaxSkew {
		t.Fatalf("zero Config: %v, maxSkew %v", err, c.maxSkew)
	}
}

func TestConcurrentUseIsMonotonicAndUnique(t *testing.T) {
	phys := clocktest.New(time.Unix(100, 0))
	c := newTestClock(t, phys)
	const workers, each = 4, 500
	out := make([][]Timestamp, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var ts Timestamp
				if i%3 == 0 {
					ts, _ = c.Update(Timestamp{WallNanos: phys.Now().UnixNano(), Logical: 7})
				} else {
					ts = c.Now()
				}
				if i%50 == 0 {
					phys.Advance(time.Microsecond)
				}
				out[w] = append(out[w], ts)
			}
		}()
	}
	wg.Wait()
	seen := make(map[Timestamp]bool)
	for w := range workers {
		for i, ts := range out[w] {
			if i > 0 && !ts.After(out[w][i-1]) {
				t.Fatalf("worker %d: %v not after %v", w, ts, out[w][i-1])
			}
			if seen[ts] {
				t.Fatalf("timestamp %v issued twice", ts)
			}
			seen[ts] = true
		}
	}
}

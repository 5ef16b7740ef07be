package cluster

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/node"
)

// The benchmarks measure with the default configurations (DefaultLANConfig
// and the node's default heartbeat) on the in-memory network; run them
// with -benchtime=1x, each iteration is a whole scenario:
//
//	go test -run '^$' -bench . -benchtime=1x ./cluster

// defaultTimings makes members use the defaults of both layers.
func defaultTimings(h *harness) {
	h.cfg = func(int) Config { return DefaultLANConfig() }
	h.nodeMod = func(c *node.Config) {
		c.Heartbeat, c.HeartbeatTimeout, c.ConnectTimeout, c.ReconnectMin, c.ReconnectMax = 0, 0, 0, 0, 0
	}
}

// BenchmarkConverge5 measures the time from starting five members (each
// joining the first) until all five see all five alive.
func BenchmarkConverge5(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b, nil)
		defaultTimings(h)
		b.StartTimer()
		start := time.Now()
		ms := startCluster(b, h, 5)
		waitStates(b, 30*time.Second, ms, allAlive(0, 1, 2, 3, 4))
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms-converge")
		b.StopTimer()
		for _, m := range ms {
			m.stop()
		}
		b.StartTimer()
	}
}

// detection records when each observer saw target suspected and failed.
type detection struct {
	mu                sync.Mutex
	suspected, failed map[string]time.Time
}

func watch(ms []*tmember, target string) (*detection, func()) {
	d := &detection{suspected: map[string]time.Time{}, failed: map[string]time.Time{}}
	var cancels []func()
	for _, m := range ms {
		obs := m.c.Name()
		cancels = append(cancels, m.c.Subscribe(func(e Event) {
			if e.Member.Name != target {
				return
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			switch e.Kind {
			case EventSuspected:
				if _, ok := d.suspected[obs]; !ok {
					d.suspected[obs] = time.Now()
				}
			case EventFailed:
				d.failed[obs] = time.Now()
			}
		}))
	}
	return d, func() {
		for _, c := range cancels {
			c()
		}
	}
}

// slowest returns the latest time in m, waiting until m has n entries.
func (d *detection) slowest(tb testing.TB, failed bool, n int, since time.Time) time.Duration {
	var worst time.Duration
	testutil.Eventually(tb, 60*time.Second, func() error {
		d.mu.Lock()
		defer d.mu.Unlock()
		m := d.suspected
		if failed {
			m = d.failed
		}
		if len(m) < n {
			return fmt.Errorf("%d of %d observers", len(m), n)
		}
		for _, t := range m {
			worst = max(worst, t.Sub(since))
		}
		return nil
	})
	return worst
}

// benchDetection runs five members with the defaults, makes member 4
// vanish with vanish, and reports when the last of the other four saw it
// suspect (its node link down) and dead (SWIM).
func benchDetection(b *testing.B, vanish func(h *harness)) {
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b, nil)
		defaultTimings(h)
		ms := startCluster(b, h, 5)
		waitStates(b, 30*time.Second, ms, allAlive(0, 1, 2, 3, 4))
		testutil.Eventually(b, 10*time.Second, func() error {
			for _, m := range ms {
				if len(m.nd.Nodes()) != 4 {
					return fmt.Errorf("%s linked to %v", m.c.Name(), m.nd.Nodes())
				}
			}
			return nil
		})
		d, cancel := watch(ms[:4], name(4))
		b.StartTimer()
		start := time.Now()
		vanish(h)
		b.ReportMetric(float64(d.slowest(b, false, 4, start).Milliseconds()), "ms-all-suspect")
		b.ReportMetric(float64(d.slowest(b, true, 4, start).Milliseconds()), "ms-all-dead")
		b.StopTimer()
		cancel()
		for _, m := range ms {
			m.stop()
		}
		b.StartTimer()
	}
}

// BenchmarkDetectCrash: member 4's host dies (memnet Endpoint.Close: its
// connections reset, as after kill -9).
func BenchmarkDetectCrash(b *testing.B) {
	benchDetection(b, func(h *harness) { h.get(4).ep.Close() })
}

// BenchmarkDetectSilentPartition: member 4 is cut off in both directions
// (memnet Block: nothing arrives, nothing fails).
func BenchmarkDetectSilentPartition(b *testing.B) {
	benchDetection(b, func(h *harness) {
		for i := range 4 {
			h.nw.Block(host(i), host(4))
			h.nw.Block(host(4), host(i))
		}
	})
}

// benchGossip reports gossip bytes per second sent per member, in a steady
// cluster of n members with the defaults, over window.
func benchGossip(b *testing.B, n int, window time.Duration) {
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b, nil)
		defaultTimings(h)
		ms := []*tmember{h.start(0)}
		for i := 1; i < n; i++ {
			ms = append(ms, h.start(i, (i-1)/2))
		}
		// With the defaults a member that missed the join gossip learns
		// of the others at the next push/pull (30 s, scaled up past 32
		// members).
		waitStates(b, 150*time.Second, ms, allAlive(seq(0, n)...))
		sent := func() (s uint64) {
			for _, m := range ms {
				s += m.c.Stats().BytesSent.Load()
			}
			return s
		}
		before, start := sent(), time.Now()
		b.StartTimer()
		<-time.After(window) // the measurement window itself
		b.StopTimer()
		perNode := float64(sent()-before) / time.Since(start).Seconds() / float64(n)
		b.ReportMetric(perNode, "B/s/member")
		var dropped uint64
		for _, m := range ms {
			dropped += m.c.Stats().PacketsDropped.Load()
		}
		b.ReportMetric(float64(dropped), "packets-dropped")
		for _, m := range ms {
			m.stop()
		}
		b.StartTimer()
	}
}

func BenchmarkGossip5(b *testing.B)  { benchGossip(b, 5, 10*time.Second) }
func BenchmarkGossip50(b *testing.B) { benchGossip(b, 50, 10*time.Second) }

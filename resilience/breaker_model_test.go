package resilience

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// bModel is a naive model of the breaker: every outcome of the current
// closed period kept with its time, the rate computed from the list.
type bModel struct {
	cfg      BreakerConfig
	epoch    time.Time
	state    State
	gen      int
	outs     []bOut
	openedAt time.Time
	openFor  time.Duration
	probes   []mProbe
	nextID   int
	trialsOK int
	opened   uint64
	rejected uint64
	expired  uint64
}

type mProbe struct {
	id    int
	start time.Time
}

type bOut struct {
	at     time.Time
	failed bool
}

func (m *bModel) bucket(t time.Time) int64 {
	width := m.cfg.Window / windowBuckets
	if t.Before(m.epoch) {
		return 0
	}
	return int64(t.Sub(m.epoch) / width)
}

func (m *bModel) counts(now time.Time) (total, failures int) {
	cur := m.bucket(now)
	for _, o := range m.outs {
		if b := m.bucket(o.at); b > cur-windowBuckets && b <= cur {
			total++
			if o.failed {
				failures++
			}
		}
	}
	return
}

func (m *bModel) consecutive() int {
	n := 0
	for i := len(m.outs) - 1; i >= 0 && m.outs[i].failed; i-- {
		n++
	}
	return n
}

func (m *bModel) to(s State, now time.Time) {
	if s == Open && m.state == HalfOpen {
		m.openFor = min(time.Duration(float64(m.openFor)*m.cfg.OpenBackoff), m.cfg.MaxOpenTimeout)
	}
	if s == Closed {
		m.openFor = m.cfg.OpenTimeout
	}
	m.state = s
	m.gen++
	m.outs, m.probes, m.trialsOK = nil, nil, 0
	if s == Open {
		m.openedAt = now
		m.opened++
	}
}

// advance: an open breaker whose period is over is half-open; a half-open
// one with a trial call older than OpenTimeout opens again.
func (m *bModel) advance(now time.Time) {
	if m.state == Open && now.Sub(m.openedAt) >= m.openFor {
		m.to(HalfOpen, now)
	}
	if m.state == HalfOpen {
		for _, p := range m.probes {
			if now.Sub(p.start) >= m.cfg.OpenTimeout {
				m.expired++
				m.to(Open, now)
				return
			}
		}
	}
}

func (m *bModel) allow(now time.Time) (gen, probe int, ok bool) {
	m.advance(now)
	switch m.state {
	case Open:
		m.rejected++
		return 0, 0, false
	case HalfOpen:
		if len(m.probes) == m.cfg.HalfOpenCalls {
			m.rejected++
			return 0, 0, false
		}
		m.nextID++
		m.probes = append(m.probes, mProbe{m.nextID, now})
		return m.gen, m.nextID, true
	}
	return m.gen, 0, true
}

func (m *bModel) record(gen, probe int, o Outcome, now time.Time) {
	m.advance(now)
	if gen != m.gen {
		return
	}
	switch {
	case m.state == Closed && o != Ignore:
		m.outs = append(m.outs, bOut{now, o == Failure})
		if o == Failure {
			total, failures := m.counts(now)
			byRun := m.cfg.ConsecutiveFailures > 0 && m.consecutive() >= m.cfg.ConsecutiveFailures
			byRate := m.cfg.FailureRate > 0 && total >= m.cfg.MinRequests && float64(failures)/float64(total) >= m.cfg.FailureRate
			if byRun || byRate {
				m.to(Open, now)
			}
		}
	case m.state == HalfOpen:
		m.probes = slices.DeleteFunc(m.probes, func(p mProbe) bool { return p.id == probe })
		switch o {
		case Success:
			if m.trialsOK++; m.trialsOK == m.cfg.HalfOpenCalls {
				m.to(Closed, now)
			}
		case Failure:
			m.to(Open, now)
		}
	}
}

type liveTicket struct {
	t          ticket
	gen, probe int
}

// TestBreakerMatchesModel drives the breaker's core and the model with the
// same calls, outcomes (in any order, overlapping) and clock steps, and
// checks that they agree on every admission and on the state after each
// step; and that a half-open breaker never has more trial calls in flight
// than allowed, and an open one admits nothing before its time.
func TestBreakerMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := BreakerConfig{
			ConsecutiveFailures: rapid.SampledFrom([]int{-1, 1, 2, 3, 5}).Draw(t, "consecutive"),
			FailureRate:         rapid.SampledFrom([]float64{0, 0.25, 0.5, 1}).Draw(t, "rate"),
			Window:              time.Duration(rapid.IntRange(1, 20).Draw(t, "window")) * time.Second,
			MinRequests:         rapid.IntRange(1, 6).Draw(t, "min"),
			OpenTimeout:         time.Duration(rapid.IntRange(1, 5).Draw(t, "open")) * time.Second,
			HalfOpenCalls:       rapid.IntRange(1, 3).Draw(t, "half"),
			OpenBackoff:         rapid.SampledFrom([]float64{0, 1, 1.5, 3}).Draw(t, "backoff"),
		}
		cfg.MaxOpenTimeout = time.Duration(rapid.IntRange(0, 3).Draw(t, "max open")) * cfg.OpenTimeout
		if cfg.ConsecutiveFailures == -1 && cfg.FailureRate == 0 {
			cfg.FailureRate = 0.5
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		cfg = cfg.withDefaults()
		now := time.Unix(5000, 0)
		c := newBreakerCore(cfg, now)
		m := &bModel{cfg: cfg, epoch: now, openFor: cfg.OpenTimeout}
		var live []liveTicket
		steps := rapid.IntRange(1, 150).Draw(t, "steps")
		for step := range steps {
			switch op := rapid.IntRange(0, 9).Draw(t, "op"); {
			case op < 4:
				tk, err := c.allow(now)
				gen, probe, ok := m.allow(now)
				if (err == nil) != ok || (ok && (tk.probe != 0) != (probe != 0)) {
					t.Fatalf("step %d: allow core (%+v, %v), model (probe %v, ok %v)", step, tk, err, probe, ok)
				}
				if ok {
					live = append(live, liveTicket{tk, gen, probe})
				}
			case op < 8 && len(live) > 0:
				i := rapid.IntRange(0, len(live)-1).Draw(t, "ticket")
				o := rapid.SampledFrom([]Outcome{Success, Failure, Failure, Ignore}).Draw(t, "outcome")
				c.record(live[i].t, o, now)
				m.record(live[i].gen, live[i].probe, o, now)
				live = append(live[:i], live[i+1:]...)
			default:
				now = now.Add(time.Duration(rapid.IntRange(0, 3000).Draw(t, "ms")) * time.Millisecond)
			}
			st := c.snapshot(now)
			m.advance(now) // the snapshot moved the core on
			total, failures := m.counts(now)
			if m.state != Closed {
				total, failures = 0, 0
			}
			var until time.Time
			if m.state == Open {
				until = m.openedAt.Add(m.openFor)
			}
			want := fmt.Sprintf("%v run=%d win=%d/%d probes=%d opened=%d rejected=%d expired=%d until=%v",
				m.state, m.consecutive(), failures, total, len(m.probes), m.opened, m.rejected, m.expired, until)
			got := fmt.Sprintf("%v run=%d win=%d/%d probes=%d opened=%d rejected=%d expired=%d until=%v",
				st.State, st.ConsecutiveFailures, st.WindowFailures, st.WindowCalls, st.Probes, st.Opened, st.Rejected, st.Expired, st.OpenUntil)
			if got != want {
				t.Fatalf("step %d:\n core  %s\n model %s", step, got, want)
			}
			if st.Probes > cfg.HalfOpenCalls || st.Probes < 0 {
				t.Fatalf("step %d: %d trial calls in flight", step, st.Probes)
			}
		}
	})
}

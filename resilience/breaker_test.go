package resilience

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
)

var errFail = errors.New("fail")

func newTestBreaker(t *testing.T, cfg BreakerConfig) (*Breaker, *clocktest.Manual, *[]string) {
	t.Helper()
	clk := clocktest.New(time.Unix(1000, 0))
	var changes []string
	cfg.Clock = clk
	cfg.OnStateChange = func(from, to State) { changes = append(changes, from.String()+">"+to.String()) }
	b, err := NewBreaker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, clk, &changes
}

func call(b *Breaker, err error) error { return b.Do(func() error { return err }) }

func TestBreakerConsecutiveFailures(t *testing.T) {
	b, clk, changes := newTestBreaker(t, BreakerConfig{ConsecutiveFailures: 3, OpenTimeout: time.Second})
	for range 2 {
		call(b, errFail)
	}
	call(b, nil) // a success resets the run
	for range 2 {
		call(b, errFail)
	}
	if b.State() != Closed {
		t.Fatalf("state %v after two failures in a row", b.State())
	}
	call(b, errFail)
	if b.State() != Open {
		t.Fatalf("state %v after three failures in a row", b.State())
	}
	called := false
	err := b.Do(func() error { called = true; return nil })
	if !errors.Is(err, ErrOpen) || called {
		t.Fatalf("open breaker: err %v, called %v", err, called)
	}
	st := b.Stats()
	if st.Rejected != 1 || st.Opened != 1 || st.Failures != 5 || st.Successes != 1 || !st.OpenUntil.Equal(clk.Now().Add(time.Second)) {
		t.Fatalf("stats %+v", st)
	}
	clk.Advance(time.Second - time.Nanosecond)
	if b.State() != Open {
		t.Fatal("half-open before OpenTimeout")
	}
	clk.Advance(time.Nanosecond)
	if b.State() != HalfOpen {
		t.Fatalf("state %v after OpenTimeout", b.State())
	}
	if err := call(b, nil); err != nil {
		t.Fatal(err)
	}
	if b.State() != Closed {
		t.Fatalf("state %v after a successful trial", b.State())
	}
	if want := []string{"closed>open", "open>half-open", "half-open>closed"}; !slices.Equal(*changes, want) {
		t.Fatalf("changes %v", *changes)
	}
}

func TestBreakerFailureRate(t *testing.T) {
	b, clk, _ := newTestBreaker(t, BreakerConfig{ConsecutiveFailures: -1, FailureRate: 0.5, MinRequests: 10, Window: 10 * time.Second})
	// 4 failures of 9 calls: under the minimum of calls, then under the rate.
	for i := range 9 {
		err := error(nil)
		if i%2 == 0 && i < 8 {
			err = errFail
		}
		call(b, err)
	}
	if st := b.Stats(); st.State != Closed || st.WindowCalls != 9 || st.WindowFailures != 4 {
		t.Fatalf("stats %+v", st)
	}
	call(b, nil) // 4 of 10
	if b.State() != Closed {
		t.Fatal("opened under the rate")
	}
	call(b, errFail) // 5 of 11 < 50 %
	if b.State() != Closed {
		t.Fatal("opened under the rate")
	}
	call(b, errFail) // 6 of 12 = 50 %
	if b.State() != Open {
		t.Fatalf("state %v at 50 %% failures", b.State())
	}
	// The window slides: old outcomes leave it.
	clk.Advance(time.Hour)
	call(b, nil) // the trial closes it
	for range 9 {
		call(b, errFail)
	}
	clk.Advance(11 * time.Second)
	call(b, errFail)
	if st := b.Stats(); st.State != Closed || st.WindowCalls != 1 {
		t.Fatalf("failures older than the window still count: %+v", st)
	}
}

func TestBreakerHalfOpenBoundsTrials(t *testing.T) {
	b, clk, _ := newTestBreaker(t, BreakerConfig{ConsecutiveFailures: 1, OpenTimeout: time.Second, HalfOpenCalls: 2})
	call(b, errFail)
	clk.Advance(time.Second)
	d1, err1 := b.Allow()
	d2, err2 := b.Allow()
	_, err3 := b.Allow()
	if err1 != nil || err2 != nil || !errors.Is(err3, ErrOpen) {
		t.Fatalf("trials: %v %v %v", err1, err2, err3)
	}
	if st := b.Stats(); st.Probes != 2 || st.State != HalfOpen {
		t.Fatalf("stats %+v", st)
	}
	d1(nil)
	d1(errFail) // only the first outcome counts
	if b.State() != HalfOpen {
		t.Fatal("closed after one of two trials")
	}
	d3, err := b.Allow() // a slot is free again
	if err != nil {
		t.Fatal(err)
	}
	d2(nil)
	if b.State() != Closed {
		t.Fatalf("state %v after two successful trials", b.State())
	}
	d3(errFail) // a trial of the half-open state that is over: ignored
	if b.State() != Closed {
		t.Fatal("a stale trial's failure reopened the breaker")
	}
}

func TestBreakerTrialFailureReopens(t *testing.T) {
	b, clk, changes := newTestBreaker(t, BreakerConfig{ConsecutiveFailures: 1, OpenTimeout: time.Second})
	call(b, errFail)
	clk.Advance(time.Second)
	call(b, errFail)
	if st := b.Stats(); st.State != Open || st.Opened != 2 || !st.OpenUntil.Equal(clk.Now().Add(time.Second)) {
		t.Fatalf("stats %+v", st)
	}
	if want := []string{"closed>open", "open>half-open", "half-open>open"}; !slices.Equal(*changes, want) {
		t.Fatalf("changes %v", *changes)
	}
}

// Outcomes of calls let through before the breaker opened do not count
// after; the caller's cancellation counts as nothing and frees a trial.
func TestBreakerStaleAndIgnoredOutcomes(t *testing.T) {
	b, clk, _ := newTestBreaker(t, BreakerConfig{ConsecutiveFailures: 2, OpenTimeout: time.Second})
	slow, _ := b.Allow()
	call(b, errFail)
	call(b, errFail)
	clk.Advance(time.Second)
	slow(nil) // from the closed state before: must not close the half-open breaker
	if b.State() != HalfOpen {
		t.Fatalf("state %v", b.State())
	}
	d, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	d(context.Canceled)
	if st := b.Stats(); st.State != HalfOpen || st.Probes != 0 || st.Ignored != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBreakerConfigValidate(t *testing.T) {
	for _, c := range []BreakerConfig{
		{ConsecutiveFailures: -2},
		{FailureRate: 1.5},
		{FailureRate: -0.1},
		{Window: -1},
		{OpenTimeout: -1},
		{MinRequests: -1},
		{HalfOpenCalls: -1},
		{ConsecutiveFailures: -1},
	} {
		if _, err := NewBreaker(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	for s, want := range map[State]string{Closed: "closed", Open: "open", HalfOpen: "half-open", 7: "State(7)"} {
		if s.String() != want {
			t.Errorf("%d: %s", int(s), s)
		}
	}
}

func TestBreakerConcurrentUse(t *testing.T) {
	b, err := NewBreaker(BreakerConfig{ConsecutiveFailures: 3, OpenTimeout: time.Millisecond, HalfOpenCalls: 2})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 2000 {
				d, err := b.Allow()
				if err != nil {
					continue
				}
				if (g+i)%3 == 0 {
					d(errFail)
				} else {
					d(nil)
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	st := b.Stats()
	if st.Probes < 0 || st.Probes > 2 {
		t.Fatalf("stats %+v", st)
	}
	if total := st.Successes + st.Failures + st.Ignored + st.Rejected; total != 16000 {
		t.Fatalf("%d outcomes counted for 16000 calls: %+v", total, st)
	}
}

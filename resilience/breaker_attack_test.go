package resilience

import (
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tripOpen fails calls until b is open.
func tripOpen(t *testing.T, b *Breaker) {
	t.Helper()
	for range 100 {
		if b.State() == Open {
			return
		}
		call(b, errFail)
	}
	t.Fatalf("breaker %v after 100 failures", b.State())
}

// A trial call whose function panics (or calls runtime.Goexit, as
// t.FailNow does) frees its trial slot: the breaker is not left half-open
// with a trial in flight that nobody will ever report.
func TestBreakerDoSurvivesAPanic(t *testing.T) {
	for _, how := range []string{"panic", "goexit"} {
		t.Run(how, func(t *testing.T) {
			b, clk, _ := newTestBreaker(t, BreakerConfig{ConsecutiveFailures: 1, OpenTimeout: time.Second})
			tripOpen(t, b)
			clk.Advance(time.Second)
			done := make(chan struct{})
			go func() {
				defer close(done)
				defer func() { _ = recover() }()
				_ = b.Do(func() error {
					if how == "panic" {
						panic("boom")
					}
					runtime.Goexit()
					return nil
				})
			}()
			<-done
			if st := b.Stats(); st.Probes != 0 {
				t.Fatalf("%d trial calls in flight after the trial panicked: %+v", st.Probes, st)
			}
			// The breaker takes trials again.
			if err := call(b, nil); err != nil {
				t.Fatalf("trial after the panic: %v", err)
			}
			if b.State() != Closed {
				t.Fatalf("state %v after a successful trial", b.State())
			}
		})
	}
}

// A trial call let through by Allow whose Done is never called (its
// caller forgot, or died): after OpenTimeout it counts as failed, the
// breaker opens again and later lets a new trial through, instead of
// refusing every call for ever.
func TestBreakerTrialNeverReported(t *testing.T) {
	b, clk, changes := newTestBreaker(t, BreakerConfig{ConsecutiveFailures: 1, OpenTimeout: time.Second})
	tripOpen(t, b)
	clk.Advance(time.Second)
	late, err := b.Allow() // never reported in time
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Allow(); !errors.Is(err, ErrOpen) {
		t.Fatalf("second trial while one is in flight: %v", err)
	}
	clk.Advance(time.Second - time.Nanosecond)
	if b.State() != HalfOpen {
		t.Fatalf("state %v before the trial's time is up", b.State())
	}
	clk.Advance(time.Nanosecond)
	st := b.Stats()
	if st.State != Open || st.Expired != 1 {
		t.Fatalf("after the trial's time: %+v", st)
	}
	clk.Advance(time.Second)
	if err := call(b, nil); err != nil {
		t.Fatalf("new trial: %v", err)
	}
	if b.State() != Closed {
		t.Fatalf("state %v after a successful trial", b.State())
	}
	late(nil) // a late outcome changes nothing
	if b.State() != Closed {
		t.Fatalf("state %v after a late outcome", b.State())
	}
	want := []string{"closed>open", "open>half-open", "half-open>open", "open>half-open", "half-open>closed"}
	if !slices.Equal(*changes, want) {
		t.Fatalf("changes %v", *changes)
	}
}

// Reference: Akka's CircuitBreaker withExponentialBackoff and
// maxResetTimeout: every failed trial makes the next open period longer,
// up to a cap; closing the breaker resets it.
func TestBreakerOpenTimeoutGrows(t *testing.T) {
	b, clk, _ := newTestBreaker(t, BreakerConfig{
		ConsecutiveFailures: 1, OpenTimeout: time.Second, MaxOpenTimeout: 5 * time.Second, OpenBackoff: 2,
	})
	tripOpen(t, b)
	var periods []time.Duration
	for range 5 {
		st := b.Stats()
		periods = append(periods, st.OpenUntil.Sub(clk.Now()))
		clk.Set(st.OpenUntil)
		if err := call(b, errFail); !errors.Is(err, errFail) { // the trial fails
			t.Fatalf("trial: %v", err)
		}
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}; !slices.Equal(periods, want) {
		t.Fatalf("open periods %v, want %v", periods, want)
	}
	clk.Set(b.Stats().OpenUntil)
	call(b, nil) // closes
	tripOpen(t, b)
	if d := b.Stats().OpenUntil.Sub(clk.Now()); d != time.Second {
		t.Fatalf("open period after a close: %v", d)
	}
}

// Many goroutines use one breaker while another moves its manual clock
// in steps: the number of trial calls in flight never passes the bound,
// every call is counted exactly once, and the breaker ends closed once
// the calls succeed. Run under -race.
func TestBreakerConcurrentManualClock(t *testing.T) {
	b, clk, _ := newTestBreaker(t, BreakerConfig{ConsecutiveFailures: 3, OpenTimeout: 10 * time.Millisecond, HalfOpenCalls: 2})
	var failing atomic.Bool
	failing.Store(true)
	var calls atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				calls.Add(1)
				_ = b.Do(func() error {
					runtime.Gosched()
					if failing.Load() && (g+i)%2 == 0 {
						return errFail
					}
					return nil
				})
			}
		}()
	}
	check := func() {
		if st := b.Stats(); st.Probes < 0 || st.Probes > 2 {
			t.Fatalf("%d trial calls in flight: %+v", st.Probes, st)
		}
	}
	for i := range 300 {
		clk.Advance(time.Millisecond)
		if i == 200 {
			failing.Store(false)
		}
		check()
		runtime.Gosched()
	}
	// Let trials through until it closes: the clock moves only while the
	// breaker is open, so that trials have time to report.
	for deadline := time.Now().Add(10 * time.Second); b.State() != Closed; {
		if time.Now().After(deadline) {
			t.Fatalf("breaker still %v with calls succeeding", b.State())
		}
		if b.State() == Open {
			clk.Advance(time.Millisecond)
		}
		check()
		time.Sleep(50 * time.Microsecond)
	}
	close(stop)
	wg.Wait()
	st := b.Stats()
	if total := st.Successes + st.Failures + st.Ignored + st.Rejected; int64(total) != calls.Load() {
		t.Fatalf("%d outcomes counted for %d calls: %+v", total, calls.Load(), st)
	}
	if st.Probes != 0 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("%d calls, opened %d times", calls.Load(), st.Opened)
}

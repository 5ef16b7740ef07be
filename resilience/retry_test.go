package resilience

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
	"pgregory.net/rapid"
)

// Full jitter: every wait is in [0, bound), bounds grow by Multiplier from
// Initial and stop at Max.
func TestRetryDelays(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := RetryPolicy{
			Initial:    time.Duration(rapid.IntRange(1, 1000).Draw(t, "initial")) * time.Millisecond,
			Max:        time.Duration(rapid.IntRange(1, 60).Draw(t, "max")) * time.Second,
			Multiplier: rapid.Float64Range(1, 4).Draw(t, "mult"),
		}
		prev := time.Duration(0)
		for attempt := 1; attempt <= 40; attempt++ {
			b := p.Bound(attempt)
			if b < prev || b > p.Max {
				t.Fatalf("bound %d = %v after %v (max %v)", attempt, b, prev, p.Max)
			}
			if attempt == 1 && b != min(p.Initial, p.Max) {
				t.Fatalf("first bound %v, initial %v", b, p.Initial)
			}
			u := rapid.Float64Range(0, 0.999999).Draw(t, "u")
			if d := p.Delay(attempt, u); d < 0 || d >= b && b > 0 {
				t.Fatalf("delay %v outside [0, %v)", d, b)
			}
			prev = b
		}
		if p.Multiplier >= 1.5 && p.Bound(40) != p.Max {
			t.Fatalf("bound not capped: %v", p.Bound(40))
		}
	})
	p := RetryPolicy{Initial: 100 * time.Millisecond, Multiplier: 2, Max: time.Second}
	for i, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		if got := p.Bound(i + 1); got != want*time.Millisecond {
			t.Errorf("bound %d = %v, want %v", i+1, got, want*time.Millisecond)
		}
	}
	if got := p.Delay(3, 0.5); got != 200*time.Millisecond {
		t.Errorf("delay %v", got)
	}
}

// retryRig runs Retry on a manual clock in the background.
type retryRig struct {
	clk      *clocktest.Manual
	attempts chan int
	done     chan error
}

func startRetry(ctx context.Context, p RetryPolicy, errs ...error) *retryRig {
	r := &retryRig{clk: clocktest.New(time.Unix(0, 0)), attempts: make(chan int, 100), done: make(chan error, 1)}
	p.Clock = r.clk
	n := 0
	go func() {
		r.done <- Retry(ctx, p, func(context.Context) error {
			n++
			r.attempts <- n
			if n-1 < len(errs) {
				return errs[n-1]
			}
			return nil
		})
	}()
	return r
}

// step waits for the next attempt and then for Retry to wait on the clock,
// and advances the clock by d.
func (r *retryRig) step(t *testing.T, d time.Duration) {
	t.Helper()
	<-r.attempts
	testutil.Eventually(t, 5*time.Second, func() error {
		if r.clk.Pending() == 0 {
			return errors.New("no wait pending")
		}
		return nil
	})
	r.clk.Advance(d)
}

func (r *retryRig) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Retry did not return")
		return nil
	}
}

func TestRetrySucceedsAfterRetryableErrors(t *testing.T) {
	lost := fmt.Errorf("dial: %w", proc.ErrNoConnection)
	r := startRetry(context.Background(), RetryPolicy{Initial: time.Second, Rand: func() float64 { return 0.5 }}, lost, lost)
	r.step(t, 500*time.Millisecond-time.Nanosecond)
	select {
	case <-r.attempts:
		t.Fatal("retried before the wait was over")
	default:
	}
	r.clk.Advance(time.Nanosecond)
	r.step(t, time.Second) // second wait: 0.5 × 2 s
	<-r.attempts
	if err := r.result(t); err != nil {
		t.Fatal(err)
	}
}

func TestRetryGivesUp(t *testing.T) {
	lost := proc.ErrNoConnection
	r := startRetry(context.Background(), RetryPolicy{MaxAttempts: 3, Rand: func() float64 { return 0 }}, lost, lost, lost, lost)
	// Zero waits: no clock involved.
	err := r.result(t)
	var re *RetryError
	if !errors.As(err, &re) || re.Attempts != 3 || !errors.Is(err, proc.ErrNoConnection) || re.Ctx != nil {
		t.Fatalf("%v", err)
	}
	// Not retryable: one attempt.
	bad := errors.New("bad request")
	r = startRetry(context.Background(), RetryPolicy{}, bad)
	err = r.result(t)
	if !errors.As(err, &re) || re.Attempts != 1 || !errors.Is(err, bad) {
		t.Fatalf("%v", err)
	}
	// An open breaker is not retried.
	r = startRetry(context.Background(), RetryPolicy{}, fmt.Errorf("%w: node x", ErrOpen))
	if err := r.result(t); !errors.As(err, &re) || re.Attempts != 1 {
		t.Fatalf("%v", err)
	}
}

func TestRetryContext(t *testing.T) {
	// Cancelled during a wait.
	ctx, cancel := context.WithCancel(context.Background())
	r := startRetry(ctx, RetryPolicy{Initial: time.Hour, Rand: func() float64 { return 0.5 }}, proc.ErrNoConnection)
	<-r.attempts
	testutil.Eventually(t, 5*time.Second, func() error {
		if r.clk.Pending() == 0 {
			return errors.New("not waiting")
		}
		return nil
	})
	cancel()
	err := r.result(t)
	var re *RetryError
	if !errors.As(err, &re) || re.Attempts != 1 || !errors.Is(err, context.Canceled) || !errors.Is(err, proc.ErrNoConnection) {
		t.Fatalf("%v", err)
	}
	// A wait that would end after the deadline is not waited.
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r = startRetry(ctx, RetryPolicy{Initial: time.Hour, Rand: func() float64 { return 0.5 }}, proc.ErrNoConnection)
	if err := r.result(t); !errors.As(err, &re) || !errors.Is(err, context.DeadlineExceeded) || re.Attempts != 1 {
		t.Fatalf("%v", err)
	}
	// A context already done: no attempt.
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	r = startRetry(done, RetryPolicy{})
	if err := r.result(t); !errors.As(err, &re) || re.Attempts != 0 {
		t.Fatalf("%v", err)
	}
	select {
	case <-r.attempts:
		t.Fatal("an attempt ran with a done context")
	default:
	}
}

// Each attempt gets its own timeout; a timed-out attempt is retried.
func TestRetryAttemptTimeout(t *testing.T) {
	n := 0
	v, err := RetryValue(context.Background(), RetryPolicy{AttemptTimeout: 10 * time.Millisecond, Rand: func() float64 { return 0 }},
		func(ctx context.Context) (string, error) {
			n++
			if n < 3 {
				<-ctx.Done()
				return "", ctx.Err()
			}
			return "third", nil
		})
	if err != nil || v != "third" || n != 3 {
		t.Fatalf("%q %v after %d attempts", v, err, n)
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	for _, p := range []RetryPolicy{{MaxAttempts: -1}, {Initial: -1}, {Max: -1}, {AttemptTimeout: -1}, {Multiplier: 0.5}} {
		if err := Retry(context.Background(), p, func(context.Context) error { return nil }); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

// With a seeded source the waits repeat exactly.
func TestRetrySeededJitter(t *testing.T) {
	waits := func() []time.Duration {
		rng := rand.New(rand.NewPCG(7, 7))
		p := RetryPolicy{Rand: rng.Float64}
		var out []time.Duration
		for i := 1; i <= 5; i++ {
			out = append(out, p.Delay(i, p.Rand()))
		}
		return out
	}
	a, b := waits(), waits()
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("%v != %v", a, b)
	}
}

package resilience

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/grovedev/grove/clock"
	"github.com/grovedev/grove/proc"
)

// RetryPolicy tells how Retry repeats an idempotent operation: up to
// MaxAttempts attempts, waiting between them a random time between zero
// and an exponentially growing, capped bound ("full jitter": the n-th wait
// is uniform in [0, min(Max, Initial × Multiplier^(n-1)))), as long as the
// errors are Retryable and the context lasts. The zero value is usable:
// every field has a default.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, the first included. Default 4.
	MaxAttempts int
	// Initial bounds the first wait. Default 100 ms.
	Initial time.Duration
	// Max caps every wait. Default 10 s (or Initial, if larger).
	Max time.Duration
	// Multiplier grows the bound from one wait to the next. Default 2; at
	// least 1.
	Multiplier float64
	// AttemptTimeout, if set, bounds each attempt: it gets a context that
	// ends after that long (and with the caller's), and an attempt cut by
	// it may be retried.
	AttemptTimeout time.Duration
	// Retryable tells whether an error may be retried. Default
	// DefaultRetryable.
	Retryable func(err error) bool
	// Rand returns numbers in [0, 1) for the jitter. Default math/rand/v2's
	// Float64; give a seeded one for repeatable waits.
	Rand func() float64
	// Clock times the waits. Default clock.Real.
	Clock clock.Clock
}

// DefaultRetryable retries what may pass: a lost or impossible connection
// (proc.ErrNoConnection), an attempt that timed out
// (context.DeadlineExceeded), a full mailbox (proc.ErrMailboxFull) and a
// process that exited before answering (*proc.ExitError: its supervisor may
// have restarted it). An open circuit breaker (ErrOpen) is not retried: it
// fails fast on purpose.
func DefaultRetryable(err error) bool {
	if errors.Is(err, ErrOpen) {
		return false
	}
	var exit *proc.ExitError
	return errors.Is(err, proc.ErrNoConnection) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, proc.ErrMailboxFull) || errors.As(err, &exit)
}

// Validate reports a policy that cannot work.
func (p RetryPolicy) Validate() error {
	switch {
	case p.MaxAttempts < 0:
		return fmt.Errorf("resilience: negative MaxAttempts %d", p.MaxAttempts)
	case p.Initial < 0 || p.Max < 0 || p.AttemptTimeout < 0:
		return fmt.Errorf("resilience: negative Initial %v, Max %v or AttemptTimeout %v", p.Initial, p.Max, p.AttemptTimeout)
	case p.Multiplier != 0 && (p.Multiplier < 1 || math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0)):
		return fmt.Errorf("resilience: Multiplier %v is not a finite number ≥ 1", p.Multiplier)
	}
	return nil
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 4
	}
	if p.Initial == 0 {
		p.Initial = 100 * time.Millisecond
	}
	if p.Max == 0 {
		p.Max = max(10*time.Second, p.Initial)
	}
	if p.Multiplier == 0 {
		p.Multiplier = 2
	}
	if p.Retryable == nil {
		p.Retryable = DefaultRetryable
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	if p.Clock == nil {
		p.Clock = clock.Real
	}
	return p
}

// Bound returns the upper bound of the wait after attempt number attempt
// (from 1) failed: min(Max, Initial × Multiplier^(attempt-1)). It is pure.
func (p RetryPolicy) Bound(attempt int) time.Duration {
	p = p.withDefaults()
	d := float64(p.Initial)
	for i := 1; i < attempt && d < float64(p.Max); i++ {
		d *= p.Multiplier
	}
	if d >= float64(p.Max) {
		return p.Max
	}
	return time.Duration(d)
}

// Delay returns the wait after attempt number attempt failed, for a random
// u in [0, 1): u × Bound(attempt). It is pure.
func (p RetryPolicy) Delay(attempt int, u float64) time.Duration {
	return time.Duration(u * float64(p.Bound(attempt)))
}

// RetryError is the error of an operation Retry gave up on.
type RetryError struct {
	Attempts int   // attempts made
	Err      error // the last attempt's error
	// Ctx is the context's error when the context ended the retries (also
	// context.DeadlineExceeded when the next attempt would have started
	// after the context's deadline); nil when the attempts ran out or the
	// error was not retryable.
	Ctx error
}

// Error tells how many attempts failed and how the last did.
func (e *RetryError) Error() string {
	if e.Ctx != nil {
		return fmt.Sprintf("resilience: gave up after %d attempts (%v): %v", e.Attempts, e.Ctx, e.Err)
	}
	return fmt.Sprintf("resilience: gave up after %d attempts: %v", e.Attempts, e.Err)
}

// Unwrap returns the last error and the context's, so errors.Is and
// errors.As see both.
func (e *RetryError) Unwrap() []error {
	if e.Ctx != nil {
		return []error{e.Err, e.Ctx}
	}
	return []error{e.Err}
}

// Retry runs op until it succeeds, its error is not retryable, the
// attempts run out or ctx ends, waiting between attempts as the policy
// says. It returns nil or a *RetryError. Use it only for idempotent
// operations: an attempt that timed out may have taken effect. An invalid
// policy is an error before any attempt.
func Retry(ctx context.Context, p RetryPolicy, op func(ctx context.Context) error) error {
	_, err := RetryValue(ctx, p, func(ctx context.Context) (struct{}, error) { return struct{}{}, op(ctx) })
	return err
}

// RetryValue is Retry for an operation with a result.
func RetryValue[T any](ctx context.Context, p RetryPolicy, op func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	if err := p.Validate(); err != nil {
		return zero, err
	}
	p = p.withDefaults()
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return zero, &RetryError{Attempts: attempt - 1, Err: err, Ctx: err}
		}
		v, err := runAttempt(ctx, p, op)
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return zero, &RetryError{Attempts: attempt, Err: err, Ctx: ctx.Err()}
		}
		if attempt >= p.MaxAttempts || !p.Retryable(err) {
			return zero, &RetryError{Attempts: attempt, Err: err}
		}
		wait := p.Delay(attempt, p.Rand())
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return zero, &RetryError{Attempts: attempt, Err: err, Ctx: context.DeadlineExceeded}
		}
		if werr := sleep(ctx, p.Clock, wait); werr != nil {
			return zero, &RetryError{Attempts: attempt, Err: err, Ctx: werr}
		}
	}
}

func runAttempt[T any](ctx context.Context, p RetryPolicy, op func(ctx context.Context) (T, error)) (T, error) {
	if p.AttemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.AttemptTimeout)
		defer cancel()
	}
	return op(ctx)
}

// sleep waits d on clk, or until ctx ends.
func sleep(ctx context.Context, clk clock.Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	ch := make(chan struct{})
	t := clk.AfterFunc(d, func() { close(ch) })
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

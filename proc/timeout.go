package proc

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// DefaultCallTimeout is how long a call waits for its answer when its
// context has no deadline, as OTP's gen_server:call waits 5 s by default.
// Config.CallTimeout changes it for a runtime.
const DefaultCallTimeout = 5 * time.Second

// ErrTimeout is the error of a call that got no answer within the runtime's
// default call timeout. It wraps context.DeadlineExceeded, so code that
// checks for a timeout with errors.Is finds it either way.
var ErrTimeout = fmt.Errorf("proc: no answer within the default call timeout: %w", context.DeadlineExceeded)

type noTimeoutKey struct{}

// WithoutTimeout returns a context under which calls wait for as long as
// ctx allows, without the runtime's default call timeout: OTP's infinity.
// A deadline of ctx still applies.
func WithoutTimeout(ctx context.Context) context.Context {
	return context.WithValue(ctx, noTimeoutKey{}, true)
}

// unbounded reports whether a call under ctx waits without the default
// timeout.
func unbounded(ctx context.Context) bool {
	if _, ok := ctx.Deadline(); ok {
		return true
	}
	return ctx.Value(noTimeoutKey{}) != nil
}

// callClock measures the default call timeout without a timer per call:
// the sweeper advances it every period, closing the channel of the epoch
// that ends, and a call waiting without a deadline notes the epoch it
// started in and gives up once span+1 epochs have passed. A call so times
// out between the timeout and one period later; the period is a tenth of
// the timeout. A timeout under ten sweeper ticks (1 s) is measured with a
// timer per call instead (precise), as the ticks would be too coarse.
type callClock struct {
	cur     atomic.Pointer[callEpoch]
	span    uint64 // epochs in a timeout; 0 when calls have no default timeout
	every   uint64 // sweeper ticks per epoch
	ticks   uint64 // sweeper ticks since the epoch began; the sweeper's own
	period  time.Duration
	limit   time.Duration
	precise bool  // a timer per call
	expired error // the cause of a timed-out call, made once
}

type callEpoch struct {
	n    uint64
	done chan struct{} // closed when the epoch ends
}

func (c *callClock) init(timeout time.Duration) {
	c.cur.Store(&callEpoch{done: make(chan struct{})})
	if timeout <= 0 {
		return
	}
	c.limit = timeout
	c.expired = fmt.Errorf("%w (%v)", ErrTimeout, timeout)
	c.precise = timeout < 10*retirePeriod
	c.every = max(1, uint64(timeout/10/retirePeriod))
	c.period = time.Duration(c.every) * retirePeriod
	c.span = uint64((timeout + c.period - 1) / c.period)
}

// tick is called by the sweeper on each of its ticks.
func (c *callClock) tick() {
	if c.span == 0 || c.precise {
		return
	}
	if c.ticks++; c.ticks < c.every {
		return
	}
	c.ticks = 0
	old := c.cur.Load()
	c.cur.Store(&callEpoch{n: old.n + 1, done: make(chan struct{})})
	close(old.done)
}

// deadline is what a call waits on for the default timeout: the current
// epoch and the number of the epoch in which it times out, or nil when
// ctx decides alone.
func (c *callClock) deadline(ctx context.Context) (*callEpoch, uint64) {
	if c.span == 0 || unbounded(ctx) {
		return nil, 0
	}
	ep := c.cur.Load()
	return ep, ep.n + c.span + 1
}

// timedOut is the error of a call that ran out of the default timeout.
// It is made once: every call to another node bounds its context with it
// as the cause, and formatting it per call took 4 % of the calling
// process's CPU in a remote round trip.
func (c *callClock) timedOut() error { return c.expired }

// boundRemote bounds the context of a call to another node by the default
// timeout: such a call waits in the distribution layer, on its context.
func (rt *Runtime) boundRemote(ctx context.Context) (context.Context, context.CancelFunc) {
	if rt.calls.span == 0 || unbounded(ctx) {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, rt.calls.limit, rt.calls.timedOut())
}

// remoteErr turns the deadline error of a call bounded by boundRemote into
// ErrTimeout.
func remoteErr(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		if cause := context.Cause(ctx); errors.Is(cause, ErrTimeout) {
			return cause
		}
	}
	return err
}

package resilience

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/grovedev/grove/clock"
)

// ErrOpen is returned, without calling anything, by a breaker that is open
// (or half-open with all its trial calls in flight): the operation behind
// it failed too often lately. The error's text tells when it may be tried
// again.
var ErrOpen = errors.New("resilience: circuit breaker open")

// State is where a circuit breaker stands.
type State int

// Breaker states.
const (
	// Closed lets every call through and counts failures.
	Closed State = iota
	// Open fails every call at once with ErrOpen, until OpenTimeout has
	// passed since it opened.
	Open
	// HalfOpen lets a bounded number of trial calls through: their success
	// closes the breaker, a failure opens it again.
	HalfOpen
)

// String returns "closed", "open" or "half-open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Outcome is how a call's result counts for a breaker.
type Outcome int

// Outcomes.
const (
	// Success counts as a success.
	Success Outcome = iota
	// Failure counts as a failure.
	Failure
	// Ignore counts as nothing: the call's trial slot is freed, no more.
	Ignore
)

// Classifier tells how a call's error counts for a breaker.
type Classifier func(err error) Outcome

// DefaultClassifier counts nil as a success, the caller's own cancellation
// (context.Canceled) as nothing, and every other error as a failure.
func DefaultClassifier(err error) Outcome {
	switch {
	case err == nil:
		return Success
	case errors.Is(err, context.Canceled):
		return Ignore
	}
	return Failure
}

// BreakerConfig tunes a Breaker. The zero value is usable: every field has
// a default.
type BreakerConfig struct {
	// ConsecutiveFailures opens the breaker after this many failures in a
	// row. Zero means 5; -1 disables this trigger.
	ConsecutiveFailures int
	// FailureRate, between 0 and 1, opens the breaker when at least this
	// share of the calls in the last Window failed, once the window holds
	// MinRequests calls. Zero disables this trigger.
	FailureRate float64
	// Window is the span of the failure rate, counted in ten buckets.
	// Default 10 s.
	Window time.Duration
	// MinRequests is how many calls the window must hold before the rate
	// counts. Default 10.
	MinRequests int
	// OpenTimeout is how long the breaker stays open before letting trial
	// calls through. Default 5 s. It also bounds a trial call: one that
	// has not reported its outcome after that long counts as failed
	// (BreakerStats.Expired), so that a Done never called cannot keep the
	// breaker half-open for ever.
	OpenTimeout time.Duration
	// MaxOpenTimeout, if above OpenTimeout, makes the open period grow
	// while the node stays bad, as Akka's maxResetTimeout: each time a
	// trial fails, the next open period is OpenBackoff times the last, up
	// to MaxOpenTimeout; closing the breaker starts again from
	// OpenTimeout. Zero keeps every open period at OpenTimeout.
	MaxOpenTimeout time.Duration
	// OpenBackoff is the growth of the open period (see MaxOpenTimeout).
	// Default 2; at least 1.
	OpenBackoff float64
	// HalfOpenCalls bounds the trial calls in flight while half-open; that
	// many successes close the breaker. Default 1.
	HalfOpenCalls int
	// Classify tells how an error counts. Default DefaultClassifier.
	Classify Classifier
	// OnStateChange is told of every change of state, with the breaker's
	// lock held: it must be quick and must not call the breaker.
	OnStateChange func(from, to State)
	// Clock is the source of time. Default clock.Real.
	Clock clock.Clock
}

// windowBuckets is the number of buckets of the failure-rate window.
const windowBuckets = 10

// Validate reports a configuration that cannot work.
func (c BreakerConfig) Validate() error {
	switch {
	case c.ConsecutiveFailures < -1:
		return fmt.Errorf("resilience: ConsecutiveFailures %d (use -1 to disable)", c.ConsecutiveFailures)
	case c.FailureRate < 0 || c.FailureRate > 1 || math.IsNaN(c.FailureRate):
		return fmt.Errorf("resilience: FailureRate %v is not between 0 and 1", c.FailureRate)
	case c.Window < 0, c.OpenTimeout < 0:
		return fmt.Errorf("resilience: negative Window %v or OpenTimeout %v", c.Window, c.OpenTimeout)
	case c.MaxOpenTimeout < 0:
		return fmt.Errorf("resilience: negative MaxOpenTimeout %v", c.MaxOpenTimeout)
	case c.MaxOpenTimeout > 0 && c.MaxOpenTimeout < c.withDefaults().OpenTimeout:
		return fmt.Errorf("resilience: MaxOpenTimeout %v below OpenTimeout %v", c.MaxOpenTimeout, c.withDefaults().OpenTimeout)
	case c.OpenBackoff != 0 && (c.OpenBackoff < 1 || math.IsNaN(c.OpenBackoff) || math.IsInf(c.OpenBackoff, 0)):
		return fmt.Errorf("resilience: OpenBackoff %v is not a finite number ≥ 1", c.OpenBackoff)
	case c.MinRequests < 0, c.HalfOpenCalls < 0:
		return fmt.Errorf("resilience: negative MinRequests %d or HalfOpenCalls %d", c.MinRequests, c.HalfOpenCalls)
	case c.ConsecutiveFailures == -1 && c.FailureRate == 0:
		return errors.New("resilience: both triggers disabled: the breaker would never open")
	}
	return nil
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = 5
	}
	if c.Window == 0 {
		c.Window = 10 * time.Second
	}
	if c.MinRequests == 0 {
		c.MinRequests = 10
	}
	if c.OpenTimeout == 0 {
		c.OpenTimeout = 5 * time.Second
	}
	if c.MaxOpenTimeout == 0 {
		c.MaxOpenTimeout = c.OpenTimeout
	}
	if c.OpenBackoff == 0 {
		c.OpenBackoff = 2
	}
	if c.HalfOpenCalls == 0 {
		c.HalfOpenCalls = 1
	}
	if c.Classify == nil {
		c.Classify = DefaultClassifier
	}
	if c.Clock == nil {
		c.Clock = clock.Real
	}
	return c
}

// BreakerStats is a snapshot of a breaker, for metrics and inspection.
type BreakerStats struct {
	State State
	// ConsecutiveFailures is the current run of failures (closed).
	ConsecutiveFailures int
	// WindowCalls and WindowFailures count the calls of the failure-rate
	// window (closed).
	WindowCalls, WindowFailures int
	// Probes is the number of trial calls in flight (half-open).
	Probes int
	// OpenUntil is when an open breaker lets trial calls through.
	OpenUntil time.Time
	// Totals since the breaker was made. Expired counts the trial calls
	// that did not report within OpenTimeout (their late outcome counts
	// in the other totals, not in the state).
	Successes, Failures, Ignored, Rejected, Opened, Expired uint64
}

// breakerCore is the deterministic state machine of a breaker: every
// method takes the time and does nothing else.
type breakerCore struct {
	cfg         BreakerConfig // with defaults
	state       State
	gen         uint64 // changes with every state change: older tickets are stale
	consecutive int
	win         window
	openedAt    time.Time
	openFor     time.Duration // the current open period
	probes      []probe       // trial calls in flight, oldest first
	nextProbe   uint64
	trialsOK    int // successful trial calls
	stats       BreakerStats
	notify      []stateChange // changes to tell, taken by the Breaker
}

type stateChange struct{ from, to State }

// probe is a trial call in flight.
type probe struct {
	id    uint64
	start time.Time
}

// ticket is a call let through, to be recorded with its outcome.
type ticket struct {
	gen   uint64
	probe uint64 // the trial call's id, 0 for a call let through closed
}

func newBreakerCore(cfg BreakerConfig, now time.Time) *breakerCore {
	c := &breakerCore{cfg: cfg, win: newWindow(cfg.Window, windowBuckets, now), openFor: cfg.OpenTimeout}
	c.win.reset()
	return c
}

func (c *breakerCore) setState(to State, now time.Time) {
	if to == c.state {
		return
	}
	from := c.state
	c.notify = append(c.notify, stateChange{from, to})
	c.state = to
	c.gen++
	c.consecutive, c.probes, c.trialsOK = 0, c.probes[:0], 0
	c.win.reset()
	switch to {
	case Open:
		c.openedAt = now
		c.stats.Opened++
		if from == HalfOpen {
			// A failed trial: the node is still bad, wait longer.
			c.openFor = min(time.Duration(float64(c.openFor)*c.cfg.OpenBackoff), c.cfg.MaxOpenTimeout)
		}
	case Closed:
		c.openFor = c.cfg.OpenTimeout
	}
}

// advance moves an open breaker whose time is up to half-open, and opens
// again a half-open one whose oldest trial call is overdue.
func (c *breakerCore) advance(now time.Time) {
	if c.state == Open && !now.Before(c.openedAt.Add(c.openFor)) {
		c.setState(HalfOpen, now)
	}
	if c.state == HalfOpen && len(c.probes) > 0 && !now.Before(c.probes[0].start.Add(c.cfg.OpenTimeout)) {
		c.stats.Expired++
		c.setState(Open, now)
	}
}

// allow lets a call through, or refuses it with an error wrapping ErrOpen.
func (c *breakerCore) allow(now time.Time) (ticket, error) {
	c.advance(now)
	switch c.state {
	case Open:
		c.stats.Rejected++
		return ticket{}, fmt.Errorf("%w (until %s)", ErrOpen, c.openedAt.Add(c.openFor).Format(time.RFC3339Nano))
	case HalfOpen:
		if len(c.probes) >= c.cfg.HalfOpenCalls {
			c.stats.Rejected++
			return ticket{}, fmt.Errorf("%w (half-open, %d trial calls in flight)", ErrOpen, len(c.probes))
		}
		c.nextProbe++
		c.probes = append(c.probes, probe{id: c.nextProbe, start: now})
		return ticket{gen: c.gen, probe: c.nextProbe}, nil
	}
	return ticket{gen: c.gen}, nil
}

// record counts the outcome of the call t let through. The outcome of a
// call let through before the last change of state is counted in the
// totals only.
func (c *breakerCore) record(t ticket, o Outcome, now time.Time) {
	switch o {
	case Success:
		c.stats.Successes++
	case Failure:
		c.stats.Failures++
	default:
		c.stats.Ignored++
	}
	c.advance(now)
	if t.gen != c.gen {
		return
	}
	switch c.state {
	case Closed:
		switch o {
		case Success:
			c.consecutive = 0
			c.win.add(now, false)
		case Failure:
			c.consecutive++
			c.win.add(now, true)
			if c.tripped(now) {
				c.setState(Open, now)
			}
		}
	case HalfOpen:
		c.probes = slices.DeleteFunc(c.probes, func(p probe) bool { return p.id == t.probe })
		switch o {
		case Success:
			c.trialsOK++
			if c.trialsOK >= c.cfg.HalfOpenCalls {
				c.setState(Closed, now)
			}
		case Failure:
			c.setState(Open, now)
		}
	}
}

// tripped reports whether a closed breaker must open.
func (c *breakerCore) tripped(now time.Time) bool {
	if n := c.cfg.ConsecutiveFailures; n > 0 && c.consecutive >= n {
		return true
	}
	if c.cfg.FailureRate > 0 {
		total, failures := c.win.counts(now)
		return total >= c.cfg.MinRequests && float64(failures) >= c.cfg.FailureRate*float64(total)
	}
	return false
}

func (c *breakerCore) snapshot(now time.Time) BreakerStats {
	c.advance(now)
	s := c.stats
	s.State = c.state
	s.ConsecutiveFailures = c.consecutive
	s.WindowCalls, s.WindowFailures = c.win.counts(now)
	s.Probes = len(c.probes)
	if c.state == Open {
		s.OpenUntil = c.openedAt.Add(c.openFor)
	}
	return s
}

// Breaker is a circuit breaker: it lets calls through while they succeed,
// fails them fast with ErrOpen once they fail too often (ConsecutiveFailures
// in a row, or a FailureRate over a Window), and after OpenTimeout lets a
// few trial calls through, whose success closes it again. It is safe for
// concurrent use; it starts no goroutine and sets no timer.
type Breaker struct {
	clk      clock.Clock
	classify Classifier
	onChange func(from, to State)
	mu       struct {
		sync.Mutex
		c *breakerCore
	}
}

// NewBreaker returns a closed breaker.
func NewBreaker(cfg BreakerConfig) (*Breaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	b := &Breaker{clk: cfg.Clock, classify: cfg.Classify, onChange: cfg.OnStateChange}
	b.mu.c = newBreakerCore(cfg, cfg.Clock.Now())
	return b, nil
}

// Done records the outcome of a call that Allow let through: pass the
// call's error (nil for a success). Only its first call counts. A trial
// call (half-open) whose Done is not called within OpenTimeout counts as
// failed.
type Done func(err error)

// Allow asks to make a call: it returns a Done to call with the call's
// error, or an error wrapping ErrOpen when the call must not be made.
func (b *Breaker) Allow() (Done, error) {
	b.mu.Lock()
	t, err := b.mu.c.allow(b.clk.Now())
	b.tellLocked()
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func(err error) {
		once.Do(func() {
			o := Ignore
			if err != errDidNotReturn {
				o = b.classify(err)
			}
			b.record(t, o)
		})
	}, nil
}

func (b *Breaker) record(t ticket, o Outcome) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.c.record(t, o, b.clk.Now())
	b.tellLocked()
}

// tellLocked reports the state changes of the last step.
func (b *Breaker) tellLocked() {
	c := b.mu.c
	if b.onChange != nil {
		for _, ch := range c.notify {
			b.onChange(ch.from, ch.to)
		}
	}
	c.notify = c.notify[:0]
}

// Do calls f through the breaker: it fails with ErrOpen without calling f
// when the breaker refuses, else returns f's error after recording it. A
// panic of f (or a runtime.Goexit) counts as nothing: its trial slot, if
// any, is freed, and the panic goes on.
func (b *Breaker) Do(f func() error) error {
	done, err := b.Allow()
	if err != nil {
		return err
	}
	return b.run(done, f)
}

// run calls f and records its outcome with done, or Ignore when f does
// not return.
func (b *Breaker) run(done Done, f func() error) error {
	returned := false
	defer func() {
		if !returned {
			done(errDidNotReturn)
		}
	}()
	err := f()
	returned = true
	done(err)
	return err
}

// errDidNotReturn is recorded for a call that panicked or exited its
// goroutine: it counts as nothing, whatever the Classifier.
var errDidNotReturn = errors.New("resilience: call did not return")

// State returns the breaker's state now.
func (b *Breaker) State() State { return b.Stats().State }

// Stats returns a snapshot of the breaker.
func (b *Breaker) Stats() BreakerStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.mu.c.snapshot(b.clk.Now())
	b.tellLocked()
	return s
}

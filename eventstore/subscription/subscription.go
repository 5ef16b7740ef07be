package subscription

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/grovedev/grove/eventstore"
)

// Handler handles a batch of events in position order. A nil return means
// handled; an error means nothing of the batch may be taken as handled. It
// is never called concurrently with itself.
type Handler func(ctx context.Context, events []eventstore.RecordedEvent) error

// ErrorPolicy says what to do when a read or the handler fails.
type ErrorPolicy int

const (
	// Retry retries the same batch with exponential backoff (default).
	Retry ErrorPolicy = iota
	// Stop ends the subscription; Err reports why.
	Stop
)

// Config describes a subscription. Zero fields mean the defaults.
type Config struct {
	// Name makes the subscription persistent: its checkpoint is kept
	// under this name. Empty: transient.
	Name string
	// From is the first position to deliver when there is no checkpoint
	// (transient subscriptions always start here). 0 delivers everything;
	// FromEnd delivers only events appended after Start.
	From uint64
	// Checkpoints keeps the checkpoint of a persistent subscription.
	// Default: the store, when it implements eventstore.Checkpoints.
	Checkpoints eventstore.Checkpoints
	// HandlerCheckpoints: the handler commits the checkpoint itself (with
	// its own work, in one transaction); the subscription only loads it at
	// start.
	HandlerCheckpoints bool
	// Filter, when set, keeps only the events it returns true for (the
	// position still advances past the others).
	Filter func(eventstore.RecordedEvent) bool
	// BatchSize bounds a batch. Default 500.
	BatchSize int
	// PollInterval is how often the store is read without a wake-up.
	// Default 1 s.
	PollInterval time.Duration
	// MaxBackoff bounds the wait between retries. Default 5 s.
	MaxBackoff time.Duration
	// OnError chooses what a failure does. Default Retry.
	OnError ErrorPolicy
	// Locker, when set, makes the subscription run on one process at a
	// time (it requires Name).
	Locker eventstore.Locker
	// Logger receives failures. Default slog.Default().
	Logger *slog.Logger
}

// FromEnd as Config.From starts at the store's head.
const FromEnd = ^uint64(0)

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.BatchSize < 0:
		return fmt.Errorf("subscription: BatchSize %d is negative", c.BatchSize)
	case c.PollInterval < 0 || c.MaxBackoff < 0:
		return errors.New("subscription: negative PollInterval or MaxBackoff")
	case c.Locker != nil && c.Name == "":
		return errors.New("subscription: a Locker needs a Name")
	case c.HandlerCheckpoints && c.Name == "":
		return errors.New("subscription: HandlerCheckpoints needs a Name")
	}
	return nil
}

func (c Config) withDefaults(s eventstore.Store) Config {
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.Checkpoints == nil {
		c.Checkpoints = checkpointsOf(s)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// checkpointsOf finds the checkpoints of a store, looking through wrappers
// (WithUpcasters) that offer Unwrap.
func checkpointsOf(s eventstore.Store) eventstore.Checkpoints {
	for s != nil {
		if c, ok := s.(eventstore.Checkpoints); ok {
			return c
		}
		u, ok := s.(interface{ Unwrap() eventstore.Store })
		if !ok {
			return nil
		}
		s = u.Unwrap()
	}
	return nil
}

// Subscription delivers events to a handler until closed. Its methods are
// safe for concurrent use.
type Subscription struct {
	cfg     Config
	store   eventstore.Store
	handle  Handler
	cancel  context.CancelFunc
	done    chan struct{}
	closeMu sync.Once

	mu struct {
		sync.Mutex
		pos     uint64 // the last position handled (or skipped)
		running bool   // holds the lock (always, without a Locker)
		err     error  // why it stopped
		waiters []waiter
	}
}

type waiter struct {
	pos uint64
	ch  chan struct{}
}

// Start starts a subscription. It returns once the subscription's
// goroutine runs; the first batch is delivered from there.
func Start(ctx context.Context, store eventstore.Store, cfg Config, h Handler) (*Subscription, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults(store)
	if cfg.Name != "" && cfg.Checkpoints == nil {
		return nil, errors.New("subscription: a persistent subscription needs Config.Checkpoints (the store keeps none)")
	}
	if cfg.From == FromEnd {
		h, err := store.Head(ctx)
		if err != nil {
			return nil, err
		}
		cfg.From = h + 1
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &Subscription{cfg: cfg, store: store, handle: h, cancel: cancel, done: make(chan struct{})}
	if cfg.From > 0 {
		s.mu.pos = cfg.From - 1
	}
	go s.run(runCtx)
	return s, nil
}

// Position returns the last position handled.
func (s *Subscription) Position() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.pos
}

// Running reports whether this subscription holds its lock (always true
// without a Locker, once started).
func (s *Subscription) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.running
}

// Err returns why the subscription stopped, nil while it runs or after
// Close.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.err
}

// Done is closed when the subscription has stopped.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// WaitFor blocks until the subscription has handled every event up to pos,
// the subscription stops, or ctx ends.
func (s *Subscription) WaitFor(ctx context.Context, pos uint64) error {
	s.mu.Lock()
	if s.mu.pos >= pos {
		s.mu.Unlock()
		return nil
	}
	w := waiter{pos: pos, ch: make(chan struct{})}
	s.mu.waiters = append(s.mu.waiters, w)
	s.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-s.done:
		if s.Position() >= pos {
			return nil
		}
		if err := s.Err(); err != nil {
			return err
		}
		return eventstore.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the subscription and waits for its goroutine; a handler
// running is cancelled through its context. It is idempotent.
func (s *Subscription) Close() error {
	s.closeMu.Do(func() {
		s.cancel()
		<-s.done
	})
	return nil
}

func (s *Subscription) advance(pos uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.pos = pos
	kept := s.mu.waiters[:0]
	for _, w := range s.mu.waiters {
		if w.pos <= pos {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	s.mu.waiters = kept
}

func (s *Subscription) setRunning(on bool) {
	s.mu.Lock()
	s.mu.running = on
	s.mu.Unlock()
}

func (s *Subscription) run(ctx context.Context) {
	defer close(s.done)
	wake, cancelWatch := s.store.Watch()
	defer cancelWatch()
	b := backoff{max: s.cfg.MaxBackoff}
	for ctx.Err() == nil {
		err := s.session(ctx, wake, &b)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errLost) {
			s.cfg.Logger.Info("subscription: lost the lock; acquiring it again", "name", s.cfg.Name)
			continue
		}
		if err != nil && s.cfg.OnError == Stop {
			s.mu.Lock()
			s.mu.err = err
			s.mu.Unlock()
			return
		}
		if err != nil {
			s.cfg.Logger.Warn("subscription: failed; retrying", "name", s.cfg.Name, "err", err, "after", b.next())
		}
		if !sleep(ctx, b.wait()) {
			return
		}
	}
}

// session runs while the lock is held (or, without a Locker, until an
// error): loads the checkpoint, then delivers.
func (s *Subscription) session(ctx context.Context, wake <-chan struct{}, b *backoff) (err error) {
	cp := s.cfg.Checkpoints
	if s.cfg.Locker != nil {
		lease, err := s.cfg.Locker.Acquire(ctx, "subscription:"+s.cfg.Name)
		if err != nil {
			return fmt.Errorf("subscription %s: acquiring the lock: %w", s.cfg.Name, err)
		}
		defer lease.Release(context.Background())
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(context.WithValue(ctx, leaseKey{}, lease))
		defer cancel()
		go func() {
			select {
			case <-lease.Lost():
				cancel()
			case <-ctx.Done():
			}
		}()
		defer func() {
			select {
			case <-lease.Lost():
				err = errLost
			default:
			}
		}()
		if fenced, ok := lease.(eventstore.Checkpoints); ok {
			cp = fenced
		}
	}
	if s.cfg.Name != "" {
		p, ok, err := cp.LoadCheckpoint(ctx, s.cfg.Name)
		if err != nil {
			return fmt.Errorf("subscription %s: loading the checkpoint: %w", s.cfg.Name, err)
		}
		if ok {
			s.advance(p)
		}
	}
	s.setRunning(true)
	defer s.setRunning(false)
	poll := time.NewTimer(s.cfg.PollInterval)
	defer poll.Stop()
	for {
		pos := s.Position()
		evs, err := s.store.ReadAll(ctx, pos+1, s.cfg.BatchSize, eventstore.Forward)
		if err != nil {
			return fmt.Errorf("subscription %s: reading from %d: %w", s.cfg.Name, pos+1, err)
		}
		if len(evs) == 0 {
			b.reset()
			poll.Reset(s.cfg.PollInterval)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-wake:
			case <-poll.C:
			}
			continue
		}
		last := evs[len(evs)-1].Position
		batch := evs
		if s.cfg.Filter != nil {
			batch = batch[:0:0]
			for _, e := range evs {
				if s.cfg.Filter(e) {
					batch = append(batch, e)
				}
			}
		}
		if len(batch) > 0 {
			if err := s.handle(ctx, batch); err != nil {
				return fmt.Errorf("subscription %s: handler at %d: %w", s.cfg.Name, batch[0].Position, err)
			}
		}
		if s.cfg.Name != "" && !s.cfg.HandlerCheckpoints {
			// The batch is handled: record it even if Close came meanwhile,
			// so that the next holder does not get it again.
			saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			err := cp.SaveCheckpoint(saveCtx, s.cfg.Name, last)
			cancel()
			if err != nil {
				return fmt.Errorf("subscription %s: saving the checkpoint: %w", s.cfg.Name, err)
			}
		}
		s.advance(last)
		b.reset()
	}
}

// errLost ends a session whose lease was lost: not a failure.
var errLost = errors.New("subscription: lease lost")

type leaseKey struct{}

// LeaseFrom returns the lease a subscription with a Locker holds, from the
// context it gives its handler, so that a handler that commits its own
// checkpoint can fence its transaction with it (pgstore.Lease.CheckTx).
func LeaseFrom(ctx context.Context) (eventstore.Lease, bool) {
	l, ok := ctx.Value(leaseKey{}).(eventstore.Lease)
	return l, ok
}

type backoff struct {
	max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		return 10 * time.Millisecond
	}
	return b.cur
}

func (b *backoff) wait() time.Duration {
	d := b.next()
	b.cur = min(2*d, b.max)
	return d
}

func (b *backoff) reset() { b.cur = 0 }

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

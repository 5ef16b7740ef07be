package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/clock"
)

// Defaults of PollerConfig.
const (
	// DefaultPollInterval is the time between polls when
	// PollerConfig.Interval is zero (libcluster's DNS poll default).
	DefaultPollInterval = 5 * time.Second
	// DefaultPollTimeout bounds one poll when PollerConfig.Timeout is zero.
	DefaultPollTimeout = 10 * time.Second
)

// PollerConfig tunes a Poller. Zero fields take their defaults.
type PollerConfig struct {
	// Interval is the time from the end of one poll to the start of the
	// next; zero means DefaultPollInterval. It is measured on Clock.
	Interval time.Duration
	// Timeout bounds each call of the strategy's Discover; zero means
	// DefaultPollTimeout. It is measured on the machine's clock (it becomes
	// the deadline of Discover's context).
	Timeout time.Duration
	// Clock schedules the polls; nil means clock.Real.
	Clock clock.Clock
	// Logger receives a warning for every failed poll and for every peer
	// the strategy returned that fails Peer.Validate; nil means
	// slog.Default().
	Logger *slog.Logger
}

// DefaultPollerConfig returns the configuration a zero PollerConfig stands
// for, with every default filled in.
func DefaultPollerConfig() PollerConfig {
	return PollerConfig{
		Interval: DefaultPollInterval,
		Timeout:  DefaultPollTimeout,
		Clock:    clock.Real,
		Logger:   slog.Default(),
	}
}

// Validate reports a configuration error, wrapping ErrInvalidConfig.
func (c PollerConfig) Validate() error {
	if c.Interval < 0 {
		return fmt.Errorf("%w: negative poll interval %v", ErrInvalidConfig, c.Interval)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("%w: negative poll timeout %v", ErrInvalidConfig, c.Timeout)
	}
	return nil
}

func (c PollerConfig) withDefaults() PollerConfig {
	d := DefaultPollerConfig()
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.Clock == nil {
		c.Clock = d.Clock
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

// Update is what a Poller reports after a poll that found something new.
type Update struct {
	// Peers is every peer the poller knows: the union of all answers since
	// it started, less the peers removed with Forget, sorted by name and
	// address.
	Peers []Peer
	// Added lists the peers of Peers that this poll found for the first
	// time.
	Added []Peer
	// Refreshed lists the peers of Peers that this poll found under a known
	// name with a new address (a pod rescheduled under the same name).
	Refreshed []Peer
}

// PollerStats counts what a Poller has done since it started.
type PollerStats struct {
	// Polls is the number of calls of Discover that have returned.
	Polls uint64
	// Errors is the number of those calls that returned an error.
	Errors uint64
	// EmptyAnswers is the number of calls that returned no peers and no
	// error.
	EmptyAnswers uint64
	// InvalidPeers is the number of returned peers that failed
	// Peer.Validate and were ignored.
	InvalidPeers uint64
	// Added is the number of peers reported in Update.Added.
	Added uint64
	// Refreshed is the number of peers reported in Update.Refreshed.
	Refreshed uint64
	// Known is the number of peers known now.
	Known int
}

// Poller runs a Strategy at an interval and reports what it finds.
//
// A Poller only ever adds to the peers it knows: a failed poll (a DNS
// SERVFAIL, a timeout, a Kubernetes 403) or an empty answer removes nothing
// and is not reported; the error is logged and counted in Stats. A peer
// missing from later answers stays known. Peers leave the cluster only
// through the membership protocol, which may call Forget so that a peer
// found again later is reported again as added.
//
// The first poll starts at once; each next one starts Interval after the
// previous one ended. The report callback runs on the poller's own
// goroutine, never concurrently with itself, in the order of the polls; a
// slow callback delays the next poll. The callback must not call Close or
// Refresh (they would wait for the callback). All methods are safe for
// concurrent use.
type Poller struct {
	strategy Strategy
	report   func(Update)
	cfg      PollerConfig

	ctx     context.Context
	cancel  context.CancelFunc
	tick    chan struct{}
	refresh chan chan error
	done    chan struct{}
	closed  atomic.Bool

	polls, errs, empty, invalid, added, refreshed atomic.Uint64

	mu struct {
		sync.Mutex
		known  map[string]Peer
		timer  clock.Timer
		closed bool
	}
}

// NewPoller starts polling s and calling report with every Update. The
// caller must Close the poller; it does not close s.
func NewPoller(s Strategy, report func(Update), cfg PollerConfig) (*Poller, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil strategy", ErrInvalidConfig)
	}
	if report == nil {
		return nil, fmt.Errorf("%w: nil report callback", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Poller{
		strategy: s,
		report:   report,
		cfg:      cfg.withDefaults(),
		tick:     make(chan struct{}, 1),
		refresh:  make(chan chan error),
		done:     make(chan struct{}),
	}
	p.mu.known = make(map[string]Peer)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	go p.run()
	return p, nil
}

// run is the poller's goroutine; it ends when Close cancels p.ctx.
func (p *Poller) run() {
	defer close(p.done)
	p.poll()
	p.schedule()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.tick:
			p.poll()
			p.schedule()
		case reply := <-p.refresh:
			reply <- p.poll()
		}
	}
}

// schedule arms the timer of the next poll.
func (p *Poller) schedule() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return
	}
	p.mu.timer = p.cfg.Clock.AfterFunc(p.cfg.Interval, func() {
		select {
		case p.tick <- struct{}{}:
		default:
		}
	})
}

// poll runs the strategy once and merges its answer.
func (p *Poller) poll() error {
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.Timeout)
	peers, err := p.strategy.Discover(ctx)
	cancel()
	if p.ctx.Err() != nil {
		return ErrClosed
	}
	p.polls.Add(1)
	// One peer per key: when an answer names a peer twice with different
	// addresses, the last in name-then-address order wins.
	var valid []Peer
	seen := make(map[string]int, len(peers))
	for _, peer := range sortPeers(peers) {
		if verr := peer.Validate(); verr != nil {
			p.invalid.Add(1)
			p.cfg.Logger.Warn("discovery: ignoring invalid peer", "strategy", describe(p.strategy), "peer", peer.String(), "err", verr)
			continue
		}
		if i, ok := seen[peer.key()]; ok {
			valid[i] = peer
			continue
		}
		seen[peer.key()] = len(valid)
		valid = append(valid, peer)
	}
	if err != nil {
		p.errs.Add(1)
	} else if len(peers) == 0 {
		p.empty.Add(1)
	}

	var u Update
	p.mu.Lock()
	for _, peer := range valid {
		k := peer.key()
		old, ok := p.mu.known[k]
		switch {
		case !ok:
			u.Added = append(u.Added, peer)
		case old.Addr != peer.Addr:
			u.Refreshed = append(u.Refreshed, peer)
		default:
			continue
		}
		p.mu.known[k] = peer
	}
	known := len(p.mu.known)
	if len(u.Added)+len(u.Refreshed) > 0 {
		u.Peers = p.peersLocked()
	}
	p.mu.Unlock()

	if err != nil {
		p.cfg.Logger.Warn("discovery: poll failed; keeping known peers", "strategy", describe(p.strategy), "err", err, "found", len(valid), "known", known)
	}
	if u.Peers == nil {
		return err
	}
	u.Added = sortPeers(u.Added)
	u.Refreshed = sortPeers(u.Refreshed)
	p.added.Add(uint64(len(u.Added)))
	p.refreshed.Add(uint64(len(u.Refreshed)))
	p.report(u)
	return err
}

func (p *Poller) peersLocked() []Peer {
	out := make([]Peer, 0, len(p.mu.known))
	for _, peer := range p.mu.known {
		out = append(out, peer)
	}
	return sortPeers(out)
}

// Refresh polls now, without waiting for the interval (the next scheduled
// poll keeps its time), and returns the
// strategy's error once the poll's Update (if any) has been reported. It
// returns ErrClosed after Close, and ctx's error if ctx ends first (the
// poll then still completes in the background).
func (p *Poller) Refresh(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case p.refresh <- reply:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.done:
		return ErrClosed
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Peers returns every peer the poller knows, sorted by name and address.
func (p *Poller) Peers() []Peer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peersLocked()
}

// Forget removes a peer (matched by name when it has one, else by address)
// from the known set, so that the next answer containing it reports it as
// added again. The membership layer calls it when a member has left or
// been declared dead. It reports whether the peer was known.
func (p *Poller) Forget(peer Peer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := peer.key()
	_, ok := p.mu.known[k]
	delete(p.mu.known, k)
	return ok
}

// Stats returns the poller's counters.
func (p *Poller) Stats() PollerStats {
	p.mu.Lock()
	known := len(p.mu.known)
	p.mu.Unlock()
	return PollerStats{
		Polls:        p.polls.Load(),
		Errors:       p.errs.Load(),
		EmptyAnswers: p.empty.Load(),
		InvalidPeers: p.invalid.Load(),
		Added:        p.added.Load(),
		Refreshed:    p.refreshed.Load(),
		Known:        known,
	}
}

// Close stops polling: it cancels a Discover in progress, stops the timer
// and waits for the poller's goroutine (and so for a report in progress) to
// end. It is idempotent and always returns nil. It must not be called from
// the report callback.
func (p *Poller) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		<-p.done
		return nil
	}
	p.cancel()
	p.mu.Lock()
	p.mu.closed = true
	if p.mu.timer != nil {
		p.mu.timer.Stop()
	}
	p.mu.Unlock()
	<-p.done
	return nil
}

// describe names a strategy for logs: its String when it has one.
func describe(s Strategy) string {
	if st, ok := s.(fmt.Stringer); ok {
		return st.String()
	}
	return fmt.Sprintf("%T", s)
}

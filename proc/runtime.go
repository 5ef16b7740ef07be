package proc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/clock"
	"github.com/grovedev/grove/internal/ratelog"
)

// Config tunes a Runtime. The zero value is usable: every field has a
// default.
type Config struct {
	// Node is the node name that PIDs carry, "name@host". Default
	// "nonode@nohost", as on an Erlang node without distribution.
	Node string
	// Clock is the source of time for timers. Default clock.Real.
	Clock clock.Clock
	// Logger receives crash reports and warnings. Default slog.Default().
	Logger *slog.Logger
	// DefaultMailboxBound bounds the mailbox of processes spawned without
	// their own bound. 0 means unbounded.
	DefaultMailboxBound int
	// CallTimeout is how long a call (Call, CallTo, Inspect and the other
	// system requests) waits for its answer when its context has no
	// deadline. 0 means DefaultCallTimeout (5 s, as OTP's gen_server:call);
	// a negative value means no limit: the context alone decides.
	// WithoutTimeout lifts it for one call.
	CallTimeout time.Duration
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.DefaultMailboxBound < 0 {
		return fmt.Errorf("proc: DefaultMailboxBound %d is negative", c.DefaultMailboxBound)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Node == "" {
		c.Node = "nonode@nohost"
	}
	if c.Clock == nil {
		c.Clock = clock.Real
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	return c
}

// Runtime runs the processes of one node. It is safe for concurrent use.
//
// A runtime owns every goroutine it starts: a process has a goroutine only
// while it has messages to handle, and Close stops every process and waits
// for those goroutines.
type Runtime struct {
	cfg      Config
	name     string
	creation uint64
	clock    clock.Clock
	log      *slog.Logger

	nextID  atomic.Uint64
	nextRef atomic.Uint64
	tracker atomic.Pointer[trackerBox] // told when tracked remote messages leave mailboxes
	table   table
	names   names
	active  sync.WaitGroup // goroutines running processes or timers' work
	goMu    sync.Mutex     // orders goCounted's Add before Close's wait
	goDone  bool           // Close waits for active: goCounted starts nothing
	ctx     context.Context
	cancel  context.CancelFunc
	closing atomic.Bool
	closed  chan struct{}
	sweep   sweeper
	remote  remoteHolder
	stats   struct {
		timerDrops atomic.Uint64
	}
	ratelog *ratelog.Limiter
	calls   callClock
}

// Stats are figures of a whole runtime.
type Stats struct {
	Processes int // live processes
	// DroppedTimerMessages counts the timer messages (SendAfter,
	// SendAfterTo, SendInterval) that a full bounded mailbox refused.
	DroppedTimerMessages uint64
}

// Stats returns the runtime's figures.
func (rt *Runtime) Stats() Stats {
	return Stats{Processes: rt.table.count(), DroppedTimerMessages: rt.stats.timerDrops.Load()}
}

// New starts a runtime.
func New(cfg Config) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	rt := &Runtime{
		cfg:    cfg,
		name:   cfg.Node,
		clock:  cfg.Clock,
		log:    cfg.Logger,
		closed: make(chan struct{}),
	}
	rt.ratelog = ratelog.New(rt.log, ratelog.Config{Burst: 1})
	rt.creation = newCreation(cfg.Clock.Now())
	rt.ctx, rt.cancel = context.WithCancel(context.Background())
	rt.calls.init(cfg.CallTimeout)
	rt.sweep.tick = rt.calls.tick
	rt.sweep.start(rt.ctx)
	return rt, nil
}

// Node returns the node name.
func (rt *Runtime) Node() string { return rt.name }

// Creation returns the runtime's incarnation number, part of every PID it
// hands out.
func (rt *Runtime) Creation() uint64 { return rt.creation }

// Clock returns the runtime's clock.
func (rt *Runtime) Clock() clock.Clock { return rt.clock }

// Logger returns the runtime's logger.
func (rt *Runtime) Logger() *slog.Logger { return rt.log }

// NumProcesses returns the number of live processes.
func (rt *Runtime) NumProcesses() int { return rt.table.count() }

// IsLocal reports whether pid was spawned by this runtime (in this
// incarnation).
func (rt *Runtime) IsLocal(pid PID) bool {
	return pid.Node == rt.name && pid.Creation == rt.creation
}

// MakeRef returns a reference unique across the cluster.
func (rt *Runtime) MakeRef() Ref {
	return Ref{Node: rt.name, Creation: rt.creation, ID: rt.nextRef.Add(1)}
}

// Alive reports whether pid names a live local process: false from the
// moment it exits, before its links and monitors have been told.
func (rt *Runtime) Alive(pid PID) bool {
	t := rt.table.get(pid)
	return t != nil && !t.isDead()
}

// Close stops every process and waits for their goroutines, or until ctx is
// done. Processes without a parent (the roots of supervision trees) are
// stopped one at a time, newest first, each waited for, so that a tree
// stops in its own order; then every process left gets a shutdown stop at
// once (Terminate runs). Those still alive when ctx ends are killed. Close is idempotent:
// later calls wait for the first to finish.
func (rt *Runtime) Close(ctx context.Context) error {
	if !rt.closing.CompareAndSwap(false, true) {
		select {
		case <-rt.closed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer close(rt.closed)
	// From here on no spawn adds a process: those that did are in the
	// table for the steps below to stop.
	rt.table.close()
	// Roots first, newest first, one at a time: a supervisor stops its own
	// children in order before the next tree goes.
	procs := rt.table.all()
	sortByIDDesc(procs)
	for _, p := range procs {
		if p.parentID == 0 && ctx.Err() == nil {
			rt.stopAndWait(ctx, p)
		}
	}
	for _, p := range rt.table.all() {
		_ = p.pushSys(sysStop{reason: ErrShutdown})
	}
	err := rt.waitEmpty(ctx)
	for _, p := range rt.table.all() {
		p.exit(ErrKilled)
	}
	rt.cancel()
	rt.sweep.wait()
	rt.goMu.Lock()
	rt.goDone = true
	rt.goMu.Unlock()
	done := make(chan struct{})
	go func() {
		rt.active.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return errors.Join(err, fmt.Errorf("proc: close: callbacks still running: %w", ctx.Err()))
	}
	return err
}

// goCounted runs f on a goroutine that Close waits for, and reports true;
// once Close waits for its goroutines it runs nothing and reports false.
func (rt *Runtime) goCounted(f func()) bool {
	rt.goMu.Lock()
	defer rt.goMu.Unlock()
	if rt.goDone {
		return false
	}
	rt.active.Add(1)
	go func() {
		defer rt.active.Done()
		f()
	}()
	return true
}

// stopAndWait stops p with a shutdown and waits until its exit has been
// handled or ctx is done.
func (rt *Runtime) stopAndWait(ctx context.Context, p *Process) {
	note := p.exitNote()
	if p.pushSys(sysStop{reason: ErrShutdown}) != nil {
		return
	}
	select {
	case <-note.done:
	case <-ctx.Done():
	}
}

// waitEmpty polls until no process is left or ctx is done.
func (rt *Runtime) waitEmpty(ctx context.Context) error {
	wait := 50 * time.Microsecond
	for rt.table.count() > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("proc: close: %d processes did not stop: %w", rt.table.count(), ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
	return nil
}

func sortByIDDesc(ps []*Process) {
	slices.SortFunc(ps, func(a, b *Process) int { return cmp.Compare(b.pid.ID, a.pid.ID) })
}

package supervisor

import (
	"slices"
	"time"

	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor/internal/intensity"
)

// This file is the deterministic core of a supervisor: which children to
// stop and start when one exits, when to give up, how long to wait before a
// restart. It does no I/O, starts no goroutine and reads no clock: the
// supervisor process feeds it events and the current time and carries out
// the effects it returns.

// childState is where a child stands in its supervisor.
type childState uint8

const (
	stateRunning    childState = iota // has a live process
	stateRestarting                   // waits for a pending restart (tok)
	stateStopped                      // specified but not running
)

// child is one child as the core sees it.
type child struct {
	spec     ChildSpec // with defaults applied
	pid      proc.PID  // zero unless running
	state    childState
	tok      uint64    // the pending restart a restarting child waits for
	attempts int       // consecutive restarts, for Backoff
	since    time.Time // when it last started
}

// stopOrder asks the supervisor to stop one child process.
type stopOrder struct {
	id       string
	pid      proc.PID
	shutdown time.Duration
}

// effects is what the supervisor must do after an event.
type effects struct {
	// stop lists the processes to stop, in this order, before anything
	// starts.
	stop []stopOrder
	// restart is the token of a restart to carry out: start the children
	// that due(tok) returns, after delay. Zero when nothing is to start.
	tok   uint64
	delay time.Duration
	// escalate tells the supervisor to stop every child and exit with
	// ErrMaxRestarts.
	escalate bool
	// shutdown tells the supervisor to stop every child and exit with
	// proc.ErrShutdown: its significant children ended (AutoShutdown).
	shutdown bool
}

// core is the state of a supervisor's children and restart intensity.
type core struct {
	strategy Strategy
	backoff  Backoff
	auto     AutoShutdown
	win      intensity.Window
	kids     []*child // in start order
	lastTok  uint64
}

func newCore(spec Spec) *core {
	spec = spec.withDefaults()
	c := &core{
		strategy: spec.Strategy,
		backoff:  spec.Backoff,
		auto:     spec.AutoShutdown,
		win:      intensity.Window{Max: spec.Intensity, Period: spec.Period},
	}
	for _, cs := range spec.Children {
		c.kids = append(c.kids, &child{spec: cs, state: stateStopped})
	}
	return c
}

// find returns the index of the child with the given ID, or -1.
func (c *core) find(id string) int {
	return slices.IndexFunc(c.kids, func(k *child) bool { return k.spec.ID == id })
}

// findPID returns the index of the running child with the given PID, or -1.
func (c *core) findPID(pid proc.PID) int {
	if pid.IsZero() {
		return -1
	}
	return slices.IndexFunc(c.kids, func(k *child) bool { return k.pid == pid })
}

func (c *core) remove(k *child) {
	c.kids = slices.DeleteFunc(c.kids, func(x *child) bool { return x == k })
}

// stopChild turns a running child into a stop order and marks it stopped.
func stopChild(k *child) stopOrder {
	o := stopOrder{id: k.spec.ID, pid: k.pid, shutdown: k.spec.Shutdown}
	k.pid = proc.PID{}
	k.state = stateStopped
	return o
}

// group returns the indexes of the children a restart of child i concerns,
// in start order.
func (c *core) group(i int) []int {
	var g []int
	switch c.strategy {
	case OneForAll:
		for j := range c.kids {
			g = append(g, j)
		}
	case RestForOne:
		for j := i; j < len(c.kids); j++ {
			g = append(g, j)
		}
	default:
		g = []int{i}
	}
	return g
}

// exited handles the exit of the child process pid with reason at now. It
// reports false when pid is not a child (any more): such exits are ignored.
func (c *core) exited(pid proc.PID, reason error, now time.Time) (effects, bool) {
	i := c.findPID(pid)
	if i < 0 {
		return effects{}, false
	}
	k := c.kids[i]
	k.pid = proc.PID{}
	k.state = stateStopped
	if !k.spec.Restart.ShouldRestart(reason) {
		if k.spec.Restart == Temporary {
			c.remove(k)
		}
		return effects{shutdown: c.shutsDown(k)}, true
	}
	if c.backoff.Enabled() && now.Sub(k.since) >= c.backoff.ResetAfter {
		k.attempts = 0
	}
	if !c.win.Add(now) {
		return effects{escalate: true}, true
	}
	return c.restartGroup(i, k), true
}

// restartGroup stops the group of child i (in reverse start order) and
// schedules the start of its members, delayed by the backoff of trigger.
func (c *core) restartGroup(i int, trigger *child) effects {
	var eff effects
	g := c.group(i)
	for _, j := range slices.Backward(g) {
		if k := c.kids[j]; k.state == stateRunning {
			eff.stop = append(eff.stop, stopChild(k))
		}
	}
	c.lastTok++
	eff.tok = c.lastTok
	var temps []*child
	for _, j := range g {
		k := c.kids[j]
		if k.spec.Restart == Temporary && k.state != stateRestarting {
			temps = append(temps, k)
			continue
		}
		k.state, k.tok = stateRestarting, eff.tok
	}
	for _, k := range temps {
		c.remove(k)
	}
	if c.backoff.Enabled() {
		eff.delay = c.backoff.Delay(trigger.attempts)
		trigger.attempts++
	}
	return eff
}

// due returns the children waiting for the restart tok, in start order.
func (c *core) due(tok uint64) []*child {
	var out []*child
	for _, k := range c.kids {
		if k.state == stateRestarting && k.tok == tok {
			out = append(out, k)
		}
	}
	return out
}

// started records that k runs as pid since now.
func (c *core) started(k *child, pid proc.PID, now time.Time) {
	k.pid, k.state, k.since = pid, stateRunning, now
}

// startFailed handles a restart of batch (the result of due) that failed
// when starting failed, after the children before it in batch had started:
// those are stopped again, the restart counts towards the intensity, and the
// whole batch is restarted again (after the backoff of failed).
func (c *core) startFailed(batch []*child, failed *child, now time.Time) effects {
	var eff effects
	for _, k := range slices.Backward(batch) {
		if k.state == stateRunning {
			eff.stop = append(eff.stop, stopChild(k))
		}
	}
	for _, k := range batch {
		k.state = stateStopped
	}
	if !c.win.Add(now) {
		eff.escalate = true
		return eff
	}
	c.lastTok++
	eff.tok = c.lastTok
	for _, k := range batch {
		k.state, k.tok = stateRestarting, eff.tok
	}
	if c.backoff.Enabled() {
		eff.delay = c.backoff.Delay(failed.attempts)
		failed.attempts++
	}
	return eff
}

// stopAll stops every child, in reverse start order, and cancels pending
// restarts. Temporary children are removed.
func (c *core) stopAll() []stopOrder {
	var out []stopOrder
	for _, k := range slices.Backward(c.kids) {
		if k.state == stateRunning {
			out = append(out, stopChild(k))
		}
		k.state = stateStopped
	}
	c.kids = slices.DeleteFunc(c.kids, func(k *child) bool { return k.spec.Restart == Temporary })
	return out
}

// terminate stops the child id (TerminateChild). The returned order is nil
// when the child was not running.
func (c *core) terminate(id string) (*stopOrder, error) {
	i := c.find(id)
	if i < 0 {
		return nil, ErrNotFound
	}
	k := c.kids[i]
	var o *stopOrder
	if k.state == stateRunning {
		so := stopChild(k)
		o = &so
	}
	k.state = stateStopped
	if k.spec.Restart == Temporary {
		c.remove(k)
	}
	return o, nil
}

// restartable returns the stopped child id, for RestartChild.
func (c *core) restartable(id string) (*child, error) {
	i := c.find(id)
	if i < 0 {
		return nil, ErrNotFound
	}
	switch k := c.kids[i]; k.state {
	case stateRunning:
		return nil, ErrRunning
	case stateRestarting:
		return nil, ErrRestarting
	default:
		return k, nil
	}
}

// delete removes the stopped child id from the specification.
func (c *core) delete(id string) error {
	k, err := c.restartable(id)
	if err != nil {
		return err
	}
	c.remove(k)
	return nil
}

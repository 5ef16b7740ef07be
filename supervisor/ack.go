package supervisor

import (
	"errors"
	"sync"

	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor/internal/lifecycle"
)

var (
	// ErrStartTimeout is the error of a child start that did not finish
	// within the child's StartTimeout; the child was killed.
	ErrStartTimeout = errors.New("supervisor: child start timed out")
	// ErrStartFailed is the error of a start whose child called Ack.Fail
	// with a nil error.
	ErrStartFailed = errors.New("supervisor: child failed to start")
	// ErrParentExited is the error of a child start interrupted by the
	// exit of its supervisor (it was killed); the child was killed.
	ErrParentExited = lifecycle.ErrParentExited
)

// Ack is how a child started through ChildSpec.StartAck tells its
// supervisor that it is ready, as proc_lib:init_ack. The supervisor's start
// of the child — at its own start, on a restart, or in StartChild — returns
// only once the child calls Ready, and fails if the child calls Fail,
// exits first, or does not acknowledge within the child's StartTimeout
// (it is then killed). Meanwhile the child runs: it may handle messages and
// continuations, and acknowledge from any of its callbacks or from any
// goroutine, while its supervisor waits, as OTP's supervisor does.
//
// Only the first call of Ready or Fail counts; both are safe from any
// goroutine, and do nothing on a nil Ack.
type Ack struct {
	once sync.Once
	ch   chan error // buffered 1
}

func newAck() *Ack { return &Ack{ch: make(chan error, 1)} }

// Ready acknowledges the start.
func (a *Ack) Ready() {
	if a != nil {
		a.once.Do(func() { a.ch <- nil })
	}
}

// Fail fails the start with err (ErrStartFailed if nil): the supervisor
// kills the child and its start returns a *StartError wrapping err.
func (a *Ack) Fail(err error) {
	if err == nil {
		err = ErrStartFailed
	}
	if a != nil {
		a.once.Do(func() { a.ch <- err })
	}
}

// Spawn starts the child of c as a supervisor does, from inside p, the
// supervisor's process: it calls Start (or StartAck), spawns the behaviour
// as a child of p linked to it, waits for its Ack when it has StartAck, and
// bounds the whole start by StartTimeout. When the start fails, no process
// of the child is left running. Supervisors of this package and of package
// dynamic start their children with it; it is exported for supervisors of
// other packages.
func (c ChildSpec) Spawn(p *proc.Process) (proc.PID, error) {
	if c.StartAck == nil && c.StartTimeout <= 0 {
		return lifecycle.Spawn(p, c.Start, c.SpawnOptions)
	}
	start := c.Start
	var acked <-chan error
	if c.StartAck != nil {
		ack := newAck()
		start = func() proc.Behavior { return c.StartAck(ack) }
		acked = ack.ch
	}
	return lifecycle.StartAwaiting(p, start, c.SpawnOptions, acked, c.StartTimeout, ErrStartTimeout)
}

// validateStart checks the start fields of c.
func (c ChildSpec) validateStart() error {
	switch {
	case c.Start == nil && c.StartAck == nil:
		return errorf("child %q has no Start function", c.ID)
	case c.Start != nil && c.StartAck != nil:
		return errorf("child %q has both Start and StartAck", c.ID)
	case c.StartTimeout < 0:
		return errorf("child %q has negative start timeout %v", c.ID, c.StartTimeout)
	case c.Significant && c.Restart == Permanent:
		return errorf("child %q is significant and permanent (only transient and temporary children may be significant)", c.ID)
	}
	return nil
}

package lifecycle

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/grovedev/grove/proc"
)

// Errors of StartAwaiting.
var (
	// ErrParentExited is returned when the supervisor exited (it was
	// killed) while its child was starting; the child was killed.
	ErrParentExited = errors.New("supervisor: exited while the child was starting")
	// errAbandoned aborts a spawn whose start was given up before the
	// child's Init could run.
	errAbandoned = errors.New("supervisor: start abandoned")
)

// StartAwaiting spawns the behaviour start returns as a linked child of p,
// as Spawn does, and then waits for acked (unless nil) to deliver: nil
// when the child is ready, its error when it failed to start (the child is
// then killed). A child that exits before acknowledging fails the start
// with an *proc.ExitError.
//
// With timeout > 0 the whole start, Init and acknowledgement, must end
// within timeout on p's runtime clock: a child still starting then is
// killed and the start fails with errTimeout. Init then runs on a goroutine
// of its own, which ends when Init returns; a child killed during its Init
// never runs a callback, and its Init should watch its Process.Context to
// return promptly.
//
// If p exits meanwhile (it was killed), the child is killed and the start
// fails with ErrParentExited. Whatever the outcome, a start that fails
// leaves no child running: a child spawned after the start was given up is
// refused before its Init, or killed as soon as Init returns.
func StartAwaiting(p *proc.Process, start func() proc.Behavior, opts []proc.SpawnOption, acked <-chan error, timeout time.Duration, errTimeout error) (proc.PID, error) {
	a := &attempt{p: p}
	opts = append(slices.Clip(opts), proc.WithRegister(a.register))
	var expired <-chan struct{}
	if timeout > 0 {
		ch := make(chan struct{})
		t := p.Runtime().Clock().AfterFunc(timeout, func() { close(ch) })
		defer t.Stop()
		expired = ch
	}
	killed := p.Context().Done()

	var pid proc.PID
	var err error
	if expired == nil {
		pid, err = Spawn(p, start, opts)
	} else {
		type spawned struct {
			pid proc.PID
			err error
		}
		res := make(chan spawned, 1)
		go func() {
			pid, err := Spawn(p, start, opts)
			if err == nil && a.given() {
				kill(p, pid)
			}
			res <- spawned{pid, err}
		}()
		select {
		case r := <-res:
			pid, err = r.pid, r.err
		case <-expired:
			select {
			case r := <-res: // Init returned in time after all
				pid, err = r.pid, r.err
			default:
				a.abandon()
				return proc.PID{}, errTimeout
			}
		case <-killed:
			a.abandon()
			return proc.PID{}, ErrParentExited
		}
	}
	if err != nil {
		return proc.PID{}, err
	}
	if acked == nil {
		return pid, nil
	}

	exited := make(chan error, 1)
	cancel := p.Runtime().Watch(pid, func(_ proc.PID, reason error) { exited <- reason })
	defer cancel()
	answer := func(err error) (proc.PID, error) {
		if err != nil {
			kill(p, pid)
			return proc.PID{}, err
		}
		return pid, nil
	}
	select {
	case err := <-acked:
		return answer(err)
	case reason := <-exited:
		// An acknowledgement that came before the exit counts: the child
		// started, and its exit is that of a started child (the
		// supervisor's link tells it so), as with proc_lib:init_ack.
		select {
		case err := <-acked:
			return answer(err)
		default:
		}
		p.Unlink(pid)
		return proc.PID{}, &proc.ExitError{PID: pid, Reason: reason}
	case <-expired:
		select {
		case err := <-acked: // the acknowledgement made it in time
			return answer(err)
		default:
		}
		kill(p, pid)
		return proc.PID{}, errTimeout
	case <-killed:
		kill(p, pid)
		return proc.PID{}, ErrParentExited
	}
}

// attempt is one start, shared by the waiting supervisor and the goroutine
// that runs the child's Init.
type attempt struct {
	p  *proc.Process
	mu struct {
		sync.Mutex
		pid       proc.PID // the child, once spawned
		abandoned bool     // the start failed: the child must not live
	}
}

// register learns the child's PID before its Init runs, and refuses the
// spawn of a start already given up.
func (a *attempt) register(pid proc.PID) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mu.abandoned {
		return errAbandoned
	}
	a.mu.pid = pid
	return nil
}

// abandon gives the start up: a child already spawned is killed, one not
// yet spawned is refused by register.
func (a *attempt) abandon() {
	a.mu.Lock()
	a.mu.abandoned = true
	pid := a.mu.pid
	a.mu.Unlock()
	if !pid.IsZero() {
		kill(a.p, pid)
	}
}

func (a *attempt) given() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mu.abandoned
}

// kill ends a child whose start failed. The exit is synchronous: the child
// is dead (and its names free) when kill returns.
func kill(p *proc.Process, pid proc.PID) {
	p.Unlink(pid)
	_ = p.Exit(pid, proc.ErrKill)
}

// Package lifecycle starts and stops the children of supervisors the way
// OTP does: a child is spawned linked to its supervisor; it is stopped by
// unlinking it, sending it a shutdown exit signal, waiting up to a timeout,
// then killing it.
package lifecycle

import (
	"errors"
	"math"
	"runtime/debug"
	"time"

	"github.com/grovedev/grove/clock"
	"github.com/grovedev/grove/proc"
)

// ErrNilBehavior is returned by Spawn when start returns nil.
var ErrNilBehavior = errors.New("supervisor: Start returned a nil behavior")

// Spawn spawns the behaviour that start returns as a linked child of p,
// turning a panic of start into a *proc.CrashError.
func Spawn(p *proc.Process, start func() proc.Behavior, opts []proc.SpawnOption) (pid proc.PID, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &proc.CrashError{Value: v, Stack: debug.Stack()}
		}
	}()
	beh := start()
	if beh == nil {
		return proc.PID{}, ErrNilBehavior
	}
	all := make([]proc.SpawnOption, 0, len(opts)+1)
	all = append(all, opts...)
	all = append(all, proc.WithLink())
	return p.Spawn(beh, all...)
}

// Target is one process to stop. A negative Timeout kills it at once with
// proc.ErrKill; math.MaxInt64 waits for as long as it takes.
type Target struct {
	PID     proc.PID
	Timeout time.Duration
}

// Sequential stops the targets one after the other, in the given order, from
// inside a callback of p, their supervisor. It returns their exit reasons.
func Sequential(p *proc.Process, targets []Target) []error {
	reasons := make([]error, len(targets))
	for i, t := range targets {
		reasons[i] = Concurrent(p, []Target{t})[0]
	}
	return reasons
}

// Concurrent sends every target its exit signal at once, then waits for all
// of them, killing each one whose own timeout has passed. If p itself exits
// meanwhile (it was killed), the targets still alive are killed and
// Concurrent returns at once.
//
// Each target is unlinked from p first, so that its exit does not come back
// to p as an exit signal; a target that had already exited reports
// proc.ErrNoProc (its real reason is in p's mailbox as a proc.Exit).
func Concurrent(p *proc.Process, targets []Target) []error {
	n := len(targets)
	reasons := make([]error, n)
	if n == 0 {
		return reasons
	}
	rt := p.Runtime()
	done := make(chan int, n)
	cancels := make([]func(), n)
	timers := make([]clock.Timer, 0, n)
	for i, t := range targets {
		cancels[i] = rt.Watch(t.PID, func(_ proc.PID, reason error) {
			reasons[i] = reason
			done <- i
		})
	}
	for _, t := range targets {
		p.Unlink(t.PID)
		if t.Timeout < 0 {
			_ = p.Exit(t.PID, proc.ErrKill)
			continue
		}
		_ = p.Exit(t.PID, proc.ErrShutdown)
		if t.Timeout != math.MaxInt64 {
			pid := t.PID
			timers = append(timers, rt.Clock().AfterFunc(t.Timeout, func() { _ = p.Exit(pid, proc.ErrKill) }))
		}
	}
	defer func() {
		for _, tm := range timers {
			tm.Stop()
		}
		for _, c := range cancels {
			c()
		}
	}()
	killed := p.Context().Done()
	for left := n; left > 0; {
		select {
		case <-done:
			left--
		case <-killed:
			for _, t := range targets {
				_ = p.Exit(t.PID, proc.ErrKill)
			}
			killed = nil
		}
	}
	return reasons
}

package proc

import (
	"errors"
	"fmt"
)

// Exit reasons. A process's exit reason is an error value: one of these
// sentinels, a *CrashError, a ShutdownError, or any error a behaviour stops
// with. Reasons are compared with errors.Is.
var (
	// ErrNormal is the reason of a process that finished its work. Links do
	// not propagate it to processes that are not trapping exits.
	ErrNormal = errors.New("normal")
	// ErrShutdown is the reason a supervisor or the runtime uses to stop a
	// process on purpose. A transient child stopped with it is not restarted.
	ErrShutdown = errors.New("shutdown")
	// ErrKill is an untrappable exit signal: the target dies with ErrKilled.
	ErrKill = errors.New("kill")
	// ErrKilled is the exit reason of a process that received ErrKill.
	ErrKilled = errors.New("killed")
	// ErrNoProc is the reason given when linking to or monitoring a process
	// that does not exist (any more).
	ErrNoProc = errors.New("noproc")
	// ErrNoConnection is the reason given to links and monitors across a lost
	// node connection.
	ErrNoConnection = errors.New("noconnection")
)

// Errors returned to callers of the runtime's API.
var (
	// ErrMailboxFull is returned by a send to a process whose bounded mailbox
	// is full. The message was not delivered.
	ErrMailboxFull = errors.New("proc: mailbox full")
	// ErrNotAlive is returned when the destination process does not exist.
	ErrNotAlive = errors.New("proc: process not alive")
	// ErrNameTaken is returned when registering a name that another process
	// holds.
	ErrNameTaken = errors.New("proc: name already registered")
	// ErrNotRegistered is returned when sending to a name nobody holds.
	ErrNotRegistered = errors.New("proc: name not registered")
	// ErrUnhandled is the reply to a call the behaviour does not handle.
	ErrUnhandled = errors.New("proc: message not handled")
	// ErrRuntimeClosed is returned by a runtime after Close.
	ErrRuntimeClosed = errors.New("proc: runtime closed")
	// ErrCallToSelf is returned when a process calls itself, which could only
	// deadlock.
	ErrCallToSelf = errors.New("proc: call to self")
	// ErrNoRoute is returned for a PID of another node when no distribution
	// layer is attached to the runtime.
	ErrNoRoute = errors.New("proc: no route to node")
)

// CrashError is the exit reason of a process whose callback panicked.
type CrashError struct {
	Value any    // the value passed to panic
	Stack []byte // the goroutine's stack at the panic
}

func (e *CrashError) Error() string { return fmt.Sprintf("crash: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *CrashError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// ShutdownError is the reason {shutdown, Reason}: a deliberate stop carrying a
// detail. It matches ErrShutdown under errors.Is, and IsShutdown reports
// it, so transient children stopped with it are not restarted.
type ShutdownError struct{ Reason error }

func (e ShutdownError) Error() string { return fmt.Sprintf("shutdown: %v", e.Reason) }

// Is reports that a ShutdownError is a shutdown.
func (e ShutdownError) Is(target error) bool { return target == ErrShutdown }

// Unwrap returns the detail.
func (e ShutdownError) Unwrap() error { return e.Reason }

// ExitError is returned by Call when the called process exited before it
// replied; Reason is its exit reason.
type ExitError struct {
	PID    PID
	Reason error
}

func (e *ExitError) Error() string { return fmt.Sprintf("proc: %v exited: %v", e.PID, e.Reason) }

// Unwrap returns the exit reason.
func (e *ExitError) Unwrap() error { return e.Reason }

// IsNormalExit reports whether reason is one that links do not propagate to
// processes that are not trapping exits: nil or ErrNormal itself. A reason
// that merely wraps ErrNormal, such as a dependency's error or a panic with
// ErrNormal, is abnormal: it is compared by identity, as Erlang compares
// the atom normal, not with errors.Is.
func IsNormalExit(reason error) bool { return reason == nil || reason == ErrNormal }

// IsShutdown reports whether reason is a deliberate stop: ErrShutdown
// itself or a ShutdownError (OTP's shutdown and {shutdown, Reason}), after
// which a transient child is not restarted. Like IsNormalExit it does not
// look into reasons that wrap them.
func IsShutdown(reason error) bool {
	switch reason.(type) {
	case ShutdownError, *ShutdownError:
		return true
	}
	return reason == ErrShutdown
}

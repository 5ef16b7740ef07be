package supervisor

import (
	"errors"
	"fmt"

	"github.com/grovedev/grove/supervisor/internal/lifecycle"
)

var (
	// ErrInvalidSpec wraps every error of Spec.Validate and
	// ChildSpec.Validate.
	ErrInvalidSpec = errors.New("supervisor: invalid specification")
	// ErrMaxRestarts is the detail of the exit reason of a supervisor that
	// exceeded its restart intensity: it exits with
	// proc.ShutdownError{Reason: ErrMaxRestarts}.
	ErrMaxRestarts = errors.New("supervisor: reached maximum restart intensity")
	// ErrNotFound is returned for a child ID or PID the supervisor does not
	// have.
	ErrNotFound = errors.New("supervisor: child not found")
	// ErrRunning is returned by RestartChild and DeleteChild for a child
	// that is running.
	ErrRunning = errors.New("supervisor: child is running")
	// ErrRestarting is returned by RestartChild and DeleteChild for a child
	// whose restart is pending.
	ErrRestarting = errors.New("supervisor: child is restarting")
	// ErrAlreadyStarted is returned by StartChild for an ID whose child is
	// running; the error's text carries its PID.
	ErrAlreadyStarted = errors.New("supervisor: child already started")
	// ErrAlreadyPresent is returned by StartChild for an ID whose child is
	// stopped but still specified: use RestartChild or DeleteChild.
	ErrAlreadyPresent = errors.New("supervisor: child already present")
	// ErrNilBehavior is returned when a ChildSpec's Start function returns
	// nil.
	ErrNilBehavior = lifecycle.ErrNilBehavior
)

// StartError is returned when a child fails to start: Err is the error its
// Init returned (or the reason it exited with during Init).
type StartError struct {
	ID  string
	Err error
}

// Error tells which child failed to start and why.
func (e *StartError) Error() string {
	return fmt.Sprintf("supervisor: start child %q: %v", e.ID, e.Err)
}

// Unwrap returns the child's error.
func (e *StartError) Unwrap() error { return e.Err }

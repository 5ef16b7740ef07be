package supervisor

import (
	"context"

	"github.com/grovedev/grove/proc"
)

// ChildStatus tells whether a child runs.
type ChildStatus string

// Child statuses.
const (
	// StatusRunning: the child has a live process.
	StatusRunning ChildStatus = "running"
	// StatusRestarting: the child's restart is pending (delayed by Backoff,
	// or retried after a failed start).
	StatusRestarting ChildStatus = "restarting"
	// StatusStopped: the child is specified but not running (terminated with
	// TerminateChild, or a transient child that finished).
	StatusStopped ChildStatus = "stopped"
)

// ChildInfo describes one child, as WhichChildren reports it.
type ChildInfo struct {
	ID      string
	PID     proc.PID // zero unless Status is StatusRunning
	Type    ChildType
	Restart Restart
	Status  ChildStatus
	// Significant reports a significant child (ChildSpec.Significant).
	Significant bool
}

// Counts is the answer of CountChildren.
type Counts struct {
	Specs       int // children specified, running or not
	Active      int // children with a live process
	Supervisors int // children of type Supervisor, running or not
	Workers     int // children of type Worker, running or not
}

type (
	whichChildrenReq  struct{}
	countChildrenReq  struct{}
	terminateChildReq struct{ id string }
	restartChildReq   struct{ id string }
	deleteChildReq    struct{ id string }
	startChildReq     struct{ spec ChildSpec }
)

// The functions below call the supervisor sup from s: a *proc.Runtime from
// outside any process, or the calling *proc.Process. They wait for the
// supervisor to handle the request, so a supervisor busy stopping or
// starting children answers once it is done. As in OTP they wait for as
// long as ctx allows, without the runtime's default call timeout
// (proc.WithoutTimeout).

// WhichChildren returns the supervisor's children in start order, like
// OTP's supervisor:which_children.
func WhichChildren(ctx context.Context, s proc.Sender, sup proc.Dest) ([]ChildInfo, error) {
	return proc.Call[[]ChildInfo](proc.WithoutTimeout(ctx), s, sup, whichChildrenReq{})
}

// CountChildren counts the supervisor's children, like OTP's
// supervisor:count_children.
func CountChildren(ctx context.Context, s proc.Sender, sup proc.Dest) (Counts, error) {
	return proc.Call[Counts](proc.WithoutTimeout(ctx), s, sup, countChildrenReq{})
}

// StartChild adds a child at the end of the supervisor's children and starts
// it. It fails with ErrAlreadyStarted or ErrAlreadyPresent when the ID is
// taken, with an error wrapping ErrInvalidSpec for a bad spec, and with a
// *StartError when the child's Init fails (the child is then not added).
func StartChild(ctx context.Context, s proc.Sender, sup proc.Dest, spec ChildSpec) (proc.PID, error) {
	return proc.Call[proc.PID](proc.WithoutTimeout(ctx), s, sup, startChildReq{spec: spec})
}

// TerminateChild stops the child id (shutdown signal, then kill after its
// Shutdown timeout) and keeps its spec, so that RestartChild can start it
// again; a temporary child is removed. A pending restart of the child is
// cancelled. It fails with ErrNotFound for an unknown ID.
func TerminateChild(ctx context.Context, s proc.Sender, sup proc.Dest, id string) error {
	_, err := s.CallTo(proc.WithoutTimeout(ctx), sup, terminateChildReq{id: id})
	return err
}

// RestartChild starts the stopped child id again. It fails with ErrRunning,
// ErrRestarting, ErrNotFound, or a *StartError.
func RestartChild(ctx context.Context, s proc.Sender, sup proc.Dest, id string) (proc.PID, error) {
	return proc.Call[proc.PID](proc.WithoutTimeout(ctx), s, sup, restartChildReq{id: id})
}

// DeleteChild removes the stopped child id from the supervisor. It fails
// with ErrRunning, ErrRestarting or ErrNotFound.
func DeleteChild(ctx context.Context, s proc.Sender, sup proc.Dest, id string) error {
	_, err := s.CallTo(proc.WithoutTimeout(ctx), sup, deleteChildReq{id: id})
	return err
}

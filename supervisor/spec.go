package supervisor

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/grovedev/grove/proc"
)

// Strategy tells which children a supervisor restarts when one of them
// exits and must be restarted.
type Strategy int

// Restart strategies, as in OTP.
const (
	// OneForOne restarts only the child that exited.
	OneForOne Strategy = iota
	// OneForAll stops every other child (in reverse start order) and then
	// starts every child again, in start order.
	OneForAll
	// RestForOne stops the children started after the one that exited (in
	// reverse start order) and then starts that child and those after it
	// again, in start order.
	RestForOne
)

// String returns the OTP name of the strategy, such as "one_for_one".
func (s Strategy) String() string {
	switch s {
	case OneForOne:
		return "one_for_one"
	case OneForAll:
		return "one_for_all"
	case RestForOne:
		return "rest_for_one"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// Restart tells when a child is restarted after it exits.
type Restart int

// Restart types, as in OTP.
const (
	// Permanent children are always restarted, whatever their exit reason.
	Permanent Restart = iota
	// Transient children are restarted only after an abnormal exit: not
	// after proc.ErrNormal, proc.ErrShutdown or a proc.ShutdownError.
	Transient
	// Temporary children are never restarted, and are removed from the
	// supervisor once they exit.
	Temporary
)

// ShouldRestart reports whether a child of restart type r that exited with
// reason is restarted: always for Permanent, never for Temporary, and for
// Transient unless the reason is nil, proc.ErrNormal or a shutdown
// (proc.ErrShutdown, proc.ShutdownError). A reason that merely wraps one of
// them, such as a dependency's error, is abnormal (see proc.IsNormalExit).
func (r Restart) ShouldRestart(reason error) bool {
	switch r {
	case Permanent:
		return true
	case Transient:
		return !proc.IsNormalExit(reason) && !proc.IsShutdown(reason)
	}
	return false
}

// String returns the OTP name of the restart type, such as "permanent".
func (r Restart) String() string {
	switch r {
	case Permanent:
		return "permanent"
	case Transient:
		return "transient"
	case Temporary:
		return "temporary"
	}
	return fmt.Sprintf("Restart(%d)", int(r))
}

// ChildType tells a worker from a supervisor. It sets the default shutdown
// timeout and is reported by WhichChildren and CountChildren.
type ChildType int

// Child types.
const (
	// Worker is any process that is not a supervisor.
	Worker ChildType = iota
	// Supervisor is a child that supervises children of its own.
	Supervisor
)

// String returns "worker" or "supervisor".
func (t ChildType) String() string {
	switch t {
	case Worker:
		return "worker"
	case Supervisor:
		return "supervisor"
	}
	return fmt.Sprintf("ChildType(%d)", int(t))
}

// Shutdown timeouts with a special meaning.
const (
	// BrutalKill stops a child at once with the untrappable proc.ErrKill:
	// its Terminate does not run.
	BrutalKill time.Duration = -1
	// Infinity waits for as long as the child takes to stop. It is the
	// default for supervisors, whose own shutdown is bounded by their
	// children's.
	Infinity time.Duration = math.MaxInt64
)

// Defaults applied to zero fields.
const (
	// DefaultIntensity is the default number of restarts allowed in Period.
	DefaultIntensity = 3
	// DefaultPeriod is the default window of the restart intensity.
	DefaultPeriod = 5 * time.Second
	// DefaultWorkerShutdown is the default shutdown timeout of a worker.
	DefaultWorkerShutdown = 5 * time.Second
	// NoRestarts as Spec.Intensity allows no restart at all: the first
	// child that must be restarted makes the supervisor give up (OTP's
	// intensity 0).
	NoRestarts = -1
)

// ChildSpec describes one child of a supervisor. The supervisor spawns the
// child itself, as a linked child process (its Parent is the supervisor).
type ChildSpec struct {
	// ID names the child within its supervisor; it must be unique there.
	// A dynamic supervisor ignores it.
	ID string
	// Start returns a fresh behaviour for each start and restart of the
	// child. Its Init runs synchronously: an error from it fails the start.
	Start func() proc.Behavior
	// SpawnOptions are passed to proc.Process.Spawn; proc.WithLink is
	// always added.
	SpawnOptions []proc.SpawnOption
	// Restart tells when the child is restarted. Default Permanent.
	Restart Restart
	// Shutdown is how long the supervisor waits for the child to stop after
	// sending it a shutdown exit signal, before killing it. BrutalKill kills
	// at once; Infinity waits forever. Zero means 5 s for a worker and
	// Infinity for a supervisor.
	Shutdown time.Duration
	// Type tells a worker from a supervisor. Default Worker.
	Type ChildType
	// StartAck, instead of Start, starts a child that acknowledges its
	// start, as proc_lib:init_ack: it returns a fresh behaviour for each
	// start, given an Ack to call once the child is ready — from Init,
	// from a later callback such as HandleContinue, or from any goroutine.
	// The supervisor's start of the child returns only then (see Ack).
	StartAck func(ack *Ack) proc.Behavior
	// StartTimeout bounds a start of the child, Init and acknowledgement
	// together, on the runtime's clock: a child still starting then is
	// killed and the start fails with ErrStartTimeout. Zero waits for as
	// long as it takes. Go cannot stop a running function: an Init still
	// running at the timeout runs on, on a goroutine of its own, until it
	// returns (its process is dead by then and runs no callback), so an
	// Init that may block should watch its Process.Context, which the kill
	// cancels.
	StartTimeout time.Duration
	// Significant marks a Transient or Temporary child whose own exit can
	// stop its supervisor (see Spec.AutoShutdown). Not for Permanent
	// children, nor under a supervisor whose AutoShutdown is Never.
	Significant bool
}

// Validate reports a child specification that cannot work. It checks
// everything but the uniqueness of the ID, which is the supervisor's
// business.
func (c ChildSpec) Validate() error {
	if err := c.validateStart(); err != nil {
		return err
	}
	if c.Restart < Permanent || c.Restart > Temporary {
		return fmt.Errorf("%w: child %q has unknown restart type %d", ErrInvalidSpec, c.ID, int(c.Restart))
	}
	if c.Type < Worker || c.Type > Supervisor {
		return fmt.Errorf("%w: child %q has unknown child type %d", ErrInvalidSpec, c.ID, int(c.Type))
	}
	if c.Shutdown < 0 && c.Shutdown != BrutalKill {
		return fmt.Errorf("%w: child %q has negative shutdown timeout %v (use BrutalKill)", ErrInvalidSpec, c.ID, c.Shutdown)
	}
	return nil
}

// ShutdownTimeout returns the child's Shutdown, or its default when zero.
func (c ChildSpec) ShutdownTimeout() time.Duration {
	switch {
	case c.Shutdown != 0:
		return c.Shutdown
	case c.Type == Supervisor:
		return Infinity
	}
	return DefaultWorkerShutdown
}

// withDefaults fills the zero fields.
func (c ChildSpec) withDefaults() ChildSpec {
	c.Shutdown = c.ShutdownTimeout()
	return c
}

// Backoff delays restarts: the n-th consecutive restart of a child (from 0)
// waits Initial × Multiplier^n, at most Max. A child that ran for at least
// ResetAfter before exiting starts again from Initial. The zero Backoff
// restarts at once, as OTP does.
//
// While its restart is delayed a child is reported as restarting. The delay
// does not change how restarts count towards the intensity: each restart is
// counted when the child exits.
type Backoff struct {
	// Initial is the delay of the first restart. Zero disables backoff.
	Initial time.Duration
	// Max caps the delay. Zero means 30 s (or Initial, if larger).
	Max time.Duration
	// Multiplier grows the delay from one restart to the next. Zero means 2;
	// it must otherwise be at least 1.
	Multiplier float64
	// ResetAfter is how long a child must run before its next restart waits
	// Initial again. Zero means Max.
	ResetAfter time.Duration
}

// Enabled reports whether b delays restarts.
func (b Backoff) Enabled() bool { return b.Initial > 0 }

// Validate reports a backoff that cannot work.
func (b Backoff) Validate() error {
	switch {
	case b.Initial < 0:
		return fmt.Errorf("%w: negative backoff Initial %v", ErrInvalidSpec, b.Initial)
	case b.Max < 0:
		return fmt.Errorf("%w: negative backoff Max %v", ErrInvalidSpec, b.Max)
	case b.ResetAfter < 0:
		return fmt.Errorf("%w: negative backoff ResetAfter %v", ErrInvalidSpec, b.ResetAfter)
	case b.Multiplier != 0 && (b.Multiplier < 1 || math.IsNaN(b.Multiplier) || math.IsInf(b.Multiplier, 0)):
		return fmt.Errorf("%w: backoff Multiplier %v is not a finite number ≥ 1", ErrInvalidSpec, b.Multiplier)
	}
	return nil
}

func (b Backoff) withDefaults() Backoff {
	if !b.Enabled() {
		return Backoff{}
	}
	if b.Max == 0 {
		b.Max = max(30*time.Second, b.Initial)
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Multiplier == 0 {
		b.Multiplier = 2
	}
	if b.ResetAfter == 0 {
		b.ResetAfter = b.Max
	}
	return b
}

// ResetPeriod returns ResetAfter, or its default when zero.
func (b Backoff) ResetPeriod() time.Duration { return b.withDefaults().ResetAfter }

// Delay returns how long the restart number attempt (from 0) of a child
// waits. It is pure: the same arguments always give the same delay.
func (b Backoff) Delay(attempt int) time.Duration {
	b = b.withDefaults()
	if !b.Enabled() {
		return 0
	}
	d := float64(b.Initial)
	for i := 0; i < attempt && d < float64(b.Max); i++ {
		d *= b.Multiplier
	}
	if d >= float64(b.Max) {
		return b.Max
	}
	return time.Duration(d)
}

// Spec describes a supervisor: its strategy, how many restarts it tolerates
// and its children, in start order.
type Spec struct {
	// Strategy tells which children to restart. Default OneForOne.
	Strategy Strategy
	// Intensity is the number of restarts allowed within Period: one more
	// makes the supervisor stop its children and exit with
	// proc.ShutdownError{Reason: ErrMaxRestarts}, so that the failure climbs
	// the tree. Zero means DefaultIntensity (3); NoRestarts allows none.
	Intensity int
	// Period is the window of Intensity. Zero means DefaultPeriod (5 s).
	Period time.Duration
	// Backoff optionally delays restarts. The zero value restarts at once.
	Backoff Backoff
	// Children are started in this order and stopped in the reverse order.
	Children []ChildSpec
	// AutoShutdown makes the supervisor stop itself (and its children)
	// when its Significant children end on their own, as OTP 24's
	// auto_shutdown. Default Never.
	AutoShutdown AutoShutdown
}

// Validate reports a specification that cannot work: unknown strategy or
// types, negative durations, children without Start function or sharing
// an ID.
func (s Spec) Validate() error {
	var errs []error
	if s.Strategy < OneForOne || s.Strategy > RestForOne {
		errs = append(errs, fmt.Errorf("%w: unknown strategy %d", ErrInvalidSpec, int(s.Strategy)))
	}
	if s.Intensity < NoRestarts {
		errs = append(errs, fmt.Errorf("%w: intensity %d is negative (use NoRestarts)", ErrInvalidSpec, s.Intensity))
	}
	if s.Period < 0 {
		errs = append(errs, fmt.Errorf("%w: negative period %v", ErrInvalidSpec, s.Period))
	}
	if err := s.Backoff.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := s.AutoShutdown.validate(); err != nil {
		errs = append(errs, err)
	}
	seen := make(map[string]bool, len(s.Children))
	for _, c := range s.Children {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
		if err := s.AutoShutdown.allows(c); err != nil {
			errs = append(errs, err)
		}
		if seen[c.ID] {
			errs = append(errs, fmt.Errorf("%w: duplicate child ID %q", ErrInvalidSpec, c.ID))
		}
		seen[c.ID] = true
	}
	return errors.Join(errs...)
}

func (s Spec) withDefaults() Spec {
	switch {
	case s.Intensity == 0:
		s.Intensity = DefaultIntensity
	case s.Intensity == NoRestarts:
		s.Intensity = 0
	}
	if s.Period == 0 {
		s.Period = DefaultPeriod
	}
	s.Backoff = s.Backoff.withDefaults()
	kids := make([]ChildSpec, len(s.Children))
	for i, c := range s.Children {
		kids[i] = c.withDefaults()
	}
	s.Children = kids
	return s
}

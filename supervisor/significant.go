package supervisor

import (
	"fmt"
	"log/slog"

	"github.com/grovedev/grove/proc"
)

// AutoShutdown tells whether a supervisor stops itself when its significant
// children end, as OTP 24's auto_shutdown.
type AutoShutdown int

// Automatic shutdown settings.
const (
	// Never: the supervisor does not stop on its own; no child may be
	// significant. The default.
	Never AutoShutdown = iota
	// AnySignificant: the supervisor stops when any significant child ends
	// on its own: a transient one with a normal or shutdown reason, a
	// temporary one with any reason.
	AnySignificant
	// AllSignificant: the supervisor stops when its last significant child
	// still running (or restarting) ends on its own, as above.
	AllSignificant
)

// String returns the OTP name, such as "any_significant".
func (a AutoShutdown) String() string {
	switch a {
	case Never:
		return "never"
	case AnySignificant:
		return "any_significant"
	case AllSignificant:
		return "all_significant"
	}
	return fmt.Sprintf("AutoShutdown(%d)", int(a))
}

// The rules of automatic shutdown, as in OTP:
//
//   - only children that end on their own count: a child the supervisor
//     stops (TerminateChild, or as part of restarting a group) does not,
//     whatever its reason;
//   - a significant child that is restarted (a transient one that
//     crashed) has not ended;
//   - the supervisor stops with proc.ErrShutdown, its children first in
//     reverse start order, like any stop; its own supervisor sees a
//     shutdown, so make an auto-shutdown supervisor Transient or Temporary
//     there: Permanent would restart it.

func (a AutoShutdown) validate() error {
	if a < Never || a > AllSignificant {
		return errorf("unknown auto shutdown %d", int(a))
	}
	return nil
}

// allows reports a child that cannot be a child of a supervisor with a.
func (a AutoShutdown) allows(c ChildSpec) error {
	if c.Significant && a == Never {
		return errorf("child %q is significant under a supervisor whose AutoShutdown is never", c.ID)
	}
	return nil
}

// shutsDown tells, in the core, whether the end of child k, which is not
// restarted, stops the supervisor.
func (c *core) shutsDown(k *child) bool {
	if !k.spec.Significant {
		return false
	}
	switch c.auto {
	case AnySignificant:
		return true
	case AllSignificant:
		for _, o := range c.kids {
			if o != k && o.spec.Significant && o.state != stateStopped {
				return false
			}
		}
		return true
	}
	return false
}

// autoShutdown stops the supervisor after its significant children ended;
// Terminate stops the others.
func (s *sup) autoShutdown() {
	s.p.Logger().Info("supervisor: significant children ended, shutting down",
		slog.String("supervisor", s.p.Self().String()), slog.String("auto_shutdown", s.spec.AutoShutdown.String()))
	s.p.Stop(proc.ErrShutdown)
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidSpec}, args...)...)
}

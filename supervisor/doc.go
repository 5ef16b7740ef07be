// Package supervisor implements OTP supervision trees on top of package proc:
// supervisors that start children in order, watch them through links, restart
// them by strategy (OneForOne, OneForAll, RestForOne) and restart type
// (Permanent, Transient, Temporary), stop them in reverse order, and give up
// when restarts come too fast so that the failure climbs the tree.
//
// A supervisor is a process that traps exits. Each child is spawned by the
// supervisor itself and linked to it, so its Parent is the supervisor. When a
// child exits, the supervisor receives a proc.Exit and decides:
//
//   - whether to restart at all: Permanent always, Transient only after an
//     abnormal reason (not proc.ErrNormal, proc.ErrShutdown or a
//     proc.ShutdownError), Temporary never (the child is then forgotten);
//   - which children to restart: the child alone (OneForOne), every child
//     (OneForAll), or the child and those started after it (RestForOne). The
//     others of the group are stopped in reverse start order, then the group
//     is started in start order. As in OTP, a group restart also starts the
//     non-temporary children of the group that were stopped (terminated with
//     TerminateChild, or transient children that had finished), and forgets
//     the temporary ones;
//   - whether it may restart: more than Intensity restarts within Period make
//     the supervisor stop all its children and exit with
//     proc.ShutdownError{Reason: ErrMaxRestarts}. Its own supervisor sees a
//     child exit and applies its own rules. Because that reason is a
//     shutdown, a Transient supervisor that gives up is not restarted;
//     make supervisors Permanent to have the failure climb the tree.
//
// Stopping a child follows OTP: the child is unlinked, receives a
// proc.ErrShutdown exit signal (a child that traps exits runs its Terminate,
// since the signal comes from its parent), and is killed with proc.ErrKill if
// it has not exited within its Shutdown timeout. BrutalKill kills at once;
// Infinity, the default for supervisors, waits. A supervisor that is itself
// stopped (by an exit signal from its parent, by Runtime.Stop or
// Runtime.Close) stops its children in reverse start order first. Exits of
// processes that are no longer children, such as the late exit message of a
// child the supervisor stopped on purpose, are ignored.
//
// A restart whose start fails (the child's Init returns an error or panics)
// counts as one more restart against the intensity and is tried again after
// the messages already queued, or after the backoff delay: a child that
// cannot start makes its supervisor give up quickly, as in OTP.
//
// A child may acknowledge its start, as with proc_lib:init_ack: give its
// ChildSpec a StartAck instead of Start, and the supervisor's start of it
// (at the supervisor's own start, on a restart, or in StartChild) returns
// only once the child calls Ack.Ready — from Init, from a later callback
// such as HandleContinue, or from any goroutine — and fails when it calls
// Ack.Fail or exits first. ChildSpec.StartTimeout bounds a start, Init and
// acknowledgement together, on the runtime's clock: a child still starting
// then is killed and the start fails with ErrStartTimeout. A start that
// fails, or that its supervisor does not live to see, leaves no process of
// the child behind.
//
// Significant children stop their supervisor, as OTP 24's auto_shutdown:
// with Spec.AutoShutdown AnySignificant, the supervisor stops (with
// proc.ErrShutdown, its other children first) as soon as a Significant
// child ends on its own and is not restarted; with AllSignificant, once the
// last of them has. A child the supervisor stops itself (TerminateChild, a
// group restart) does not count. Significant children are Transient or
// Temporary; an auto-shutdown supervisor should be Transient or Temporary
// under its own supervisor.
//
// Restarts may be delayed with a Backoff (not part of OTP): a child's n-th
// consecutive restart waits Initial × Multiplier^n, at most Max, and a child
// that stayed up for ResetAfter starts again from Initial. The delay never
// blocks the supervisor: the child is reported as StatusRestarting meanwhile.
//
// The decisions (which children to stop and start, the intensity window, the
// backoff delays) are taken by a deterministic core that does no I/O; the
// supervisor process only carries them out. Time is read from the runtime's
// clock (proc.Config.Clock), so a manual clock drives backoff and intensity
// in tests.
//
// Package dynamic, below this one, is the DynamicSupervisor: children started
// on demand, all alike, stopped concurrently.
//
// # Usage
//
// Describe the tree with a Spec and start it as the application root of the
// node:
//
//	app, err := supervisor.StartApp(rt, supervisor.Spec{
//		Strategy: supervisor.OneForOne,
//		Children: []supervisor.ChildSpec{
//			{ID: "cache", Start: func() proc.Behavior { return &Cache{} }},
//			{ID: "jobs", Type: supervisor.Supervisor, Start: func() proc.Behavior {
//				return supervisor.New(supervisor.Spec{Strategy: supervisor.RestForOne, Children: jobs})
//			}},
//		},
//	})
//	if err != nil {
//		return err // a child failed to start; the others were stopped
//	}
//	defer app.Close(ctx) // stops "jobs" (and its children), then "cache"
//
// Inspect and change a running supervisor with WhichChildren, CountChildren,
// StartChild, TerminateChild, RestartChild and DeleteChild, from outside any
// process (pass the runtime) or from a process (pass it):
//
//	kids, err := supervisor.WhichChildren(ctx, rt, app.PID())
//	err = supervisor.TerminateChild(ctx, rt, app.PID(), "cache")
//	pid, err := supervisor.RestartChild(ctx, rt, app.PID(), "cache")
//
// app.Done() is closed if the root supervisor gives up; app.Err() tells why.
//
// Close the App before the runtime: proc.Runtime.Close stops every process
// at once, children included, so it does not follow the tree's order (the
// supervisors then stop quietly instead of restarting anything).
package supervisor

// Package proc is Grove's process runtime: lightweight processes with
// mailboxes, the GenServer behaviour, links, monitors, exit signals, timers
// and registered names — Erlang/OTP's process model for Go.
//
// A process runs a Behavior: Init once, then one callback per message, never
// two at a time, so the behaviour's state needs no locks. A process holds a
// goroutine only while it has messages (and briefly after, in case more
// come), so a million idle processes cost a few hundred bytes each.
//
// # Usage
//
//	rt, _ := proc.New(proc.Config{Node: "app@host"})
//	defer rt.Close(ctx)
//
//	type counter struct {
//		proc.Base
//		n int
//	}
//	func (c *counter) HandleCast(p *proc.Process, msg any) { c.n += msg.(int) }
//	func (c *counter) HandleCall(p *proc.Process, from proc.From, req any) (any, error) {
//		return c.n, nil
//	}
//
//	pid, _ := rt.Spawn(&counter{}, proc.WithName("counter"))
//	rt.Cast(pid, 5)
//	n, err := proc.Call[int](ctx, rt, proc.Name("counter"), "get")
//
// # Guarantees
//
//   - Messages from one sender to one receiver are handled in the order sent.
//   - A send never drops a message silently: it fails with ErrNotAlive for a
//     process that does not exist and with ErrMailboxFull for a full bounded
//     mailbox. Messages queued for a process that exits are discarded with
//     it, as in Erlang; calls among them are answered with an *ExitError.
//     A timer message refused by a full mailbox has no sender to tell: it
//     is counted (Info.DroppedTimerMessages, Runtime.Stats) and logged at a
//     bounded rate.
//   - A call never waits past its callee's exit: like OTP's call, which
//     monitors the callee, it fails with an *ExitError as soon as the callee
//     exits, whether its request was queued, being handled, or held for a
//     later From.Reply — even when the callee is killed while a callback
//     runs, and for calls from other nodes.
//   - Exit signals act at once: an abnormal exit signal (or ErrKill) ends a
//     process that does not trap exits even with messages queued, and system
//     requests (Inspect, Stop) are handled before queued user messages. The
//     exit signal of a parent to a child that traps exits is the exception,
//     as in OTP: the child handles the messages the parent sent before it,
//     then terminates.
//     A message sent before the sender exits arrives before the DOWN or Exit
//     that its exit causes.
//   - Unlink and Demonitor are final: once Unlink has returned, the link has
//     no effect on the caller (no exit signal kills it, no Exit message
//     arrives that was not already queued); once Demonitor has returned
//     true, no Down of that monitor arrives.
//   - An exit is told in this order: OnExit functions (registries forget
//     the process), then links, then monitors, then Watch functions and the
//     callers waiting on the process. Exit signals propagate along links
//     iteratively, so chains of millions of links cost no stack.
//   - A process killed while a callback still runs can no longer spawn,
//     link or monitor: those calls fail or have no effect, and leave
//     nothing behind.
//   - Only ErrNormal itself (and nil) is a normal exit, and only
//     ErrShutdown and ShutdownError are shutdowns: a reason that wraps them
//     is abnormal (IsNormalExit, IsShutdown).
//   - A process never waits on itself: Process.Call to its own PID, name or
//     Via, and the Runtime's Call, CallTo, Stop and Inspect given its
//     Context, fail with ErrCallToSelf.
//   - Close stops every process, including those whose Spawn raced with
//     it; the runtime's tables shrink again after many processes exited.
//   - A panic in a callback ends only that process, with a *CrashError
//     carrying the panic value and stack; its links and monitors see it.
//   - A callback cannot be pre-empted. A killed process stops receiving
//     messages at once and its links and monitors are told at once, but a
//     callback already running finishes in the background; long callbacks
//     should watch Process.Context, which is cancelled when the process exits.
//
// # Calls, requests and timeouts
//
// Call waits until its context is done or, for a context without deadline,
// for Config.CallTimeout (5 s by default, as gen_server:call; ErrTimeout);
// WithoutTimeout is OTP's infinity. SendRequest sends a call without
// waiting; its Request is collected with Receive, Wait or Check, alone or
// in a Requests collection, as send_request and request-id collections.
// Process.IdleTimeout and Process.Hibernate are a gen_server's timeout and
// hibernate.
//
// # Live processes
//
// Info describes a process from outside (links, monitors, timers, label);
// the system requests ask the process itself, between two callbacks and
// ahead of its messages, as OTP's sys module: Inspect (get_state),
// SetStatistics and Statistics, Trace and TraceLog (the last messages in
// and out), Suspend and Resume, ReplaceState. SetLabel and SetLogAttrs put
// a label and attributes on the process's Info and Logger lines.
//
// # Differences from Erlang
//
// Spawn runs Init on the caller's goroutine and returns its error, like
// gen_server:start_link; a failed Init does not signal the links (OTP 26's
// {error, Reason}). Link to a process that does not exist returns
// ErrNotAlive instead of sending a noproc exit signal. Calls do not pass
// through the caller's mailbox, so a process blocked in Call does not handle
// other messages meanwhile, as in Erlang.
package proc

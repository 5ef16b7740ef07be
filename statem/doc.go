// Package statem is Erlang/OTP's gen_statem for Grove: a state machine
// that runs as a process of package proc, with states of any comparable
// Go type, state enter calls, postponed events, inserted events, state,
// event and named time-outs, and replies sent now or from a later state.
//
// A machine is a Behavior[S]: Init returns the initial state, HandleEvent
// handles one Event in the current state and returns a Result built with
// the Machine's methods — Next(state), Keep(), Repeat() or Stop(reason) —
// each with transition actions: Reply, Postpone, NextEvent, and the
// time-outs EventTimeout, StateTimeout and Timeout (with their Cancel and
// Update forms). Embed a StateFunctions table for the state-functions
// style, one function per state. New wraps the behaviour in a
// proc.Behavior, so a machine is spawned, named, linked, monitored and
// supervised like any process.
//
// # Usage
//
//	type door struct{ code, entered string }
//
//	func (d *door) Init(*statem.Machine[string]) (string, []statem.Action, error) {
//		return "locked", nil, nil
//	}
//
//	func (d *door) HandleEvent(m *statem.Machine[string], state string, ev statem.Event) statem.Result[string] {
//		switch {
//		case state == "locked" && ev.Type == statem.CallEvent:
//			if d.entered += ev.Content.(string); d.entered == d.code {
//				return m.Next("open", statem.Reply(ev.From, "open", nil))
//			}
//			return m.Keep(statem.Reply(ev.From, "locked", nil))
//		case state == "open" && ev.Type == statem.EnterEvent:
//			return m.Keep(statem.StateTimeout(10*time.Second, "lock"))
//		case state == "open" && ev.Type == statem.StateTimeoutEvent:
//			d.entered = ""
//			return m.Next("locked")
//		case state == "open":
//			return m.Keep(statem.Postpone()) // handled again once locked
//		}
//		return m.Keep()
//	}
//
//	pid, err := rt.Spawn(statem.New[string](&door{code: "123"}, statem.WithStateEnter()), proc.WithName("door"))
//	s, err := proc.Call[string](ctx, rt, proc.Name("door"), "1")
//	state, err := statem.StateOf[string](ctx, rt, pid)
//
// # Semantics
//
// They are OTP's (gen_statem's transition_option()). After a callback:
//
//   - replies are sent, in the order given;
//   - Postpone keeps the current event; on the next state change the
//     postponed events are handled again, oldest first, before any other
//     queued event. Next to the current state is not a state change: it
//     is Keep;
//   - with WithStateEnter, the state entered gets an EnterEvent (its
//     Content is the state left) when the machine starts, after every
//     state change and after Repeat, before any other event. An enter
//     call may set time-outs and reply, but not change the state,
//     postpone or insert events;
//   - NextEvent events are handled next, in the order given, before
//     postponed and queued events;
//   - a state change cancels the state time-out; one set in the same
//     transition (or its enter call) belongs to the new state;
//   - any event cancels the event time-out, so one set while events are
//     queued never fires;
//   - generic time-outs, named, survive state changes and events; setting
//     one again restarts it;
//   - a time-out of zero fires before any message not yet received, after
//     the events already queued; Infinity cancels a time-out.
//
// Everything the machine queues itself (inserted, retried and zero time-out
// events) is handled before it takes the next message from its mailbox.
// Time-outs run on the runtime's clock (proc.Config.Clock), so a manual
// clock drives them in tests; a time-out cancelled after its timer fired
// is never delivered.
//
// A call is answered with a Reply action or with From.Reply from any
// goroutine; a postponed call keeps its From. A caller whose call is
// pending when the machine exits (it stopped, crashed or was killed) gets
// a *proc.ExitError at once. A callback that returns a Result the machine
// cannot carry out stops it with an error wrapping ErrBadResult.
//
// The decisions (which callback runs next with which event, the postponed
// and inserted events, the bookkeeping of time-outs) are taken by a
// deterministic core that does no I/O; the process only carries them out.
//
// # Differences from OTP
//
// The machine's data lives in the behaviour's own fields rather than in
// the results. Absolute time-outs, hibernation, code change, callback
// module changes and sys debugging are not provided. A call inserted with
// NextEvent is not possible (CallEvent needs a caller).
package statem

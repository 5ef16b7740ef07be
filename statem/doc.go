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
//     postpone or insert events; one that returns Repeat is called again
//     with the same Content;
//   - NextEvent events are handled next, in the order given, before
//     postponed and queued events;
//   - a state change cancels the state time-out; one set in the same
//     transition (or its enter call) belongs to the new state;
//   - any event cancels the event time-out, so one set while events are
//     queued never fires;
//   - generic time-outs, named, survive state changes and events; setting
//     one again restarts it;
//   - of several actions on one time-out in a transition (its callback's
//     and its enter calls'), only the last counts: a Timeout followed by
//     an Update of the same time-out updates the one running before;
//   - the absolute forms (EventTimeoutAt, StateTimeoutAt, TimeoutAt) fire
//     at a time of the runtime's clock, at once if it has passed;
//   - a time-out of zero fires before any message not yet received, after
//     the events already queued; Infinity cancels a time-out.
//
// Everything the machine queues itself (inserted, retried and zero time-out
// events) is handled before it takes the next message from its mailbox.
// Time-outs run on the runtime's clock (proc.Config.Clock), so a manual
// clock drives them in tests; a time-out cancelled after its timer fired
// is never delivered. The expiry of a time-out is a message of the machine
// to itself, but it is never lost to a full bounded mailbox: one refused
// is handed to the machine once it has handled the messages that were
// waiting, as late as the mailbox would have delivered it.
//
// A call is answered with a Reply action, sent as the action is carried
// out (before the machine handles anything else), or with From.Reply from
// any goroutine; a postponed call keeps its From, and NextCall passes a
// call on to the machine itself. A caller whose call is pending when the
// machine exits (it stopped, crashed or was killed) gets a
// *proc.ExitError at once. A callback that returns a Result the machine
// cannot carry out stops it with an error wrapping ErrBadResult.
//
// The machine has started when Init returns without error: the initial
// transition (Init's actions, the first enter call and the events they
// lead to) runs before Spawn returns, so that its time-outs count from
// the spawn, but a stop, a crash or a bad result in it is an exit of the
// started machine, right after Spawn returns and before any message — a
// supervisor restarts it as any child that crashed, as in OTP.
//
// The decisions (which callback runs next with which event, the postponed
// and inserted events, the bookkeeping of time-outs) are taken by a
// deterministic core that does no I/O; the process only carries them out.
//
// # Differences from OTP
//
//   - The machine's data lives in the behaviour's own fields rather than in
//     the results (there is no NewData to return).
//   - No hibernation: an idle machine already holds no goroutine, only its
//     memory, and Go has no per-process heap to compact. No code change,
//     callback module changes (change_callback_module) or sys debugging
//     (sys:get_state, trace); Runtime.Inspect gives the Status.
//   - A negative time-out counts as zero (OTP refuses it with badarg).
//   - Postpone in Init is a bad result (OTP forces it to false). NextEvent
//     cannot insert a generic time-out event (OTP's {timeout, Name}); as in
//     OTP, it cannot insert an enter call.
//   - The initial transition runs on the spawning goroutine, before Spawn
//     returns (OTP runs it after start_link has returned): its callbacks
//     must not wait for the process that spawns the machine.
//   - gen_statem:call's clean and dirty time-outs are the caller's
//     context; a caller that gives up leaves its From, whose Reply is then
//     a no-op.
package statem

package statem

import (
	"math"
	"time"

	"github.com/grovedev/grove/proc"
)

// Infinity as the time of a time-out starts no timer: setting a time-out to
// Infinity cancels it, as in OTP.
const Infinity time.Duration = math.MaxInt64

// Action is a transition action a state callback returns with its Result:
// a reply, a postpone, an inserted event, or a time-out to set, cancel or
// update. Actions are carried out in the order given.
type Action interface{ isAction() }

// replier answers a call; proc.From is one.
type replier interface{ Reply(v any, err error) }

type (
	replyAction struct {
		to  replier
		v   any
		err error
	}
	postponeAction  struct{}
	nextEventAction struct{ ev Event }
	timeoutAction   struct {
		key timerKey
		op  timeoutOp
		d   time.Duration
		abs bool      // at rather than d
		at  time.Time // of an absolute time-out, on the runtime's clock
		msg any
	}
)

type timeoutOp uint8

const (
	opSet timeoutOp = iota
	opCancel
	opUpdate
)

func (replyAction) isAction()     {}
func (postponeAction) isAction()  {}
func (nextEventAction) isAction() {}
func (timeoutAction) isAction()   {}

// timerKey names one time-out: the event time-out, the state time-out, or
// a generic time-out by name.
type timerKey struct {
	typ  EventType
	name any
}

var (
	eventTimer = timerKey{typ: EventTimeoutEvent}
	stateTimer = timerKey{typ: StateTimeoutEvent}
)

// Reply answers the call from with v and err, as OTP's {reply, From,
// Reply}. The call may have been received in an earlier state: a From
// stays valid until answered. Only the first answer to a call counts.
func Reply(from proc.From, v any, err error) Action { return replyAction{to: from, v: v, err: err} }

// Postpone keeps the current event for later: it is handled again, in the
// order the postponed events arrived and before any newer event, after the
// next state change. A state enter call cannot postpone.
func Postpone() Action { return postponeAction{} }

// NextEvent inserts an event to be handled right after this transition,
// before any event already queued; several are handled in the order given.
// typ is InternalEvent for the machine's own events, or CastEvent,
// InfoEvent, EventTimeoutEvent or StateTimeoutEvent to handle content as
// if it had been received; a call is inserted with NextCall. A state enter
// call cannot insert events.
func NextEvent(typ EventType, content any) Action {
	return nextEventAction{ev: Event{Type: typ, Content: content}}
}

// NextCall inserts a call event with req, answered through from, to be
// handled like the events NextEvent inserts: OTP's {next_event, {call,
// From}, Request}. from is the From of a call the machine holds (for
// instance the call being handled, passed on as another request); the
// caller still waits for one answer.
func NextCall(from proc.From, req any) Action {
	return nextEventAction{ev: Event{Type: CallEvent, From: from, Content: req}}
}

// EventTimeout sets the event time-out: an EventTimeoutEvent with content
// arrives after d unless any other event arrives first (or is already
// queued), which cancels it. Zero makes it arrive before any message not
// yet received, if no event is queued; Infinity cancels it.
func EventTimeout(d time.Duration, content any) Action {
	return timeoutAction{key: eventTimer, op: opSet, d: d, msg: content}
}

// StateTimeout sets the state time-out: a StateTimeoutEvent with content
// arrives after d unless the state changes first, which cancels it. Set in
// a transition that changes the state, it belongs to the new state. Setting
// it again restarts it; Infinity cancels it; zero makes it arrive before any
// message not yet received.
func StateTimeout(d time.Duration, content any) Action {
	return timeoutAction{key: stateTimer, op: opSet, d: d, msg: content}
}

// Timeout sets the generic time-out name (OTP's {timeout, Name}): a
// GenericTimeoutEvent with that name and content arrives after d. It
// survives state changes and events; setting it again restarts it; Infinity
// cancels it. name must be comparable.
func Timeout(name any, d time.Duration, content any) Action {
	return timeoutAction{key: timerKey{typ: GenericTimeoutEvent, name: name}, op: opSet, d: d, msg: content}
}

// EventTimeoutAt is EventTimeout with an absolute time on the runtime's
// clock (OTP's {timeout, Time, Content, [{abs, true}]}): the event arrives
// at t, or at once, after the messages already received, if t has passed
// — unless another event comes first.
func EventTimeoutAt(t time.Time, content any) Action {
	return timeoutAction{key: eventTimer, op: opSet, abs: true, at: t, msg: content}
}

// StateTimeoutAt is StateTimeout with an absolute time on the runtime's
// clock: the event arrives at t, or at once, after the messages already
// received, if t has passed — unless the state changes first.
func StateTimeoutAt(t time.Time, content any) Action {
	return timeoutAction{key: stateTimer, op: opSet, abs: true, at: t, msg: content}
}

// TimeoutAt is Timeout with an absolute time on the runtime's clock: the
// generic time-out name arrives at t, or at once, after the messages
// already received, if t has passed.
func TimeoutAt(name any, t time.Time, content any) Action {
	return timeoutAction{key: timerKey{typ: GenericTimeoutEvent, name: name}, op: opSet, abs: true, at: t, msg: content}
}

// CancelEventTimeout cancels the event time-out, if set.
func CancelEventTimeout() Action { return timeoutAction{key: eventTimer, op: opCancel} }

// CancelStateTimeout cancels the state time-out, if set.
func CancelStateTimeout() Action { return timeoutAction{key: stateTimer, op: opCancel} }

// CancelTimeout cancels the generic time-out name, if set.
func CancelTimeout(name any) Action {
	return timeoutAction{key: timerKey{typ: GenericTimeoutEvent, name: name}, op: opCancel}
}

// UpdateEventTimeout changes the content of the running event time-out
// without restarting it. With no event time-out running, the event arrives
// with content as for a zero time.
func UpdateEventTimeout(content any) Action {
	return timeoutAction{key: eventTimer, op: opUpdate, msg: content}
}

// UpdateStateTimeout changes the content of the running state time-out
// without restarting it. With none running, the event arrives with content
// as for a zero time.
func UpdateStateTimeout(content any) Action {
	return timeoutAction{key: stateTimer, op: opUpdate, msg: content}
}

// UpdateTimeout changes the content of the running generic time-out name
// without restarting it. With none running, the event arrives with content
// as for a zero time.
func UpdateTimeout(name any, content any) Action {
	return timeoutAction{key: timerKey{typ: GenericTimeoutEvent, name: name}, op: opUpdate, msg: content}
}

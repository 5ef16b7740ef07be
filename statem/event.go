package statem

import (
	"fmt"

	"github.com/grovedev/grove/proc"
)

// EventType tells where an event came from, as OTP's event_type().
type EventType uint8

// Event types.
const (
	// CallEvent is a synchronous request (proc.Call); Event.From answers it.
	CallEvent EventType = iota + 1
	// CastEvent is an asynchronous request (proc.Cast).
	CastEvent
	// InfoEvent is any other message: plain sends, DOWN and trapped EXIT
	// notifications.
	InfoEvent
	// EventTimeoutEvent is the expiry of the event time-out (OTP's timeout),
	// set with EventTimeout.
	EventTimeoutEvent
	// StateTimeoutEvent is the expiry of the state time-out, set with
	// StateTimeout.
	StateTimeoutEvent
	// GenericTimeoutEvent is the expiry of a named time-out (OTP's
	// {timeout, Name}), set with Timeout; Event.Name is its name.
	GenericTimeoutEvent
	// InternalEvent is an event the machine inserted itself with NextEvent.
	InternalEvent
	// EnterEvent is a state enter call (WithStateEnter): Event.Content is
	// the state left (equal to the current state at start and after
	// Repeat).
	EnterEvent
)

// String returns the OTP name of the event type, such as "state_timeout".
func (t EventType) String() string {
	switch t {
	case CallEvent:
		return "call"
	case CastEvent:
		return "cast"
	case InfoEvent:
		return "info"
	case EventTimeoutEvent:
		return "timeout"
	case StateTimeoutEvent:
		return "state_timeout"
	case GenericTimeoutEvent:
		return "generic_timeout"
	case InternalEvent:
		return "internal"
	case EnterEvent:
		return "enter"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is what a state callback handles.
type Event struct {
	Type EventType
	// Content is the request or message; for a time-out, the content given
	// when it was set; for an enter call, the state left.
	Content any
	// From answers a CallEvent: pass it to Reply, now or in a later state
	// (it stays valid after a Postpone), or call its Reply method from any
	// goroutine.
	From proc.From
	// Name is the name of a GenericTimeoutEvent.
	Name any
}

// String formats the event as type(content).
func (e Event) String() string {
	if e.Type == GenericTimeoutEvent {
		return fmt.Sprintf("%v[%v](%v)", e.Type, e.Name, e.Content)
	}
	return fmt.Sprintf("%v(%v)", e.Type, e.Content)
}

// IsTimeout reports whether the event is the expiry of a time-out of any
// kind.
func (e Event) IsTimeout() bool {
	return e.Type == EventTimeoutEvent || e.Type == StateTimeoutEvent || e.Type == GenericTimeoutEvent
}

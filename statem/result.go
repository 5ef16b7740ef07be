package statem

import (
	"errors"
)

// Errors of the package. A machine whose callback returns something it
// cannot carry out stops with an error wrapping one of them.
var (
	// ErrBadResult is wrapped by the exit reason of a machine whose callback
	// returned a Result it cannot carry out: the zero Result, a state
	// change, postpone or inserted event from a state enter call, a
	// postpone in Init, an event type NextEvent cannot insert, a generic
	// time-out name that is not comparable, or actions other than replies
	// with Stop.
	ErrBadResult = errors.New("statem: bad callback result")
	// ErrUnknownState is wrapped by the exit reason of a machine in the
	// state-functions style that reached a state without a function.
	ErrUnknownState = errors.New("statem: no state function for state")
)

type resultKind uint8

const (
	resNone   resultKind = iota // the zero Result: a bug of the callback
	resNext                     // next_state
	resKeep                     // keep_state
	resRepeat                   // repeat_state
	resStop                     // stop / stop_and_reply
)

// Result is what a state callback returns: the transition to make and the
// actions to carry out. Build it with the methods of Machine: Next, Keep,
// Repeat and Stop.
type Result[S comparable] struct {
	kind    resultKind
	state   S
	actions []Action
	reason  error
}

// Next moves to state s, as OTP's {next_state, S, Data, Actions}. When s
// differs from the current state, this is a state change: postponed events
// are handled again, the state time-out is cancelled and, with state enter
// calls, the enter call of s runs. When s is the current state, Next is the
// same as Keep.
func (m *Machine[S]) Next(s S, actions ...Action) Result[S] {
	return Result[S]{kind: resNext, state: s, actions: actions}
}

// Keep stays in the current state, as OTP's keep_state: postponed events
// stay postponed and no enter call runs.
func (m *Machine[S]) Keep(actions ...Action) Result[S] {
	return Result[S]{kind: resKeep, actions: actions}
}

// Repeat stays in the current state but runs its enter call again, as
// OTP's repeat_state. It is the same as Keep without state enter calls.
func (m *Machine[S]) Repeat(actions ...Action) Result[S] {
	return Result[S]{kind: resRepeat, actions: actions}
}

// Stop stops the machine with reason (nil means proc.ErrNormal) after
// sending the replies among actions, as OTP's stop_and_reply. Terminate
// runs, if the behaviour has it. Only Reply actions may be given.
func (m *Machine[S]) Stop(reason error, actions ...Action) Result[S] {
	return Result[S]{kind: resStop, actions: actions, reason: reason}
}

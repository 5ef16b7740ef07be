package proc

import "log/slog"

// Behavior is the callback module of a process, the Go form of an OTP
// gen_server. The runtime calls its methods from the process's own goroutine,
// one at a time and never concurrently, so a Behavior needs no locks for its
// own state.
//
// Embed Base to get the OTP defaults and implement only what you need.
type Behavior interface {
	// Init runs when the process starts, before any message is handled, on
	// the goroutine that called Spawn; Spawn returns once Init has. A non-nil
	// error aborts the start: Spawn returns it and the process exits with it
	// as reason, without sending exit signals to its links.
	Init(p *Process) error
	// HandleCall answers a synchronous request. The returned reply and error
	// go back to the caller. Return NoReply to answer later with From.Reply,
	// from this or any other goroutine.
	HandleCall(p *Process, from From, req any) (reply any, err error)
	// HandleCast handles an asynchronous request sent with Cast.
	HandleCast(p *Process, msg any)
	// HandleInfo handles every other message: plain sends, timers, DOWN and
	// trapped EXIT notifications.
	HandleInfo(p *Process, msg any)
}

// Terminator is implemented by behaviours that clean up when they stop.
// Terminate is called when the behaviour stops itself (Process.Stop), when a
// callback panics, and when a process that traps exits receives an exit
// signal from its parent. It is not called when the process is killed.
type Terminator interface {
	Terminate(p *Process, reason error)
}

// Continuer is implemented by behaviours that use Process.Continue: the
// value passed there is handed to HandleContinue before the next message,
// like OTP's handle_continue.
type Continuer interface {
	HandleContinue(p *Process, cont any)
}

// Inspector is implemented by behaviours that expose their state to
// Runtime.Inspect, for tools such as the dashboard. Inspect runs on the
// process's goroutine, so it may read the state freely; it should return a
// copy, not a reference to mutable state.
type Inspector interface {
	Inspect() any
}

// NoReply is returned by HandleCall to answer the call later with From.Reply.
var NoReply = noReply{}

type noReply struct{}

// Base gives a Behavior the OTP defaults: Init succeeds, calls are answered
// with ErrUnhandled, unexpected casts and infos are logged. Embed it.
type Base struct{}

// Init does nothing.
func (Base) Init(*Process) error { return nil }

// HandleCall answers ErrUnhandled.
func (Base) HandleCall(_ *Process, _ From, _ any) (any, error) { return nil, ErrUnhandled }

// HandleCast logs the unexpected message.
func (Base) HandleCast(p *Process, msg any) {
	p.Logger().Warn("unhandled cast", slog.Any("msg", msg))
}

// HandleInfo logs the unexpected message.
func (Base) HandleInfo(p *Process, msg any) {
	p.Logger().Warn("unhandled message", slog.Any("msg", msg))
}

// HandlerFunc is a Behavior made of a single function that receives every
// message sent or cast to the process. Calls are answered with ErrUnhandled.
type HandlerFunc func(p *Process, msg any)

// Init does nothing.
func (HandlerFunc) Init(*Process) error { return nil }

// HandleCall answers ErrUnhandled.
func (HandlerFunc) HandleCall(*Process, From, any) (any, error) { return nil, ErrUnhandled }

// HandleCast calls f.
func (f HandlerFunc) HandleCast(p *Process, msg any) { f(p, msg) }

// HandleInfo calls f.
func (f HandlerFunc) HandleInfo(p *Process, msg any) { f(p, msg) }

var (
	_ Behavior = Base{}
	_ Behavior = HandlerFunc(nil)
)

package proc

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// The tools of OTP's sys module for live processes: statistics, a bounded
// trace of the messages in and out, suspend and resume, replacing the
// state. Each is a system request, answered by the process between two
// callbacks (see Inspect).

var (
	// ErrNoStatistics is returned by Statistics for a process whose
	// statistics are off (SetStatistics turns them on).
	ErrNoStatistics = errors.New("proc: statistics not collected")
	// ErrNoTrace is returned by TraceLog for a process not traced (Trace
	// turns it on).
	ErrNoTrace = errors.New("proc: process not traced")
)

// MaxTraceEvents bounds the events a trace keeps.
const MaxTraceEvents = 10_000

// traceMsgLen bounds the text of a message in a trace event.
const traceMsgLen = 256

// Statistics are a process's figures since SetStatistics turned them on,
// like sys:statistics.
type Statistics struct {
	Since       time.Time // when collection was turned on, on the runtime's clock
	MessagesIn  uint64    // messages handled: infos, casts and calls
	CallsIn     uint64    // calls among them
	MessagesOut uint64    // sends, casts and calls the process made
}

// TraceEvent is one message in or out of a traced process, like the events
// of sys:log.
type TraceEvent struct {
	At   time.Time `json:"at"`             // on the runtime's clock
	Dir  string    `json:"dir"`            // "in" or "out"
	Kind string    `json:"kind"`           // "info", "cast", "call", "exit" (a parent's) or "timeout"
	Peer string    `json:"peer,omitempty"` // the destination of a message out; the caller of a call in
	Msg  string    `json:"msg"`            // the message, printed with %v, cut at 256 bytes
}

// debugState holds the statistics and the trace of a process while one of
// them is on. The process's goroutine writes the events in; any goroutine
// that sends on the process's behalf writes the events out.
type debugState struct {
	mu    sync.Mutex
	stats *Statistics
	ring  []TraceEvent // the last len(ring) events once full
	next  int          // where the next event goes
	full  bool
}

func (d *debugState) on() bool { return d.stats != nil || d.ring != nil }

// received records the message e that p is about to handle.
func (d *debugState) received(p *Process, e envelope) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stats != nil {
		d.stats.MessagesIn++
		if e.kind == kindCall {
			d.stats.CallsIn++
		}
	}
	if d.ring == nil {
		return
	}
	ev := TraceEvent{At: p.rt.clock.Now(), Dir: "in"}
	msg := e.msg
	switch e.kind {
	case kindInfo:
		ev.Kind = "info"
		if _, ok := msg.(Timeout); ok {
			ev.Kind = "timeout"
		}
	case kindCast:
		ev.Kind = "cast"
	case kindCall:
		c := msg.(*callRequest)
		ev.Kind, msg = "call", c.req
		if !c.from.caller.IsZero() {
			ev.Peer = c.from.caller.String()
		}
	case kindParentExit:
		ev.Kind = "exit"
	}
	ev.Msg = preview(msg)
	d.addLocked(ev)
}

// sent records a message p sent.
func (d *debugState) sent(p *Process, kind string, to Dest, msg any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stats != nil {
		d.stats.MessagesOut++
	}
	if d.ring != nil {
		d.addLocked(TraceEvent{At: p.rt.clock.Now(), Dir: "out", Kind: kind, Peer: fmt.Sprint(to), Msg: preview(msg)})
	}
}

func (d *debugState) addLocked(ev TraceEvent) {
	d.ring[d.next] = ev
	if d.next++; d.next == len(d.ring) {
		d.next, d.full = 0, true
	}
}

// events returns the trace, oldest first.
func (d *debugState) events() []TraceEvent {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.full {
		return append([]TraceEvent(nil), d.ring[:d.next]...)
	}
	return append(append([]TraceEvent(nil), d.ring[d.next:]...), d.ring[:d.next]...)
}

func preview(msg any) string {
	s := fmt.Sprintf("%v", msg)
	if len(s) > traceMsgLen {
		s = s[:traceMsgLen]
	}
	return s
}

// traceOut records a message p sends, when its trace or statistics are on.
func (p *Process) traceOut(kind string, to Dest, msg any) {
	if d := p.dbg.Load(); d != nil {
		d.sent(p, kind, to, msg)
	}
}

// System requests of this file.
type (
	sysStatistics    struct{ on bool }
	sysGetStatistics struct{}
	sysTrace         struct{ n int }
	sysGetTrace      struct{}
	sysSuspend       struct{}
	sysResume        struct{}
	sysReplaceState  struct {
		fn func(Behavior) (Behavior, error)
	}
)

// handleDebug answers the system requests of this file, on p's goroutine.
func (p *Process) handleDebug(req any) (ok bool, v any, err error) {
	switch r := req.(type) {
	case sysStatistics:
		p.editDebug(func(d *debugState) {
			if !r.on {
				d.stats = nil
			} else if d.stats == nil {
				d.stats = &Statistics{Since: p.rt.clock.Now()}
			}
		})
		return true, nil, nil
	case sysGetStatistics:
		d := p.dbg.Load()
		if d == nil || d.stats == nil {
			return true, nil, ErrNoStatistics
		}
		d.mu.Lock()
		st := *d.stats
		d.mu.Unlock()
		return true, st, nil
	case sysTrace:
		p.editDebug(func(d *debugState) {
			d.ring, d.next, d.full = nil, 0, false
			if r.n > 0 {
				d.ring = make([]TraceEvent, r.n)
			}
		})
		return true, nil, nil
	case sysGetTrace:
		d := p.dbg.Load()
		if d == nil || d.ring == nil {
			return true, nil, ErrNoTrace
		}
		return true, d.events(), nil
	case sysSuspend:
		p.rs().suspended = true
		return true, nil, nil
	case sysResume:
		if s := p.ext; s != nil {
			s.suspended = false
		}
		return true, nil, nil
	case sysReplaceState:
		return true, nil, p.replaceState(r.fn)
	}
	return false, nil, nil
}

// editDebug changes p's debug state, dropping it when nothing is on.
func (p *Process) editDebug(edit func(*debugState)) {
	old := p.dbg.Load()
	d := &debugState{}
	if old != nil {
		old.mu.Lock()
		d.stats, d.ring, d.next, d.full = old.stats, old.ring, old.next, old.full
		old.mu.Unlock()
	}
	edit(d)
	if !d.on() {
		d = nil
	}
	p.dbg.Store(d)
}

// replaceState runs fn with the behaviour and installs what it returns.
func (p *Process) replaceState(fn func(Behavior) (Behavior, error)) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("proc: replace state: %w", &CrashError{Value: v, Stack: debug.Stack()})
		}
	}()
	beh, err := fn(p.beh)
	if err != nil {
		return err
	}
	if beh != nil {
		p.beh = beh
	}
	return nil
}

// SetStatistics turns the collection of pid's statistics on or off, like
// sys:statistics(Name, true|false). Turning it on again keeps the figures.
func (rt *Runtime) SetStatistics(ctx context.Context, pid PID, on bool) error {
	_, err := rt.sysRequest(ctx, pid, sysStatistics{on: on})
	return err
}

// Statistics returns pid's statistics, or ErrNoStatistics when they are
// off.
func (rt *Runtime) Statistics(ctx context.Context, pid PID) (Statistics, error) {
	v, err := rt.sysRequest(ctx, pid, sysGetStatistics{})
	if err != nil {
		return Statistics{}, err
	}
	return v.(Statistics), nil
}

// Trace makes pid keep its last n messages in and out (at most
// MaxTraceEvents), like sys:log(Name, {true, N}); n ≤ 0 stops the trace and
// forgets its events. A new Trace starts afresh.
func (rt *Runtime) Trace(ctx context.Context, pid PID, n int) error {
	if n > MaxTraceEvents {
		return fmt.Errorf("proc: trace of %d events: at most %d", n, MaxTraceEvents)
	}
	_, err := rt.sysRequest(ctx, pid, sysTrace{n: n})
	return err
}

// TraceLog returns the events pid's trace keeps, oldest first, or
// ErrNoTrace when it is not traced.
func (rt *Runtime) TraceLog(ctx context.Context, pid PID) ([]TraceEvent, error) {
	v, err := rt.sysRequest(ctx, pid, sysGetTrace{})
	if err != nil {
		return nil, err
	}
	return v.([]TraceEvent), nil
}

// Suspend makes pid handle system requests only, like sys:suspend: its
// user messages wait, in order, until Resume, and count against its mailbox
// bound meanwhile; an exit signal from its parent still ends it, and exit
// signals and kills act as ever.
func (rt *Runtime) Suspend(ctx context.Context, pid PID) error {
	_, err := rt.sysRequest(ctx, pid, sysSuspend{})
	return err
}

// Resume lets a suspended pid handle its messages again, like sys:resume.
func (rt *Runtime) Resume(ctx context.Context, pid PID) error {
	_, err := rt.sysRequest(ctx, pid, sysResume{})
	return err
}

// ReplaceState calls fn with pid's behaviour on pid's goroutine, between
// two callbacks, and makes the behaviour fn returns (if not nil) the
// process's from then on, like sys:replace_state. An error or a panic of fn
// is returned and leaves the behaviour as it was; the process goes on.
func (rt *Runtime) ReplaceState(ctx context.Context, pid PID, fn func(Behavior) (Behavior, error)) error {
	if fn == nil {
		return fmt.Errorf("proc: ReplaceState: nil function")
	}
	_, err := rt.sysRequest(ctx, pid, sysReplaceState{fn: fn})
	return err
}

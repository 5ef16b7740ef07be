package proc

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Sender is what both a Runtime (from outside any process) and a Process
// (from inside one) can do to reach processes; generic helpers such as Call
// accept either.
type Sender interface {
	Send(to PID, msg any) error
	SendTo(to Dest, msg any) error
	Cast(to Dest, msg any) error
	CallTo(ctx context.Context, to Dest, req any) (any, error)
}

var (
	_ Sender = (*Runtime)(nil)
	_ Sender = (*Process)(nil)
)

// Send delivers msg to the mailbox of pid, to be handled by HandleInfo.
// Messages from one sender to one receiver arrive in the order sent. Send
// fails with ErrNotAlive for a process that does not exist and with
// ErrMailboxFull for a full bounded mailbox; a message is never dropped
// silently.
func (rt *Runtime) Send(to PID, msg any) error { return rt.sendFrom(PID{}, to, msg, false) }

// SendTo is Send to a PID, a registered Name or a Via name.
func (rt *Runtime) SendTo(to Dest, msg any) error { return rt.sendDest(PID{}, to, msg, false) }

// Cast delivers msg to be handled by HandleCast.
func (rt *Runtime) Cast(to Dest, msg any) error { return rt.sendDest(PID{}, to, msg, true) }

// sendDest sends to any destination: local or remote PIDs and names.
func (rt *Runtime) sendDest(from PID, to Dest, msg any, cast bool) error {
	if n, ok := to.(NodeName); ok && n.Node != rt.name {
		r := rt.remote.get()
		if r == nil {
			return fmt.Errorf("%w: %s", ErrNoRoute, n.Node)
		}
		return r.SendName(from, n.Node, n.Name, msg, cast)
	}
	pid, err := rt.resolve(to)
	if err != nil {
		return err
	}
	return rt.sendFrom(from, pid, msg, cast)
}

// sendFrom sends to a PID, local or remote.
func (rt *Runtime) sendFrom(from, to PID, msg any, cast bool) error {
	if t := rt.table.get(to); t != nil {
		kind := kindInfo
		if cast {
			kind = kindCast
		}
		return t.push(envelope{kind: kind, msg: msg})
	}
	r, err := rt.route(to)
	if err != nil {
		return err
	}
	return r.Send(from, to, msg, cast)
}

// Send delivers msg to pid; see Runtime.Send.
func (p *Process) Send(to PID, msg any) error {
	if d := p.dbg.Load(); d != nil {
		d.sent(p, "info", to, msg)
	}
	// Processes tend to talk to the same peer again: remember the last one
	// and skip the table. A dead peer still refuses the message.
	t := p.peer.Load()
	if t == nil || t.pid != to {
		if t = p.rt.table.get(to); t == nil {
			return p.rt.sendFrom(p.pid, to, msg, false)
		}
		p.peer.Store(t)
	}
	return t.push(envelope{kind: kindInfo, msg: msg})
}

// SendTo delivers msg to a PID or a name; see Runtime.SendTo.
func (p *Process) SendTo(to Dest, msg any) error {
	p.traceOut("info", to, msg)
	return p.rt.sendDest(p.pid, to, msg, false)
}

// Cast delivers msg to be handled by HandleCast; see Runtime.Cast.
func (p *Process) Cast(to Dest, msg any) error {
	p.traceOut("cast", to, msg)
	return p.rt.sendDest(p.pid, to, msg, true)
}

func (rt *Runtime) push(to PID, e envelope) error {
	t := rt.table.get(to)
	if t == nil {
		return rt.notLocal(to)
	}
	return t.push(e)
}

// push queues a user message on p.
func (p *Process) push(e envelope) error {
	prev, err := p.mbox.push(e, pushUser)
	if err != nil {
		return fmt.Errorf("%w: %v", err, p.pid)
	}
	p.activate(prev)
	return nil
}

// callRequest is the message of a call.
type callRequest struct {
	from From
	req  any
}

// From identifies a pending call, for answering it later with Reply.
type From struct {
	caller PID
	slot   *replySlot
	gen    uint64
}

// Caller returns the PID of the calling process, zero for a caller outside
// any process.
func (f From) Caller() PID { return f.caller }

// Reply answers the call. Only the first answer counts; answering a call
// whose caller gave up, or whose server has exited meanwhile (the caller
// was then told so), is a no-op. Safe from any goroutine.
func (f From) Reply(v any, err error) {
	if f.slot != nil {
		f.slot.reply(f.gen, v, err)
	}
}

// replySlot is where a call's answer lands. Slots are pooled; the
// generation number makes late or repeated answers to an earlier call on
// the same slot harmless: an answer counts only if it moves the generation
// of its own call on, and the caller moves it on itself when it stops
// waiting (its context ended, or the server exited).
type replySlot struct {
	gen    atomic.Uint64
	ch     chan callResult
	remote func(any, error) // set for calls from other nodes, used instead of ch
}

type callResult struct {
	v   any
	err error
}

var slotPool = sync.Pool{New: func() any { return &replySlot{ch: make(chan callResult, 1)} }}

// reply delivers the answer of the call of generation gen.
func (s *replySlot) reply(gen uint64, v any, err error) {
	if s.gen.CompareAndSwap(gen, gen+1) {
		if s.remote != nil {
			s.remote(v, err)
			return
		}
		s.ch <- callResult{v, err}
	}
}

// wait waits for the answer on slot of the call of generation gen to t,
// until ctx is done or t exits, as OTP's call monitors its callee. The
// slot goes back to the pool.
func (t *Process) wait(ctx context.Context, slot *replySlot, gen uint64) (any, error) {
	// Yield once before blocking: the callee often runs now and answers,
	// and an answer found without blocking saves the wake-up of a select
	// on four channels.
	runtime.Gosched()
	select {
	case r := <-slot.ch:
		slotPool.Put(slot)
		return r.v, r.err
	default:
	}
	note := t.exitNote()
	var ep *callEpoch
	var until uint64
	var timer <-chan time.Time
	if c := &t.rt.calls; c.precise {
		if !unbounded(ctx) {
			tm := time.NewTimer(c.limit)
			defer tm.Stop()
			timer = tm.C
		}
	} else {
		ep, until = c.deadline(ctx)
	}
	var err error
wait:
	for {
		var tick <-chan struct{}
		if ep != nil {
			tick = ep.done
		}
		select {
		case r := <-slot.ch:
			slotPool.Put(slot)
			return r.v, r.err
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		case <-note.done:
			err = &ExitError{PID: t.pid, Reason: note.reason}
			break wait
		case <-tick:
			if ep = t.rt.calls.cur.Load(); ep.n >= until {
				err = t.rt.calls.timedOut()
				break wait
			}
		case <-timer:
			err = t.rt.calls.timedOut()
			break wait
		}
	}
	if !slot.gen.CompareAndSwap(gen, gen+1) {
		// The answer is on its way: it came first, take it.
		r := <-slot.ch
		slotPool.Put(slot)
		return r.v, r.err
	}
	// No answer will land on this slot any more.
	slotPool.Put(slot)
	return nil, err
}

// Call sends req to pid and waits for the answer of HandleCall, until ctx
// is done, or, when ctx has no deadline, for the runtime's default call
// timeout (5 s unless Config.CallTimeout says otherwise; WithoutTimeout
// lifts it). The error tells what went wrong: the callee's own error, an
// *ExitError if it exited before answering (ErrNoProc if it did not exist),
// ErrMailboxFull, ErrCallToSelf when ctx is the Context of pid itself, the
// context's error, or ErrTimeout (which wraps context.DeadlineExceeded).
func (rt *Runtime) Call(ctx context.Context, to PID, req any) (any, error) {
	return rt.call(ctx, callerOf(ctx), to, req)
}

// CallTo is Call to a PID, a registered Name or a Via name.
func (rt *Runtime) CallTo(ctx context.Context, to Dest, req any) (any, error) {
	return rt.callDest(ctx, callerOf(ctx), to, req)
}

func (rt *Runtime) callDest(ctx context.Context, from PID, to Dest, req any) (any, error) {
	if n, ok := to.(NodeName); ok && n.Node != rt.name {
		r := rt.remote.get()
		if r == nil {
			return nil, fmt.Errorf("%w: %s", ErrNoRoute, n.Node)
		}
		ctx, cancel := rt.boundRemote(ctx)
		defer cancel()
		v, err := r.CallName(ctx, from, n.Node, n.Name, req)
		return v, remoteErr(ctx, err)
	}
	pid, err := rt.resolve(to)
	if err != nil {
		return nil, err
	}
	return rt.call(ctx, from, pid, req)
}

// Call calls pid from p; see Runtime.Call. A process cannot call itself.
func (p *Process) Call(ctx context.Context, to PID, req any) (any, error) {
	p.traceOut("call", to, req)
	return p.rt.call(ctx, p.pid, to, req)
}

// CallTo calls a PID or a name from p; see Runtime.CallTo.
func (p *Process) CallTo(ctx context.Context, to Dest, req any) (any, error) {
	p.traceOut("call", to, req)
	return p.rt.callDest(ctx, p.pid, to, req)
}

func (rt *Runtime) call(ctx context.Context, caller, to PID, req any) (any, error) {
	if caller == to && !caller.IsZero() {
		return nil, ErrCallToSelf
	}
	t := rt.table.get(to)
	if t == nil {
		if !rt.isRemote(to) {
			return nil, &ExitError{PID: to, Reason: ErrNoProc}
		}
		r, err := rt.route(to)
		if err != nil {
			return nil, err
		}
		ctx, cancel := rt.boundRemote(ctx)
		defer cancel()
		v, err := r.Call(ctx, caller, to, req)
		return v, remoteErr(ctx, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slot := slotPool.Get().(*replySlot)
	gen := slot.gen.Load()
	c := &callRequest{from: From{caller: caller, slot: slot, gen: gen}, req: req}
	prev, err := t.mbox.push(envelope{kind: kindCall, msg: c}, pushUser)
	if err != nil {
		slotPool.Put(slot)
		if err == ErrNotAlive {
			return nil, &ExitError{PID: to, Reason: t.exitReason()}
		}
		return nil, fmt.Errorf("%w: %v", err, to)
	}
	t.activate(prev)
	return t.wait(ctx, slot, gen)
}

// Call is Sender.CallTo with the answer converted to R. A nil answer gives
// R's zero value; an answer of another type is an error.
func Call[R any](ctx context.Context, s Sender, to Dest, req any) (R, error) {
	var zero R
	v, err := s.CallTo(ctx, to, req)
	if err != nil {
		return zero, err
	}
	if v == nil {
		return zero, nil
	}
	r, ok := v.(R)
	if !ok {
		return zero, fmt.Errorf("proc: call answered %T, want %T", v, zero)
	}
	return r, nil
}

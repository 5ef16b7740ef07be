package proc

import (
	"context"
	"fmt"
)

// System requests are questions and orders for a process that the process
// answers itself, between two callbacks and ahead of its queued user
// messages, like the system messages of OTP's sys module. They travel as
// calls: the requester waits for the answer, and fails with an *ExitError
// if the process exits first.

// selfKey is the context key under which Process.Context carries the PID
// of its process, so that the Runtime's blocking methods know their caller.
type selfKey struct{}

// callerOf returns the PID of the process whose context ctx is (or derives
// from), or the zero PID.
func callerOf(ctx context.Context) PID {
	pid, _ := ctx.Value(selfKey{}).(PID)
	return pid
}

// sysGetState asks for the behaviour's state (Inspector), as sys:get_state.
type sysGetState struct{}

// sysRequest sends the system request req to pid and waits for the answer
// until ctx is done or pid exits.
func (rt *Runtime) sysRequest(ctx context.Context, pid PID, req any) (any, error) {
	p := rt.table.get(pid)
	if p == nil {
		return nil, rt.notLocal(pid)
	}
	caller := callerOf(ctx)
	if caller == pid {
		return nil, ErrCallToSelf
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slot := slotPool.Get().(*replySlot)
	gen := slot.gen.Load()
	c := &callRequest{from: From{caller: caller, slot: slot, gen: gen}, req: req}
	prev, err := p.mbox.push(envelope{kind: kindSys, msg: c}, pushSystem)
	if err != nil {
		slotPool.Put(slot)
		return nil, &ExitError{PID: pid, Reason: p.exitReason()}
	}
	p.activate(prev)
	return p.wait(ctx, slot, gen)
}

// handleSysCall answers a system request, on p's goroutine.
func (p *Process) handleSysCall(req any) (any, error) {
	if ok, v, err := p.handleDebug(req); ok {
		return v, err
	}
	switch req.(type) {
	case sysGetState:
		if in, ok := p.beh.(Inspector); ok {
			return in.Inspect(), nil
		}
		return nil, nil
	}
	return nil, fmt.Errorf("proc: unknown system request %T", req)
}

// Inspect asks the process for its behaviour's state through the Inspector
// interface, like sys:get_state; the question jumps ahead of queued user
// messages but waits for the callback in progress. It returns nil for
// behaviours without Inspect, and an *ExitError if the process exits
// before answering. A process inspecting itself (ctx is its Context) gets
// ErrCallToSelf.
func (rt *Runtime) Inspect(ctx context.Context, pid PID) (any, error) {
	return rt.sysRequest(ctx, pid, sysGetState{})
}

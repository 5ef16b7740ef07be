package proc

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Asynchronous requests, as OTP's gen_server:send_request and its
// receive_response, wait_response and check_response: a call sent without
// waiting, whose answer is collected later, alone or from a collection of
// requests in flight (OTP 25's request-id collections).

var (
	// ErrNoResponse is returned by Check when the answer has not come yet
	// (OTP's no_reply).
	ErrNoResponse = errors.New("proc: no response yet")
	// ErrNoRequests is returned by the methods of an empty Requests
	// (OTP's no_request).
	ErrNoRequests = errors.New("proc: no request in the collection")
	// ErrAbandoned is returned for a request that was abandoned.
	ErrAbandoned = errors.New("proc: request abandoned")
)

// Request is a call in flight, sent with SendRequest. Its answer is the
// callee's (value and error), or an *ExitError if the callee exits first,
// or the error that kept it from the callee; it comes once, and Receive,
// Wait and Check all return it. A Request is safe for concurrent use.
type Request struct {
	to PID

	mu     sync.Mutex
	state  uint8 // reqPending, reqAnswered, reqAbandoned
	v      any
	err    error
	done   chan struct{} // closed when answered
	coll   *requestSet   // told when answered
	cancel func()        // stops watching the callee, or the remote call
	slot   *replySlot    // local requests: where the answer lands
}

const (
	reqPending uint8 = iota
	reqAnswered
	reqAbandoned
)

// To returns the PID the request went to.
func (r *Request) To() PID { return r.to }

// deliver records the answer, once.
func (r *Request) deliver(v any, err error) {
	r.mu.Lock()
	if r.state != reqPending {
		r.mu.Unlock()
		return
	}
	r.state, r.v, r.err = reqAnswered, v, err
	c, cancel := r.coll, r.cancel
	r.cancel = nil
	r.mu.Unlock()
	// The watch on the callee (or the call to another node) goes before
	// the answer can be seen: once Wait returns, the request holds nothing.
	if cancel != nil {
		cancel()
	}
	close(r.done)
	if c != nil {
		c.answered(r)
	}
}

// Receive waits for the answer until ctx is done, as receive_response: a
// request whose wait ends with ctx is abandoned, and its answer, if it
// comes later, is dropped. There is no default timeout: ctx decides.
func (r *Request) Receive(ctx context.Context) (any, error) {
	v, err := r.Wait(ctx)
	if errors.Is(err, ctx.Err()) && ctx.Err() != nil {
		r.Abandon()
	}
	return v, err
}

// Wait waits for the answer until ctx is done, as wait_response: when ctx
// ends first the request stays in flight and can be waited for again.
func (r *Request) Wait(ctx context.Context) (any, error) {
	select {
	case <-r.done:
		return r.answer()
	default:
	}
	select {
	case <-r.done:
		return r.answer()
	case <-ctx.Done():
		r.mu.Lock()
		abandoned := r.state == reqAbandoned
		r.mu.Unlock()
		if abandoned {
			return nil, ErrAbandoned
		}
		return nil, ctx.Err()
	}
}

// Check returns the answer if it has come, and ErrNoResponse otherwise, as
// check_response; it does not wait.
func (r *Request) Check() (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state {
	case reqAnswered:
		return r.v, r.err
	case reqAbandoned:
		return nil, ErrAbandoned
	}
	return nil, ErrNoResponse
}

func (r *Request) answer() (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.v, r.err
}

// Abandon gives the request up: its answer, if it comes, is dropped, and
// the resources it holds (a watch on the callee, a call to another node)
// are released. Abandoning an answered request does nothing.
func (r *Request) Abandon() {
	r.mu.Lock()
	if r.state != reqPending {
		r.mu.Unlock()
		return
	}
	r.state = reqAbandoned
	cancel := r.cancel
	r.cancel = nil
	if r.slot != nil {
		r.slot.gen.CompareAndSwap(0, 1) // a late answer finds the slot taken
	}
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// SendRequest sends req to be handled by HandleCall of to and returns at
// once, as gen_server:send_request; the answer is collected with the
// Request's methods or through Requests. It fails at once with the errors
// of Call for a destination that cannot be reached (not registered, no
// route, a full mailbox); a callee that has exited answers with an
// *ExitError.
func (rt *Runtime) SendRequest(to Dest, req any) (*Request, error) {
	return rt.sendRequest(PID{}, to, req)
}

// SendRequest sends a request from p; see Runtime.SendRequest. A request to
// p itself fails with ErrCallToSelf.
func (p *Process) SendRequest(to Dest, req any) (*Request, error) {
	p.traceOut("call", to, req)
	return p.rt.sendRequest(p.pid, to, req)
}

func (rt *Runtime) sendRequest(caller PID, to Dest, req any) (*Request, error) {
	r := &Request{done: make(chan struct{})}
	if n, ok := to.(NodeName); ok && n.Node != rt.name {
		remote := rt.remote.get()
		if remote == nil {
			return nil, fmt.Errorf("%w: %s", ErrNoRoute, n.Node)
		}
		rt.requestRemote(r, func(ctx context.Context) (any, error) {
			return remote.CallName(ctx, caller, n.Node, n.Name, req)
		})
		return r, nil
	}
	pid, err := rt.resolve(to)
	if err != nil {
		return nil, err
	}
	if pid == caller && !caller.IsZero() {
		return nil, ErrCallToSelf
	}
	r.to = pid
	t := rt.table.get(pid)
	if t == nil {
		if !rt.isRemote(pid) {
			r.deliver(nil, &ExitError{PID: pid, Reason: ErrNoProc})
			return r, nil
		}
		remote, err := rt.route(pid)
		if err != nil {
			return nil, err
		}
		rt.requestRemote(r, func(ctx context.Context) (any, error) { return remote.Call(ctx, caller, pid, req) })
		return r, nil
	}
	// A local callee: the answer lands on the request's own slot, and a
	// watch on the callee answers with its exit instead.
	slot := &replySlot{remote: r.deliver}
	r.slot = slot
	ref := rt.MakeRef()
	w := watcher{fn: func(_ PID, reason error) { slot.reply(0, nil, &ExitError{PID: pid, Reason: reason}) }, call: true}
	if !t.addWatcher(ref, w) {
		r.deliver(nil, &ExitError{PID: pid, Reason: t.exitReason()})
		return r, nil
	}
	r.mu.Lock()
	if r.state == reqPending {
		r.cancel = func() { t.removeWatcher(ref) }
	}
	r.mu.Unlock()
	c := &callRequest{from: From{caller: caller, slot: slot}, req: req}
	prev, err := t.mbox.push(envelope{kind: kindCall, msg: c}, pushUser)
	if err != nil {
		if err == ErrNotAlive {
			r.deliver(nil, &ExitError{PID: pid, Reason: t.exitReason()})
			return r, nil
		}
		r.Abandon()
		return nil, fmt.Errorf("%w: %v", err, pid)
	}
	t.activate(prev)
	return r, nil
}

// requestRemote runs the call of a request to another node on a goroutine
// of the runtime's, which Abandon and Close stop.
func (rt *Runtime) requestRemote(r *Request, call func(context.Context) (any, error)) {
	ctx, cancel := context.WithCancel(WithoutTimeout(rt.ctx))
	r.mu.Lock()
	r.cancel = cancel
	r.mu.Unlock()
	if !rt.goCounted(func() {
		defer cancel()
		v, err := call(ctx)
		r.deliver(v, err)
	}) {
		cancel()
		r.deliver(nil, ErrRuntimeClosed)
	}
}

// Requests is a collection of requests in flight, each with a label, as
// OTP's request-id collections: Receive, Wait and Check answer for
// whichever request has its answer first, with its label, and remove it.
// A request is in at most one collection; adding it to another moves it.
// The zero value is an empty collection. Requests is safe for concurrent
// use.
type Requests[L any] struct {
	set    requestSet
	labels map[*Request]L
}

// requestSet is the part of a collection that its requests tell.
type requestSet struct {
	mu      sync.Mutex
	members map[*Request]bool
	ready   []*Request    // answered, in the order the answers came
	wake    chan struct{} // a token when ready grew
}

// answered queues r, answered, if it is still a member.
func (s *requestSet) answered(r *Request) {
	s.mu.Lock()
	if s.members[r] {
		s.ready = append(s.ready, r)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (c *Requests[L]) init() {
	if c.set.members == nil {
		c.set.members = make(map[*Request]bool)
		c.set.wake = make(chan struct{}, 1)
		c.labels = make(map[*Request]L)
	}
}

// Add puts r in the collection under label, as reqids_add.
func (c *Requests[L]) Add(r *Request, label L) {
	c.set.mu.Lock()
	c.init()
	c.set.members[r] = true
	c.labels[r] = label
	c.set.mu.Unlock()
	r.mu.Lock()
	old := r.coll
	r.coll = &c.set
	answered := r.state == reqAnswered
	r.mu.Unlock()
	if old != nil && old != &c.set {
		old.mu.Lock()
		delete(old.members, r)
		old.mu.Unlock()
	}
	if answered {
		c.set.answered(r)
	}
}

// Len returns the number of requests in the collection, as reqids_size.
func (c *Requests[L]) Len() int {
	c.set.mu.Lock()
	defer c.set.mu.Unlock()
	return len(c.set.members)
}

// Labels returns the labels of the requests in the collection, in no
// particular order, as reqids_to_list.
func (c *Requests[L]) Labels() []L {
	c.set.mu.Lock()
	defer c.set.mu.Unlock()
	out := make([]L, 0, len(c.labels))
	for _, l := range c.labels {
		out = append(out, l)
	}
	return out
}

// take removes and returns an answered member, if any. empty reports a
// collection without members.
func (c *Requests[L]) take() (r *Request, label L, empty bool) {
	c.set.mu.Lock()
	defer c.set.mu.Unlock()
	for len(c.set.ready) > 0 {
		r = c.set.ready[0]
		c.set.ready[0] = nil
		c.set.ready = c.set.ready[1:]
		if c.set.members[r] {
			label = c.labels[r]
			delete(c.set.members, r)
			delete(c.labels, r)
			return r, label, false
		}
	}
	return nil, label, len(c.set.members) == 0
}

// Check returns the first answer that has come, with its request's label,
// and removes that request, as check_response; it does not wait. It fails
// with ErrNoResponse when no answer has come and with ErrNoRequests on an
// empty collection.
func (c *Requests[L]) Check() (L, any, error) {
	r, label, empty := c.take()
	switch {
	case r != nil:
		v, err := r.answer()
		return label, v, err
	case empty:
		return label, nil, ErrNoRequests
	}
	return label, nil, ErrNoResponse
}

// Wait waits for the first answer until ctx is done, as wait_response:
// it returns the answer with its request's label and removes that request;
// when ctx ends first the requests stay in flight. It fails at once with
// ErrNoRequests on an empty collection.
func (c *Requests[L]) Wait(ctx context.Context) (L, any, error) {
	c.set.mu.Lock()
	c.init()
	wake := c.set.wake
	c.set.mu.Unlock()
	for {
		r, label, empty := c.take()
		switch {
		case r != nil:
			v, err := r.answer()
			return label, v, err
		case empty:
			return label, nil, ErrNoRequests
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return label, nil, ctx.Err()
		}
	}
}

// Receive is Wait, except that when ctx ends first every request of the
// collection is abandoned and the collection emptied, as receive_response.
func (c *Requests[L]) Receive(ctx context.Context) (L, any, error) {
	label, v, err := c.Wait(ctx)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		c.set.mu.Lock()
		members := c.set.members
		c.set.members, c.set.ready = make(map[*Request]bool), nil
		clear(c.labels)
		c.set.mu.Unlock()
		for r := range members {
			r.Abandon()
		}
	}
	return label, v, err
}

package proc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// internalWatchers counts the watches a process holds for calls and
// requests.
func internalWatchers(rt *Runtime, pid PID) int {
	p := rt.table.get(pid)
	if p == nil {
		return -1
	}
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	if p.meta == nil {
		return 0
	}
	n := 0
	for _, w := range p.meta.watchers {
		if w.call {
			n++
		}
	}
	return n
}

func TestSendRequest(t *testing.T) {
	rt := newRuntime(t)
	ctx := context.Background()
	h := newHolder()
	pid := mustSpawn(t, rt, h)
	r, err := rt.SendRequest(pid, "question")
	if err != nil {
		t.Fatal(err)
	}
	within(t, h.entered, "request")
	if _, err := r.Check(); !errors.Is(err, ErrNoResponse) {
		t.Fatalf("check before the answer: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := r.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait past its context: %v", err)
	}
	close(h.release) // the answer comes; the request was still in flight
	if v, err := r.Wait(ctx); err != nil || v != "late answer" {
		t.Fatalf("wait again: %v %v", v, err)
	}
	if v, err := r.Receive(ctx); err != nil || v != "late answer" {
		t.Fatalf("the answer again: %v %v", v, err)
	}
	if n := internalWatchers(rt, pid); n != 0 {
		t.Fatalf("%d watches left on the callee", n)
	}
}

// Receive abandons a request whose context ends: its late answer is
// dropped, and the watch on the callee goes.
func TestReceiveAbandons(t *testing.T) {
	rt := newRuntime(t)
	h := newHolder()
	pid := mustSpawn(t, rt, h)
	r, _ := rt.SendRequest(pid, "question")
	within(t, h.entered, "request")
	short, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := r.Receive(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("receive past its context: %v", err)
	}
	if n := internalWatchers(rt, pid); n != 0 {
		t.Fatalf("%d watches left on the callee of an abandoned request", n)
	}
	close(h.release)
	// Once the callee has answered the next call, it has answered the
	// abandoned request too.
	if _, err := rt.Call(context.Background(), pid, "flush"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Check(); !errors.Is(err, ErrAbandoned) {
		t.Fatalf("check of an abandoned request: %v", err)
	}
}

// A request is answered with an *ExitError when its callee exits first,
// or does not exist; the errors of Call come at once.
func TestRequestToADyingCallee(t *testing.T) {
	rt := newRuntime(t)
	ctx := context.Background()
	h := newHolder()
	pid := mustSpawn(t, rt, h)
	h.letGo(t)
	r, _ := rt.SendRequest(pid, "question")
	within(t, h.entered, "request")
	rt.Exit(pid, ErrKill)
	if _, err := r.Receive(ctx); !errors.As(err, new(*ExitError)) || !errors.Is(err, ErrKilled) {
		t.Fatalf("request to a killed callee: %v", err)
	}
	gone, _ := rt.SendRequest(pid, "question")
	if _, err := gone.Receive(ctx); !errors.Is(err, ErrNoProc) && !errors.Is(err, ErrKilled) {
		t.Fatalf("request to a dead callee: %v", err)
	}
	if _, err := rt.SendRequest(Name("nobody"), "question"); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("request to a free name: %v", err)
	}
	self := make(chan error, 1)
	p := mustSpawn(t, rt, HandlerFunc(func(p *Process, _ any) {
		_, err := p.SendRequest(p.Self(), "me")
		self <- err
	}))
	rt.Send(p, "go")
	if err := within(t, self, "self request"); !errors.Is(err, ErrCallToSelf) {
		t.Fatalf("request to self: %v", err)
	}
}

func TestRemoteRequest(t *testing.T) {
	a, b, _ := twoNodes(t)
	ctx := context.Background()
	srv := mustSpawn(t, b, &counter{n: 5}, WithName("counter"))
	r, err := a.SendRequest(NodeName{Node: "b@host", Name: "counter"}, get{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := r.Receive(ctx); err != nil || v != 5 {
		t.Fatalf("remote request: %v %v", v, err)
	}
	h := newHolder()
	held := mustSpawn(t, b, h)
	h.letGo(t)
	r, _ = a.SendRequest(held, "question")
	within(t, h.entered, "remote request")
	b.Exit(held, ErrKill)
	if _, err := r.Receive(ctx); !errors.As(err, new(*ExitError)) {
		t.Fatalf("remote request to a killed callee: %v", err)
	}
	// An abandoned remote request stops its call: goleak checks.
	h2 := newHolder()
	held2 := mustSpawn(t, b, h2)
	h2.letGo(t)
	r, _ = a.SendRequest(held2, "question")
	within(t, h2.entered, "remote request")
	r.Abandon()
	_ = srv
}

// A collection answers for whichever request has its answer first, with
// its label.
func TestRequestCollection(t *testing.T) {
	rt := newRuntime(t)
	ctx := context.Background()
	var c Requests[string]
	if _, _, err := c.Wait(ctx); !errors.Is(err, ErrNoRequests) {
		t.Fatalf("wait on an empty collection: %v", err)
	}
	d := &deferrer{held: map[any][]From{}}
	srv := mustSpawn(t, rt, d)
	for i := range 5 {
		r, err := rt.SendRequest(srv, fmt.Sprint("q", i))
		if err != nil {
			t.Fatal(err)
		}
		c.Add(r, fmt.Sprint("label", i))
	}
	eventually(t, func() error {
		if n := d.count("q4"); n != 1 {
			return fmt.Errorf("not held yet")
		}
		return nil
	})
	if _, _, err := c.Check(); !errors.Is(err, ErrNoResponse) {
		t.Fatalf("check before any answer: %v", err)
	}
	// Answer in reverse order: the collection follows the answers.
	for i := 4; i >= 0; i-- {
		d.mu.Lock()
		d.held[fmt.Sprint("q", i)][0].Reply(i, nil)
		d.mu.Unlock()
		label, v, err := c.Receive(ctx)
		if err != nil || label != fmt.Sprint("label", i) || v != i {
			t.Fatalf("receive: %q %v %v, want label%d", label, v, err, i)
		}
		if c.Len() != i {
			t.Fatalf("%d requests left, want %d", c.Len(), i)
		}
	}
	// Receive whose context ends abandons them all; Wait keeps them.
	for i := range 3 {
		r, _ := rt.SendRequest(srv, "held")
		c.Add(r, fmt.Sprint("held", i))
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, _, err := c.Wait(short); !errors.Is(err, context.DeadlineExceeded) || c.Len() != 3 {
		t.Fatalf("wait: %v, %d left", err, c.Len())
	}
	labels := c.Labels()
	slices.Sort(labels)
	if !slices.Equal(labels, []string{"held0", "held1", "held2"}) {
		t.Fatalf("labels %v", labels)
	}
	if _, _, err := c.Receive(short); !errors.Is(err, context.DeadlineExceeded) || c.Len() != 0 {
		t.Fatalf("receive: %v, %d left", err, c.Len())
	}
	if n := internalWatchers(rt, srv); n != 0 {
		t.Fatalf("%d watches left for abandoned requests", n)
	}
}

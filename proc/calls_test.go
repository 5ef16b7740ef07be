package proc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// The promises of calls when the callee is killed: a call never waits past
// its callee's death.

// holder's HandleCall blocks until released, to keep a call in flight; an
// info message "hold" blocks HandleInfo the same way.
type holder struct {
	Base
	entered chan any      // told of each callback that starts blocking
	release chan struct{} // closed to let every blocked callback return
	hold    chan struct{} // closed to let "hold" return
}

func newHolder() *holder {
	return &holder{entered: make(chan any, 64), release: make(chan struct{}), hold: make(chan struct{})}
}

func (h *holder) HandleCall(_ *Process, _ From, req any) (any, error) {
	h.entered <- req
	<-h.release
	return "late answer", nil
}

func (h *holder) HandleInfo(_ *Process, msg any) {
	if msg == "hold" {
		h.entered <- msg
		select {
		case <-h.hold:
		case <-h.release:
		}
	}
}

// letGo releases the blocked callbacks when the test ends, before the
// runtime closes: a callback cannot be pre-empted.
func (h *holder) letGo(t *testing.T) {
	t.Cleanup(func() { close(h.release) })
}

// within waits up to 5 s for a value on ch.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: nothing within 5s", what)
		var zero T
		return zero
	}
}

// A call waiting on a process that is killed fails at once with an
// *ExitError, whether its callback is running (in flight), it was taken
// from the mailbox with the batch of the running callback, or it is still
// queued. OTP's call monitors the callee; a context without deadline must
// not turn a kill into a hang.
func TestCallFailsAtOnceWhenCalleeIsKilled(t *testing.T) {
	rt := newRuntime(t)
	h := newHolder()
	pid := mustSpawn(t, rt, h)
	h.letGo(t)
	// Hold the process in HandleInfo while the calls queue up, so that the
	// goroutine takes them in one batch once it is let go.
	if err := rt.Send(pid, "hold"); err != nil {
		t.Fatal(err)
	}
	within(t, h.entered, "hold")
	res := make(chan error, 3)
	for i := range 3 {
		go func() {
			_, err := rt.Call(context.Background(), pid, i)
			res <- err
		}()
	}
	eventually(t, func() error {
		if n := rt.table.get(pid).mbox.len(); n != 3 {
			return fmt.Errorf("%d calls queued", n)
		}
		return nil
	})
	// The first call blocks in HandleCall; the two others wait in the batch
	// the goroutine took.
	close(h.hold)
	within(t, h.entered, "first call")
	if err := rt.Exit(pid, ErrKill); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		err := within(t, res, "call to a killed process")
		var ee *ExitError
		if !errors.As(err, &ee) || ee.PID != pid || !errors.Is(err, ErrKilled) {
			t.Fatalf("call error = %v, want *ExitError with killed", err)
		}
	}
}

// The same, with the call being handled when the kill comes.
func TestInFlightCallFailsWhenCalleeIsKilled(t *testing.T) {
	rt := newRuntime(t)
	h := newHolder()
	pid := mustSpawn(t, rt, h)
	h.letGo(t)
	res := make(chan error, 1)
	go func() {
		_, err := rt.Call(context.Background(), pid, "in flight")
		res <- err
	}()
	within(t, h.entered, "call")
	rt.Exit(pid, errBoom)
	err := within(t, res, "in-flight call to a killed process")
	if !errors.As(err, new(*ExitError)) || !errors.Is(err, errBoom) {
		t.Fatalf("call error = %v, want *ExitError with boom", err)
	}
}

// A call from another node fails the same way.
func TestRemoteInFlightCallFailsWhenCalleeIsKilled(t *testing.T) {
	a, b, _ := twoNodes(t)
	h := newHolder()
	pid := mustSpawn(t, b, h)
	h.letGo(t)
	res := make(chan error, 1)
	go func() {
		_, err := a.Call(context.Background(), pid, "in flight")
		res <- err
	}()
	within(t, h.entered, "call")
	b.Exit(pid, ErrKill)
	err := within(t, res, "remote call to a killed process")
	if !errors.As(err, new(*ExitError)) || !errors.Is(err, ErrKilled) {
		t.Fatalf("call error = %v, want *ExitError with killed", err)
	}
}

// deferrer holds every call it gets and answers none, until told to answer
// the held "first" calls, which timed out long ago.
type deferrer struct {
	Base
	mu   sync.Mutex
	held map[any][]From
}

type answerFirst struct{}

func (d *deferrer) HandleCall(_ *Process, from From, req any) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.held[req] = append(d.held[req], from)
	return NoReply, nil
}

func (d *deferrer) HandleCast(_ *Process, msg any) {
	if _, ok := msg.(answerFirst); ok {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, f := range d.held["first"] {
			f.Reply("late", nil)
		}
		d.held["first"] = nil
	}
}

func (d *deferrer) count(req any) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.held[req])
}

// A late answer to a call that timed out lands on a reply slot that the
// pool may have given to a later call. It must not disturb that later
// call: when the server dies, every call it still holds fails with an
// *ExitError, not with the caller's deadline.
func TestLateReplyDoesNotDisturbALaterCallOnTheSameSlot(t *testing.T) {
	rt := newRuntime(t)
	const rounds = 50
	errs := make(chan error, rounds)
	d := &deferrer{held: map[any][]From{}}
	srv := mustSpawn(t, rt, d)
	for i := range rounds {
		// A call that times out, leaving its From held by the server...
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		if _, err := rt.Call(ctx, srv, "first"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("first call = %v", err)
		}
		cancel()
		// ...then a call started right away, which the pool tends to give
		// the same slot, held too...
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_, err := rt.Call(ctx, srv, "second")
			errs <- err
		}()
		eventually(t, func() error {
			if n := d.count("second"); n != i+1 {
				return fmt.Errorf("%d second calls held", n)
			}
			return nil
		})
		// ...and the late answer to the first.
		rt.Cast(srv, answerFirst{})
	}
	eventually(t, func() error {
		if n := d.count("first"); n != 0 {
			return fmt.Errorf("%d first calls held", n)
		}
		return nil
	})
	rt.Exit(srv, ErrKill)
	late := 0
	for range rounds {
		err := within(t, errs, "second call")
		switch {
		case errors.As(err, new(*ExitError)):
		case errors.Is(err, context.DeadlineExceeded):
			late++
		default:
			t.Errorf("call error %v", err)
		}
	}
	if late > 0 {
		t.Fatalf("%d of %d calls held by a dead server waited for their deadline", late, rounds)
	}
}

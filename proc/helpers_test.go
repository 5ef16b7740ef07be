package proc

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newRuntime starts a runtime closed at the end of the test.
func newRuntime(t *testing.T) *Runtime {
	t.Helper()
	rt, err := New(Config{Node: "test@localhost", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return rt
}

// inbox forwards every info message of a process to a channel, so the test
// can receive them in order.
type inbox struct {
	Base
	ch   chan any
	trap bool
}

func newInbox() *inbox { return &inbox{ch: make(chan any, 1024)} }

func (b *inbox) Init(p *Process) error {
	p.TrapExit(b.trap)
	return nil
}

func (b *inbox) HandleInfo(_ *Process, msg any) { b.ch <- msg }
func (b *inbox) HandleCast(_ *Process, msg any) { b.ch <- msg }

// recv returns the next message or fails after a timeout.
func (b *inbox) recv(t *testing.T) any {
	t.Helper()
	select {
	case m := <-b.ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return nil
	}
}

// watchExit starts watching pid; the returned function waits for its exit
// and returns the reason.
func watchExit(t *testing.T, rt *Runtime, pid PID) func() error {
	t.Helper()
	ch := make(chan error, 1)
	rt.Watch(pid, func(_ PID, reason error) { ch <- reason })
	return func() error {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(5 * time.Second):
			t.Fatalf("%v did not exit", pid)
			return nil
		}
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func eventually(t *testing.T, cond func() error) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, cond)
}

func mustSpawn(t *testing.T, rt *Runtime, b Behavior, opts ...SpawnOption) PID {
	t.Helper()
	pid, err := rt.Spawn(b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

var errBoom = errors.New("boom")

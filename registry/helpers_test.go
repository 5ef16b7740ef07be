package registry

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newRuntime starts a runtime closed at the end of the test.
func newRuntime(t testing.TB) *proc.Runtime {
	t.Helper()
	rt, err := proc.New(proc.Config{Node: "test@localhost", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Errorf("close runtime: %v", err)
		}
	})
	return rt
}

func newRegistry(t testing.TB, rt *proc.Runtime, cfg Config) *Registry {
	t.Helper()
	r, err := New(rt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// idle is a process that ignores its messages and crashes on "crash".
var idle = proc.HandlerFunc(func(p *proc.Process, msg any) {
	switch msg {
	case "crash":
		panic("crash requested")
	case "stop":
		p.Stop(proc.ErrNormal)
	}
})

func spawn(t testing.TB, rt *proc.Runtime) proc.PID {
	t.Helper()
	pid, err := rt.Spawn(idle)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// inbox forwards every info message of a process to a channel.
type inbox struct {
	proc.Base
	ch chan any
}

func newInbox() *inbox { return &inbox{ch: make(chan any, 1<<16)} }

func (b *inbox) HandleInfo(_ *proc.Process, msg any) { b.ch <- msg }

func (b *inbox) recv(t testing.TB) any {
	t.Helper()
	select {
	case m := <-b.ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return nil
	}
}

func eventually(t testutil.TB, cond func() error) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, cond)
}

// waitGone waits until the registry holds nothing for pid.
func waitGone(t testing.TB, r *Registry, pid proc.PID) {
	t.Helper()
	eventually(t, func() error {
		if n := len(r.Select(func(_ any, p proc.PID, _ any) bool { return p == pid })); n > 0 {
			return testutil.Errorf("%v still has %d entries", pid, n)
		}
		if ks := r.Keys(pid); len(ks) > 0 {
			return testutil.Errorf("%v still has keys %v", pid, ks)
		}
		return nil
	})
}

// sortEntries orders entries for comparison; values must be ints or nil.
func sortEntries(es []Entry) []Entry {
	slices.SortFunc(es, func(a, b Entry) int {
		if c := compareAny(a.Key, b.Key); c != 0 {
			return c
		}
		if a.PID.ID != b.PID.ID {
			if a.PID.ID < b.PID.ID {
				return -1
			}
			return 1
		}
		return compareAny(a.Value, b.Value)
	})
	return es
}

func compareAny(a, b any) int {
	ai, aok := a.(int)
	bi, bok := b.(int)
	switch {
	case aok && bok:
		return ai - bi
	case aok:
		return 1
	case bok:
		return -1
	}
	as, _ := a.(string)
	bs, _ := b.(string)
	switch {
	case as < bs:
		return -1
	case as > bs:
		return 1
	}
	return 0
}

var errBoom = errors.New("boom")

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/clock"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tb is the part of testing.TB and *rapid.T the helpers use.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Cleanup(func())
}

var errBoom = errors.New("boom")

// newRuntime starts a runtime closed at the end of the test. A nil clk
// means the real clock.
func newRuntime(t tb, clk clock.Clock) *proc.Runtime {
	t.Helper()
	rt, err := proc.New(proc.Config{Node: "test@localhost", Clock: clk, Logger: slog.New(slog.DiscardHandler)})
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

// recorder is a log of events shared by the workers of a test.
type recorder struct {
	mu  sync.Mutex
	evs []string
}

func (r *recorder) add(ev string) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

// take returns the events so far and forgets them.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.evs
	r.evs = nil
	return out
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.evs)
}

// worker is a test child. It traps exits so that its Terminate runs on a
// shutdown from its supervisor, records "start:ID" and "stop:ID", and obeys
// the commands of the test (see HandleInfo).
type worker struct {
	proc.Base
	id      string
	rec     *recorder
	initErr error
	stuck   bool // Terminate blocks until the process is killed
}

func (w *worker) Init(p *proc.Process) error {
	if w.initErr != nil {
		return w.initErr
	}
	p.TrapExit(true)
	if w.rec != nil {
		w.rec.add("start:" + w.id)
	}
	return nil
}

// cmdStop makes the worker stop with the reason.
type cmdStop struct{ reason error }

// cmdPanic makes the worker panic.
type cmdPanic struct{}

func (w *worker) HandleInfo(p *proc.Process, msg any) {
	switch m := msg.(type) {
	case cmdStop:
		p.Stop(m.reason)
	case cmdPanic:
		panic("worker " + w.id + " crashed")
	}
}

func (w *worker) HandleCall(_ *proc.Process, _ proc.From, req any) (any, error) {
	return req, nil
}

func (w *worker) Terminate(p *proc.Process, _ error) {
	if w.rec != nil {
		w.rec.add("stop:" + w.id)
	}
	if w.stuck {
		<-p.Context().Done()
	}
}

// spec returns the child spec of a worker.
func wspec(id string, rec *recorder, mod ...func(*ChildSpec, *worker)) ChildSpec {
	cs := ChildSpec{ID: id}
	var tmpl worker
	for _, m := range mod {
		m(&cs, &tmpl)
	}
	cs.Start = func() proc.Behavior {
		w := tmpl
		w.id, w.rec = id, rec
		return &w
	}
	return cs
}

func restart(r Restart) func(*ChildSpec, *worker) {
	return func(cs *ChildSpec, _ *worker) { cs.Restart = r }
}

func ctxT(t tb) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pids returns the PIDs of the supervisor's children by ID.
func pids(t tb, rt *proc.Runtime, sup proc.PID) map[string]proc.PID {
	t.Helper()
	kids, err := WhichChildren(ctxT(t), rt, sup)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]proc.PID{}
	for _, k := range kids {
		out[k.ID] = k.PID
	}
	return out
}

// statuses renders the children as "id:status" in order.
func statuses(t tb, rt *proc.Runtime, sup proc.PID) string {
	t.Helper()
	kids, err := WhichChildren(ctxT(t), rt, sup)
	if err != nil {
		t.Fatal(err)
	}
	var b []string
	for _, k := range kids {
		b = append(b, fmt.Sprintf("%s:%s", k.ID, k.Status))
	}
	return strings.Join(b, " ")
}

// watchExit returns a function that waits for pid's exit reason.
func watchExit(t tb, rt *proc.Runtime, pid proc.PID) func() error {
	t.Helper()
	ch := make(chan error, 1)
	rt.Watch(pid, func(_ proc.PID, reason error) { ch <- reason })
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

// waitEvents polls until the recorder holds n events and returns them.
func waitEvents(t tb, rec *recorder, n int) []string {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := rec.len(); got < n {
			return fmt.Errorf("%d events, want %d", got, n)
		}
		return nil
	})
	return rec.take()
}

func eq(t tb, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

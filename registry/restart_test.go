package registry

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor"
)

// A key whose holder has died is free, even before the registry's cleanup
// of that holder has run: Register takes the stale entry away and retries,
// as Elixir's Registry does. Here the new registration runs from another
// cleanup function of the same exit, which may come before the registry's
// own.
func TestRegisterTakesTheKeyOfADeadHolder(t *testing.T) {
	rt := newRuntime(t)
	var log eventLog
	r := newRegistry(t, rt, Config{Callbacks: []func(Event){log.add}})
	failed := 0
	const runs = 1000
	for i := range runs {
		old, next := spawn(t, rt), spawn(t, rt)
		if err := r.Register(old, "k", i); err != nil {
			t.Fatal(err)
		}
		res := make(chan error, 1)
		rt.OnExit(old, func(proc.PID, error) { res <- r.Register(next, "k", i) })
		rt.Exit(old, proc.ErrKill)
		if err := <-res; err != nil {
			failed++
		} else if got, _ := r.WhereIs("k"); got != next {
			t.Fatalf("run %d: the key names %v, want %v", i, got, next)
		}
		rt.Exit(next, proc.ErrKill)
		waitGone(t, r, next)
	}
	if failed > 0 {
		t.Fatalf("%d of %d registrations refused a key held by a dead process", failed, runs)
	}
	eventually(t, func() error {
		if b := log.balance(); len(b) != 0 {
			return fmt.Errorf("unbalanced events: %v", b)
		}
		return nil
	})
	if n := r.watches.Load(); n != 0 {
		t.Fatalf("%d watches left", n)
	}
}

// lines counts the log records whose message contains a string.
type lines struct {
	mu   sync.Mutex
	seen []string
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
	l.mu.Lock()
	l.seen = append(l.seen, msg)
	l.mu.Unlock()
	return nil
}
func (l *lines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lines) WithGroup(string) slog.Handler      { return l }
func (l *lines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.seen {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

// A supervised child registered with As is restarted under its key every
// time it is killed, however many processes monitor it: the supervisor
// hears of the exit only once the key is free, so no restart fails and the
// restart intensity is spent on real failures only.
func TestAsRestartDoesNotRaceTheCleanup(t *testing.T) {
	var logs lines
	rt, err := proc.New(proc.Config{Node: "test@localhost", Logger: slog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rt.Close(ctx)
	})
	r := newRegistry(t, rt, Config{})
	const kills, monitors = 20, 300
	app, err := supervisor.StartApp(rt, supervisor.Spec{
		Strategy:  supervisor.OneForOne,
		Intensity: 3 * kills, // room for every kill and one failed start per kill
		Period:    time.Hour,
		Children: []supervisor.ChildSpec{{
			ID:           "worker",
			Start:        func() proc.Behavior { return idle },
			SpawnOptions: []proc.SpawnOption{r.As("worker", nil)},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(context.Background())
	watchers := make([]proc.PID, monitors)
	for i := range watchers {
		w, err := rt.Spawn(proc.HandlerFunc(func(p *proc.Process, msg any) {
			if m, ok := msg.(monitorReq); ok {
				p.Monitor(m.pid)
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		watchers[i] = w
	}
	for k := range kills {
		var pid proc.PID
		// The worker the supervisor has started (not one still starting:
		// killing that would fail its start), under its key.
		eventually(t, func() error {
			kids, err := supervisor.WhichChildren(context.Background(), rt, app.PID())
			if err != nil || len(kids) != 1 || kids[0].Status != supervisor.StatusRunning {
				return fmt.Errorf("kill %d: worker not running: %v %v", k, kids, err)
			}
			pid = kids[0].PID
			if got, ok := r.WhereIs("worker"); !ok || got != pid {
				return fmt.Errorf("kill %d: worker %v registered as %v", k, pid, got)
			}
			return nil
		})
		for _, w := range watchers {
			if err := rt.Send(w, monitorReq{pid}); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, func() error {
			if in, err := rt.Info(pid); err != nil || len(in.MonitoredBy) < monitors {
				return fmt.Errorf("monitors not set: %v", err)
			}
			return nil
		})
		rt.Exit(pid, proc.ErrKill)
	}
	eventually(t, func() error {
		if _, ok := r.WhereIs("worker"); !ok {
			return fmt.Errorf("worker not registered")
		}
		return nil
	})
	if n := logs.count("restart failed"); n > 0 {
		t.Fatalf("%d of %d restarts failed: %v", n, kills, logs.seen)
	}
	select {
	case <-app.Done():
		t.Fatalf("the supervisor gave up: %v", app.Err())
	default:
	}
}

type monitorReq struct{ pid proc.PID }

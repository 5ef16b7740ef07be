package proc

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
)

// records keeps the log lines of a runtime, for tests that check what is
// logged: "LEVEL message key=value...".
type records struct {
	mu   sync.Mutex
	seen []string
}

// recordsWith is a records handler with attributes added by With.
type recordsWith struct {
	r     *records
	attrs []slog.Attr
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(ctx context.Context, rec slog.Record) error {
	return recordsWith{r: r}.Handle(ctx, rec)
}
func (r *records) WithAttrs(attrs []slog.Attr) slog.Handler { return recordsWith{r: r, attrs: attrs} }
func (r *records) WithGroup(string) slog.Handler            { return r }

func (w recordsWith) Enabled(context.Context, slog.Level) bool { return true }
func (w recordsWith) Handle(_ context.Context, rec slog.Record) error {
	line := rec.Level.String() + " " + rec.Message
	for _, a := range w.attrs {
		line += " " + a.String()
	}
	rec.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	w.r.mu.Lock()
	w.r.seen = append(w.r.seen, line)
	w.r.mu.Unlock()
	return nil
}
func (w recordsWith) WithAttrs(attrs []slog.Attr) slog.Handler {
	return recordsWith{r: w.r, attrs: append(append([]slog.Attr(nil), w.attrs...), attrs...)}
}
func (w recordsWith) WithGroup(string) slog.Handler { return w }

func (r *records) find(s string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.seen {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// A timer message to a process whose bounded mailbox is full is refused
// like any message, but never silently: the process and the runtime count
// it, and the runtime logs it at a bounded rate.
func TestTimerMessageRefusedByAFullMailboxIsCounted(t *testing.T) {
	var logs records
	clk := clocktest.New(time.Unix(1_000_000, 0))
	rt, err := New(Config{Node: "timers@localhost", Clock: clk, Logger: slog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	g := &gate{entered: make(chan struct{}, 8), open: make(chan struct{})}
	pid := mustSpawn(t, rt, g, WithMailboxBound(1))
	rt.Send(pid, "hold") // in the callback
	<-g.entered
	rt.Send(pid, "queued") // fills the mailbox
	p := rt.table.get(pid)
	for range 5 {
		p.SendAfter(time.Second, "tick")
	}
	p.SendInterval(time.Second, "interval")
	clk.Advance(time.Second)
	eventually(t, func() error {
		if in, _ := rt.Info(pid); in.DroppedTimerMessages != 6 {
			return fmt.Errorf("%d timer messages counted as dropped, want 6", in.DroppedTimerMessages)
		}
		return nil
	})
	if n := rt.Stats().DroppedTimerMessages; n != 6 {
		t.Fatalf("runtime counts %d dropped timer messages", n)
	}
	warned := logs.find("timer message dropped")
	if len(warned) == 0 || len(warned) > 2 || !strings.HasPrefix(warned[0], "WARN") {
		t.Fatalf("dropped timer messages logged as %q", warned)
	}
	close(g.open)
}

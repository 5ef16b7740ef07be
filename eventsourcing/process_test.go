package eventsourcing_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/eventsourcing"
	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/memstore"
	"github.com/grovedev/grove/internal/testutil"
)

// mirror copies every Added of counters "src-*" to "dst-*", and times out
// (adding 1 to "timeouts") when nothing comes for a while.
type mirror struct {
	ID       string
	Copied   int
	Until    time.Time
	TimedOut bool
}

func (m *mirror) Handle(e eventsourcing.Event) ([]any, error) {
	return []any{Add{ID: "dst-" + m.ID, N: e.Data.(Added).N}}, nil
}

func (m *mirror) Apply(e eventsourcing.Event) {
	m.Copied++
	m.Until = e.Recorded.Created.Add(50 * time.Millisecond)
}

func (m *mirror) Deadline() time.Time {
	if m.TimedOut {
		return time.Time{}
	}
	return m.Until
}

func (m *mirror) OnTimeout() []any {
	m.TimedOut = true
	return []any{Add{ID: "timeouts", N: 1}}
}

func mirrorConfig() eventsourcing.ProcessConfig {
	return eventsourcing.ProcessConfig{
		Name: "mirror",
		Interested: func(e eventsourcing.Event) (eventsourcing.Interest, string) {
			if id, ok := strings.CutPrefix(e.Recorded.StreamID, "counter-src-"); ok {
				return eventsourcing.Continue, id
			}
			return eventsourcing.Ignore, ""
		},
		New:     func(id string) eventsourcing.ProcessManager { return &mirror{ID: id} },
		Handler: eventsourcing.HandlerConfig{PollInterval: 20 * time.Millisecond},
	}
}

func counterValue(t *testing.T, app *eventsourcing.App, id string) int {
	t.Helper()
	agg, _, err := app.AggregateAt(context.Background(), counterKind, id, eventstore.End)
	if err != nil {
		t.Fatal(err)
	}
	return agg.(*Counter).N
}

func TestProcessManagerAndTimeout(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	app := newApp(t, s, counterKind)
	ctx := context.Background()
	pm, err := app.StartProcess(ctx, mirrorConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := app.Dispatch(ctx, Add{ID: "src-x", N: i}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := counterValue(t, app, "dst-x"); got != 6 {
			return fmt.Errorf("dst-x at %d", got)
		}
		if got := counterValue(t, app, "timeouts"); got != 1 {
			return fmt.Errorf("timeouts at %d", got)
		}
		return nil
	})
	pm.Close()
	// Restarted with its checkpoint reset, the process manager gets every
	// event again; the instances' own positions keep it from handling one
	// twice.
	if err := s.SaveCheckpoint(ctx, eventsourcing.CheckpointName("process:mirror"), 0); err != nil {
		t.Fatal(err)
	}
	pm, err = app.StartProcess(ctx, mirrorConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close()
	r, err := app.Dispatch(ctx, Add{ID: "src-x", N: 10})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := counterValue(t, app, "dst-x"); got != 16 {
			return fmt.Errorf("dst-x at %d", got)
		}
		return nil
	})
	if err := app.WaitFor(ctx, r.Position, "process:mirror"); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, app, "dst-x"); got != 16 {
		t.Fatalf("dst-x at %d after the replay", got)
	}
	// The new deadline fires once more.
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := counterValue(t, app, "timeouts"); got != 1 && got != 2 {
			return fmt.Errorf("timeouts at %d", got)
		}
		return nil
	})
}

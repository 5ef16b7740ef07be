package pubsub

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

const wait = 20 * time.Second

func newRuntime(t testing.TB, name string) *proc.Runtime {
	t.Helper()
	rt, err := proc.New(proc.Config{Node: name, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

func startLocal(t *testing.T, rt *proc.Runtime, cfg Config) *PubSub {
	t.Helper()
	ps, err := StartLocal(rt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps
}

// inbox is a process that records what it receives; it can be held busy.
type inbox struct {
	proc.Base
	mu      sync.Mutex
	msgs    []any
	gate    chan struct{} // when set, each message waits for a token (or its close)
	entered chan struct{} // when set, told (without blocking) of each message
	pid     proc.PID      // for tests that need to name it
}

func (b *inbox) HandleInfo(_ *proc.Process, msg any) {
	if b.entered != nil {
		select {
		case b.entered <- struct{}{}:
		default:
		}
	}
	if b.gate != nil {
		<-b.gate
	}
	b.mu.Lock()
	b.msgs = append(b.msgs, msg)
	b.mu.Unlock()
}

func (b *inbox) got() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]any(nil), b.msgs...)
}

// messages returns the payloads of the *Message values received.
func (b *inbox) messages() []*Message {
	var out []*Message
	for _, m := range b.got() {
		if pm, ok := m.(*Message); ok {
			out = append(out, pm)
		}
	}
	return out
}

func spawnInbox(t *testing.T, rt *proc.Runtime, b *inbox) proc.PID {
	t.Helper()
	pid, err := rt.Spawn(b)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func eventually(t *testing.T, cond func() error) {
	t.Helper()
	testutil.Eventually(t, wait, cond)
}

var errorf = testutil.Errorf

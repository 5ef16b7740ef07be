package registry

import (
	"context"
	"errors"
	"testing"

	"github.com/grovedev/grove/proc"
)

// answer is a GenServer answering every call with its own PID.
type answer struct{ proc.Base }

func (answer) HandleCall(p *proc.Process, _ proc.From, _ any) (any, error) { return p.Self(), nil }

func TestSpawnAs(t *testing.T) {
	rt := newRuntime(t)
	r := newRegistry(t, rt, Config{})
	pid, err := rt.Spawn(answer{}, r.As("svc", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := proc.Call[proc.PID](context.Background(), rt, r.Via("svc"), "who")
	if err != nil || got != pid {
		t.Fatalf("call via the registry: %v %v", got, err)
	}
	if _, err := rt.Spawn(answer{}, r.As("svc", "v2")); !errors.Is(err, ErrAlreadyRegistered) {
		t.Fatalf("second spawn under a taken key: %v", err)
	}
}

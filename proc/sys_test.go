package proc

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// gate blocks HandleInfo until opened; Inspect panics when told to.
type gate struct {
	Base
	entered chan struct{}
	open    chan struct{}
	panics  bool
}

func (g *gate) HandleInfo(*Process, any) {
	g.entered <- struct{}{}
	<-g.open
}

func (g *gate) Inspect() any {
	if g.panics {
		panic("inspect failed")
	}
	return "state"
}

// sysLen returns the number of system requests queued on pid.
func sysLen(rt *Runtime, pid PID) int {
	p := rt.table.get(pid)
	if p == nil {
		return -1
	}
	p.mbox.mu.Lock()
	defer p.mbox.mu.Unlock()
	return len(p.mbox.sys)
}

// Inspect is answered even when it shares a batch of system requests with
// a stop or with a request whose handling panics.
func TestInspectAnsweredWhenItsBatchEnds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func(rt *Runtime, pid PID)
		panic bool
	}{
		{"stop", func(rt *Runtime, pid PID) { rt.Stop(context.Background(), pid, nil) }, false},
		{"panic", func(rt *Runtime, pid PID) { rt.Inspect(context.Background(), pid) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newRuntime(t)
			g := &gate{entered: make(chan struct{}, 1), open: make(chan struct{}), panics: tc.panic}
			pid := mustSpawn(t, rt, g)
			rt.Send(pid, "hold")
			<-g.entered
			go tc.first(rt, pid)
			eventually(t, func() error {
				if n := sysLen(rt, pid); n != 1 {
					return fmt.Errorf("%d system requests queued", n)
				}
				return nil
			})
			res := make(chan error, 1)
			go func() {
				_, err := rt.Inspect(context.Background(), pid)
				res <- err
			}()
			eventually(t, func() error {
				if n := sysLen(rt, pid); n != 2 {
					return fmt.Errorf("%d system requests queued", n)
				}
				return nil
			})
			close(g.open)
			if err := within(t, res, "inspect"); !errors.As(err, new(*ExitError)) {
				t.Fatalf("inspect of a process that exited = %v, want *ExitError", err)
			}
		})
	}
}

// A callback calling its own process through the Runtime, with its
// process's context, is told so at once instead of waiting for the
// context to end.
func TestSelfCallThroughTheRuntime(t *testing.T) {
	rt := newRuntime(t)
	for _, tc := range []struct {
		name string
		do   func(p *Process) error
	}{
		{"call", func(p *Process) error { _, err := rt.Call(p.Context(), p.Self(), get{}); return err }},
		{"call name", func(p *Process) error { _, err := rt.CallTo(p.Context(), Name("self"), get{}); return err }},
		{"call via", func(p *Process) error {
			_, err := rt.CallTo(p.Context(), Via{Registry: staticResolver{"k": p.Self()}, Key: "k"}, get{})
			return err
		}},
		{"process call via", func(p *Process) error {
			_, err := p.CallTo(context.Background(), Via{Registry: staticResolver{"k": p.Self()}, Key: "k"}, get{})
			return err
		}},
		{"stop", func(p *Process) error { return rt.Stop(p.Context(), p.Self(), nil) }},
		{"inspect", func(p *Process) error { _, err := rt.Inspect(p.Context(), p.Self()); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := make(chan error, 1)
			pid := mustSpawn(t, rt, HandlerFunc(func(p *Process, _ any) { res <- tc.do(p) }), WithName("self"))
			defer rt.Exit(pid, ErrKill)
			rt.Send(pid, "go")
			if err := within(t, res, tc.name); !errors.Is(err, ErrCallToSelf) {
				t.Fatalf("%s to self = %v", tc.name, err)
			}
		})
	}
}

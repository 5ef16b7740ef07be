package registry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/grovedev/grove/proc"
)

// counter is a GenServer that registers itself under a key in Init.
type counter struct {
	proc.Base
	reg   *Registry
	key   any
	n     int
	infos chan any
}

func (c *counter) Init(p *proc.Process) error { return c.reg.Register(p.Self(), c.key, nil) }

func (c *counter) HandleCall(_ *proc.Process, _ proc.From, req any) (any, error) {
	switch req {
	case "get":
		return c.n, nil
	case "boom":
		return nil, errBoom
	}
	return nil, proc.ErrUnhandled
}

func (c *counter) HandleCast(_ *proc.Process, msg any) {
	if d, ok := msg.(int); ok {
		c.n += d
	}
}

func (c *counter) HandleInfo(_ *proc.Process, msg any) { c.infos <- msg }

func TestViaSendAndCall(t *testing.T) {
	rt := newRuntime(t)
	r := newRegistry(t, rt, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	srv := &counter{reg: r, key: "counter", infos: make(chan any, 1)}
	pid, err := rt.Spawn(srv)
	if err != nil {
		t.Fatal(err)
	}
	// A second server under the same name fails to start.
	if _, err := rt.Spawn(&counter{reg: r, key: "counter"}); !errors.Is(err, ErrAlreadyRegistered) {
		t.Fatalf("second server: %v", err)
	}
	name := r.Via("counter")
	if name.Registry != r || name.Key != "counter" {
		t.Fatalf("Via = %#v", name)
	}
	if err := rt.Cast(name, 2); err != nil {
		t.Fatal(err)
	}
	if err := rt.Cast(name, 3); err != nil {
		t.Fatal(err)
	}
	n, err := proc.Call[int](ctx, rt, name, "get")
	if err != nil || n != 5 {
		t.Fatalf("Call via name = %d, %v", n, err)
	}
	if _, err := rt.CallTo(ctx, name, "boom"); !errors.Is(err, errBoom) {
		t.Fatalf("callee's error: %v", err)
	}
	if err := rt.SendTo(name, "info"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-srv.infos:
		if m != "info" {
			t.Fatalf("got %v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no info message")
	}

	// From inside another process too.
	caller := make(chan int, 1)
	if _, err := rt.Spawn(proc.HandlerFunc(func(p *proc.Process, msg any) {
		n, _ := proc.Call[int](ctx, p, name, "get")
		caller <- n
	})); err != nil {
		t.Fatal(err)
	}
	for _, pid := range rt.Processes() {
		_ = rt.Send(pid, "go") // only the HandlerFunc reacts with a call
	}
	select {
	case n := <-caller:
		if n != 5 {
			t.Fatalf("call from a process = %d", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer from a process's call")
	}

	// Once the server is gone, the name is free and sends fail clearly.
	if err := rt.Exit(pid, proc.ErrKill); err != nil {
		t.Fatal(err)
	}
	waitGone(t, r, pid)
	if err := rt.SendTo(name, "x"); !errors.Is(err, proc.ErrNotRegistered) {
		t.Fatalf("send to a free name: %v", err)
	}
	if _, err := proc.Call[int](ctx, rt, name, "get"); !errors.Is(err, proc.ErrNotRegistered) {
		t.Fatalf("call to a free name: %v", err)
	}
	srv2 := &counter{reg: r, key: "counter", infos: make(chan any, 1)}
	if _, err := rt.Spawn(srv2); err != nil {
		t.Fatalf("restart under the freed name: %v", err)
	}
	if n, err := proc.Call[int](ctx, rt, name, "get"); err != nil || n != 0 {
		t.Fatalf("call to the new holder = %d, %v", n, err)
	}
}

// A duplicate registry resolves no Via name.
func TestViaDuplicate(t *testing.T) {
	rt := newRuntime(t)
	r := newRegistry(t, rt, Config{Keys: Duplicate})
	pid := spawn(t, rt)
	if err := r.Register(pid, "g", nil); err != nil {
		t.Fatal(err)
	}
	if err := rt.SendTo(r.Via("g"), "x"); !errors.Is(err, proc.ErrNotRegistered) {
		t.Fatalf("send via a duplicate key: %v", err)
	}
}

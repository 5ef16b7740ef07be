package raft

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAdmission checks the bound's rules: count and bytes, first come
// first served, a waiter that gives up leaves no room taken.
func TestAdmission(t *testing.T) {
	a := &admission{maxCount: 2, maxBytes: 100}
	if !a.try(60) || a.try(60) {
		t.Fatal("bytes bound: 60 then 60 of 100 must admit one")
	}
	if !a.try(40) || a.try(1) {
		t.Fatal("count bound: a third command must wait")
	}
	// A waiter is served before a newcomer.
	got := make(chan error, 1)
	go func() { got <- a.wait(context.Background(), 50) }()
	for {
		a.mu.Lock()
		n := len(a.mu.waiters)
		a.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	a.release(60)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if c, b := a.inUse(); c != 2 || b != 90 {
		t.Fatalf("in use %d commands, %d bytes; want 2, 90", c, b)
	}
	// A waiter whose context ends gets an error and takes nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := a.wait(ctx, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait past the deadline: %v", err)
	}
	a.release(40)
	a.release(50)
	if c, b := a.inUse(); c != 0 || b != 0 {
		t.Fatalf("in use %d, %d after every release", c, b)
	}
	// One command larger than the byte bound still passes alone.
	if !a.try(1000) {
		t.Fatal("an oversized command alone must pass")
	}
}

// TestCommandWaitsForRoom fills the host's bound: a Command then waits and
// ends with ErrTimeout (not proposed), never ErrUnknownOutcome.
func TestCommandWaitsForRoom(t *testing.T) {
	tc := newTestCluster(t, 1, 23, Config{MaxPendingCommands: 1})
	name := tc.fk.Names()[0]
	c := tc.startGroup("g", []string{name})[name]
	tc.leader("g", []string{name})
	h := tc.host(name)
	if !h.admit.try(1) {
		t.Fatal("empty bound refused")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := h.Group("g").Command(ctx, addCmd(1))
	if !errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("command with no room: %v, want ErrTimeout", err)
	}
	if err := h.Group("g").Pipeline(addCmd(1), 1, time.Second, nil); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("pipeline with no room: %v, want ErrOverloaded", err)
	}
	h.admit.release(1)
	if _, err := tc.command(name, "g", addCmd(1)); err != nil || c.value() != 1 {
		t.Fatalf("after release: %v, total %d", err, c.value())
	}
}

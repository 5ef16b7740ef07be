package registry

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/proc"
)

// eventLog records the events of a registry through a callback.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *eventLog) snapshot() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// balance returns the number of Registered minus Unregistered events per
// (key, pid).
func (l *eventLog) balance() map[string]int {
	m := make(map[string]int)
	for _, ev := range l.snapshot() {
		switch ev := ev.(type) {
		case Registered:
			m[fmt.Sprint(ev.Key, ev.PID)]++
		case Unregistered:
			m[fmt.Sprint(ev.Key, ev.PID)]--
		}
	}
	for k, n := range m {
		if n == 0 {
			delete(m, k)
		}
	}
	return m
}

func TestUnregisterOnExit(t *testing.T) {
	cases := []struct {
		name   string
		stop   func(t *testing.T, rt *proc.Runtime, pid proc.PID)
		reason func(error) bool
	}{
		{"normal", func(t *testing.T, rt *proc.Runtime, pid proc.PID) {
			if err := rt.Send(pid, "stop"); err != nil {
				t.Fatal(err)
			}
		}, func(err error) bool { return errors.Is(err, proc.ErrNormal) }},
		{"crash", func(t *testing.T, rt *proc.Runtime, pid proc.PID) {
			if err := rt.Send(pid, "crash"); err != nil {
				t.Fatal(err)
			}
		}, func(err error) bool { var c *proc.CrashError; return errors.As(err, &c) }},
		{"kill", func(t *testing.T, rt *proc.Runtime, pid proc.PID) {
			if err := rt.Exit(pid, proc.ErrKill); err != nil {
				t.Fatal(err)
			}
		}, func(err error) bool { return errors.Is(err, proc.ErrKilled) }},
		{"exit signal", func(t *testing.T, rt *proc.Runtime, pid proc.PID) {
			if err := rt.Exit(pid, errBoom); err != nil {
				t.Fatal(err)
			}
		}, func(err error) bool { return errors.Is(err, errBoom) }},
		{"stop", func(t *testing.T, rt *proc.Runtime, pid proc.PID) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := rt.Stop(ctx, pid, proc.ErrShutdown); err != nil {
				t.Fatal(err)
			}
		}, func(err error) bool { return errors.Is(err, proc.ErrShutdown) }},
	}
	for _, kind := range []Kind{Unique, Duplicate} {
		for _, tc := range cases {
			t.Run(kind.String()+"/"+tc.name, func(t *testing.T) {
				rt := newRuntime(t)
				var log eventLog
				r := newRegistry(t, rt, Config{Keys: kind, Partitions: 4, Callbacks: []func(Event){log.add}})
				pid, other := spawn(t, rt), spawn(t, rt)
				for i := range 10 {
					if err := r.Register(pid, i, i); err != nil {
						t.Fatal(err)
					}
				}
				if kind == Duplicate {
					if err := r.Register(pid, 0, "again"); err != nil {
						t.Fatal(err)
					}
				}
				if err := r.Register(other, "other", nil); err != nil {
					t.Fatal(err)
				}
				tc.stop(t, rt, pid)
				waitGone(t, r, pid)
				if r.Count() != 1 || len(r.Lookup("other")) != 1 {
					t.Fatalf("other process's entry lost: count %d", r.Count())
				}
				if n := r.watches.Load(); n != 1 {
					t.Fatalf("%d watches left, want 1", n)
				}
				// The events of an exit's cleanup are delivered after its
				// entries left the partitions (a listener told of a removal
				// must not find the entry still there), so they may lag a
				// lookup by a moment.
				eventually(t, func() error {
					if b := log.balance(); len(b) != 1 {
						return fmt.Errorf("unbalanced events: %v", b)
					}
					return nil
				})
				for _, ev := range log.snapshot() {
					if u, ok := ev.(Unregistered); ok && !tc.reason(u.Reason) {
						t.Fatalf("Unregistered reason %v", u.Reason)
					}
				}
				// The unique keys are free again.
				if kind == Unique {
					if err := r.Register(other, 3, nil); err != nil {
						t.Fatal(err)
					}
				}
				if err := r.Register(pid, "late", nil); !errors.Is(err, ErrNotAlive) {
					t.Fatalf("register of a dead process: %v", err)
				}
			})
		}
	}
}

// A registration that races with the exit of its process never leaves an
// entry behind: once the registrations have returned and the exit has been
// handled, the registry holds nothing of the process. A stale entry would
// stay forever, so waiting for the exit handler cannot hide one.
func TestRegisterRacingExit(t *testing.T) {
	rt := newRuntime(t)
	for _, kind := range []Kind{Unique, Duplicate} {
		t.Run(kind.String(), func(t *testing.T) {
			var log eventLog
			r := newRegistry(t, rt, Config{Keys: kind, Partitions: 2, Callbacks: []func(Event){log.add}})
			const rounds, registrars = 200, 3
			for round := range rounds {
				pid := spawn(t, rt)
				var wg sync.WaitGroup
				var started atomic.Int32
				start := make(chan struct{})
				for g := range registrars {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						for i := range 4 {
							started.Add(1)
							err := r.Register(pid, fmt.Sprint(round, g, i), nil)
							if err != nil && !errors.Is(err, ErrNotAlive) {
								t.Error(err)
							}
							r.Unregister(pid, fmt.Sprint(round, g, 0))
						}
					}()
				}
				// Kill the process in the middle of the registrations.
				killAt := int32(round % (registrars * 4))
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for started.Load() < killAt {
						runtime.Gosched()
					}
					if err := rt.Exit(pid, proc.ErrKill); err != nil {
						t.Error(err)
					}
				}()
				close(start)
				wg.Wait()
				eventually(t, func() error {
					if ks := r.Keys(pid); len(ks) > 0 {
						return fmt.Errorf("round %d: stale keys %v", round, ks)
					}
					if n := r.Count(); n != 0 {
						return fmt.Errorf("round %d: %d stale entries", round, n)
					}
					return nil
				})
			}
			if n := r.watches.Load(); n != 0 {
				t.Fatalf("%d watches left", n)
			}
			if b := log.balance(); len(b) != 0 {
				t.Fatalf("unbalanced events: %v", b)
			}
			for i := range r.pids {
				sh := &r.pids[i]
				sh.mu.Lock()
				n := len(sh.mu.m)
				sh.mu.Unlock()
				if n != 0 {
					t.Fatalf("pid index shard %d holds %d states", i, n)
				}
			}
		})
	}
}

// A process registered in several registries leaves all of them.
func TestExitLeavesEveryRegistry(t *testing.T) {
	rt := newRuntime(t)
	u := newRegistry(t, rt, Config{Keys: Unique})
	d := newRegistry(t, rt, Config{Keys: Duplicate})
	pid := spawn(t, rt)
	if err := u.Register(pid, "name", nil); err != nil {
		t.Fatal(err)
	}
	if err := d.Register(pid, "group", nil); err != nil {
		t.Fatal(err)
	}
	if err := rt.Exit(pid, proc.ErrKill); err != nil {
		t.Fatal(err)
	}
	waitGone(t, u, pid)
	waitGone(t, d, pid)
}

// failingInit registers its process, then fails to start.
type failingInit struct {
	proc.Base
	reg *Registry
}

func (f failingInit) Init(p *proc.Process) error {
	if err := f.reg.Register(p.Self(), "starting", nil); err != nil {
		return err
	}
	return errBoom
}

// A process that registered in Init and then failed to start leaves
// nothing behind.
func TestFailedStartUnregisters(t *testing.T) {
	rt := newRuntime(t)
	r := newRegistry(t, rt, Config{})
	if _, err := rt.Spawn(failingInit{reg: r}); !errors.Is(err, errBoom) {
		t.Fatalf("Spawn: %v", err)
	}
	eventually(t, func() error {
		if n := r.Count(); n != 0 {
			return fmt.Errorf("%d entries left", n)
		}
		return nil
	})
	if n := r.watches.Load(); n != 0 {
		t.Fatalf("%d watches left", n)
	}
}

// Closing the runtime stops every process, and so empties the registry.
func TestRuntimeCloseEmptiesRegistry(t *testing.T) {
	rt := newRuntime(t)
	r := newRegistry(t, rt, Config{Keys: Duplicate})
	for i := range 10 {
		if err := r.Register(spawn(t, rt), "all", i); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if n := r.Count(); n != 0 {
			return fmt.Errorf("%d entries left", n)
		}
		return nil
	})
	if err := r.Register(proc.PID{Node: rt.Node(), Creation: rt.Creation(), ID: 1}, "late", nil); !errors.Is(err, ErrNotAlive) {
		t.Fatalf("register after close: %v", err)
	}
}

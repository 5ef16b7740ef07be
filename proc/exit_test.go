package proc

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
)

// Exit propagation is iterative: the exit of the last process of a long
// chain of links is handled at the same stack depth as that of the first.
// A recursive propagation grows one goroutine's stack with the chain and
// ends the program with a fatal stack overflow at a few million links.
func TestExitPropagationDoesNotRecurse(t *testing.T) {
	rt := newRuntime(t)
	const n = 10_000
	pids := make([]PID, n)
	for i := range pids {
		pids[i] = mustSpawn(t, rt, newInbox())
		if i > 0 {
			if err := rt.table.get(pids[i]).Link(pids[i-1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	stack := func(depth chan int) func(PID, error) {
		return func(PID, error) {
			pcs := make([]uintptr, 4096)
			depth <- runtime.Callers(0, pcs)
		}
	}
	second, end := make(chan int, 1), make(chan int, 1)
	rt.Watch(pids[1], stack(second))
	rt.Watch(pids[n-1], stack(end))
	rt.Exit(pids[0], ErrKill)
	first, last := within(t, second, "second exit"), within(t, end, "last exit")
	if last > first+8 {
		t.Fatalf("the last exit of a chain of %d ran %d frames deep, the second %d", n, last, first)
	}
	eventually(t, func() error {
		if c := rt.NumProcesses(); c != 0 {
			return fmt.Errorf("%d processes alive", c)
		}
		return nil
	})
}

// IsNormalExit takes only the normal reason itself: a reason that wraps it,
// such as a dependency's error or a panic with ErrNormal, is abnormal, and
// links propagate it.
func TestWrappedNormalIsAbnormal(t *testing.T) {
	wrapped := fmt.Errorf("dependency: %w", ErrNormal)
	for _, r := range []error{wrapped, &CrashError{Value: ErrNormal}, &ExitError{Reason: ErrNormal}} {
		if IsNormalExit(r) {
			t.Errorf("IsNormalExit(%v) = true", r)
		}
	}
	if !IsNormalExit(nil) || !IsNormalExit(ErrNormal) {
		t.Fatal("the normal reason is not normal")
	}
	rt := newRuntime(t)
	a := mustSpawn(t, rt, &counter{})
	b := mustSpawn(t, rt, &linker{inbox: *newInbox(), target: a})
	waitB := watchExit(t, rt, b)
	rt.Cast(a, stopWith{wrapped})
	if r := waitB(); !errors.Is(r, ErrNormal) || r == ErrNormal {
		t.Fatalf("linked process exited with %v, want the wrapped reason", r)
	}
}

// spawnMonitorFails spawns a monitored child whose Init fails, then
// reports the messages it handles.
type spawnMonitorFails struct {
	inbox
	err error
	ref Ref
}

func (s *spawnMonitorFails) Init(p *Process) error {
	_, s.ref, s.err = p.SpawnMonitor(&initer{err: errBoom})
	p.Send(p.Self(), "marker")
	return nil
}

// SpawnMonitor of a child whose Init fails returns the error and leaves no
// monitor: no DOWN with a reference nobody was given arrives.
func TestSpawnMonitorWithFailingInitSendsNoDown(t *testing.T) {
	rt := newRuntime(t)
	s := &spawnMonitorFails{inbox: *newInbox()}
	pid := mustSpawn(t, rt, s)
	if !errors.Is(s.err, errBoom) {
		t.Fatalf("SpawnMonitor = %v", s.err)
	}
	if m := s.recv(t); m != "marker" {
		t.Fatalf("got %#v before the marker", m)
	}
	if in, _ := rt.Info(pid); len(in.Monitors) != 0 {
		t.Fatalf("monitors left: %v", in.Monitors)
	}
}

// trapChild traps exits and records what it handles, Terminate included.
type trapChild struct {
	Base
	log chan any
}

func (c *trapChild) Init(p *Process) error                       { p.TrapExit(true); return nil }
func (c *trapChild) HandleInfo(_ *Process, m any)                { c.log <- m }
func (c *trapChild) Terminate(_ *Process, r error)               { c.log <- fmt.Sprintf("terminate: %v", r) }
func (c *trapChild) HandleCast(_ *Process, m any)                { c.log <- m }
func (c *trapChild) HandleCall(*Process, From, any) (any, error) { return nil, nil }

// The exit signal of a parent to a child that traps exits comes after the
// messages the parent sent before it, as every signal between two
// processes does: the child handles them, then terminates.
func TestParentExitDoesNotOvertakeEarlierMessages(t *testing.T) {
	for _, how := range []string{"exit", "crash"} {
		t.Run(how, func(t *testing.T) {
			rt := newRuntime(t)
			c := &trapChild{log: make(chan any, 16)}
			res := make(chan PID, 1)
			parent := mustSpawn(t, rt, HandlerFunc(func(p *Process, msg any) {
				switch msg {
				case "spawn":
					pid, err := p.Spawn(c, WithLink())
					if err != nil {
						t.Error(err)
					}
					res <- pid
				case "go":
					child := <-res
					for i := range 3 {
						p.Send(child, i)
					}
					if how == "crash" {
						panic("parent crashed")
					}
					p.Exit(child, ErrShutdown)
				}
			}))
			rt.Send(parent, "spawn")
			child := within(t, res, "spawn")
			res <- child
			wait := watchExit(t, rt, child)
			rt.Send(parent, "go")
			wait()
			var got []any
			for len(c.log) > 0 {
				got = append(got, <-c.log)
			}
			if len(got) != 4 || got[0] != 0 || got[1] != 1 || got[2] != 2 {
				t.Fatalf("child handled %v, want 0 1 2 then terminate", got)
			}
		})
	}
}

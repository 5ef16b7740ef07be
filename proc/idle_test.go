package proc

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
)

// idler asks for an idle timeout of after from Init and, when renew is set,
// from every callback; it records what it handles.
type idler struct {
	Base
	after time.Duration
	renew bool
	mu    sync.Mutex
	got   []any
}

func (i *idler) Init(p *Process) error {
	p.IdleTimeout(i.after)
	return nil
}

func (i *idler) HandleInfo(p *Process, msg any) {
	i.mu.Lock()
	i.got = append(i.got, msg)
	i.mu.Unlock()
	if i.renew {
		p.IdleTimeout(i.after)
	}
}

func (i *idler) HandleCall(*Process, From, any) (any, error) { return nil, nil }

func (i *idler) log() []any {
	i.mu.Lock()
	defer i.mu.Unlock()
	return slices.Clone(i.got)
}

func manualRuntime(t *testing.T) (*Runtime, *clocktest.Manual) {
	t.Helper()
	clk := clocktest.New(time.Unix(1_000_000, 0))
	return newRuntimeWith(t, Config{Clock: clk}), clk
}

// flush waits until pid has handled everything queued before it.
func flush(t *testing.T, rt *Runtime, pid PID) {
	t.Helper()
	if _, err := rt.Call(context.Background(), pid, "flush"); err != nil {
		t.Fatal(err)
	}
}

// settled waits until pid's running callback has returned and what it
// asked for after it (an idle timer) is done: a system request is handled
// between callbacks and, not being a message, leaves an idle timeout be.
// Info, read from outside, can see a callback half done.
func settled(t *testing.T, rt *Runtime, pid PID) {
	t.Helper()
	if _, err := rt.Inspect(context.Background(), pid); err != nil {
		t.Fatal(err)
	}
}

// An idle timeout delivers Timeout once no message came for its time; a
// message that comes first cancels it, and each callback decides anew.
func TestIdleTimeout(t *testing.T) {
	rt, clk := manualRuntime(t)
	i := &idler{after: time.Second}
	pid := mustSpawn(t, rt, i)
	clk.Advance(999 * time.Millisecond)
	flush(t, rt, pid) // a call is a message: it cancels the timeout...
	clk.Advance(time.Hour)
	rt.Send(pid, "marker")
	flush(t, rt, pid)
	if got := i.log(); len(got) != 1 || got[0] != "marker" {
		t.Fatalf("handled %v: the timeout fired although a call came first", got)
	}

	// From Init, with nothing coming, it fires once.
	j := &idler{after: time.Second}
	pj := mustSpawn(t, rt, j)
	clk.Advance(time.Second)
	eventually(t, func() error {
		if got := j.log(); len(got) != 1 || got[0] != (Timeout{After: time.Second}) {
			return fmt.Errorf("handled %v", got)
		}
		return nil
	})
	clk.Advance(time.Hour)
	flush(t, rt, pj)
	if got := j.log(); len(got) != 1 {
		t.Fatalf("handled %v: a timeout not asked again fired again", got)
	}

	// Asked again by each callback: it fires after the last message.
	k := &idler{after: time.Second, renew: true}
	pk := mustSpawn(t, rt, k)
	for n := range 3 {
		clk.Advance(600 * time.Millisecond)
		rt.Send(pk, "tick")
		eventually(t, func() error {
			if got := k.log(); len(got) != n+1 {
				return fmt.Errorf("handled %v", got)
			}
			return nil
		})
	}
	settled(t, rt, pk)                  // the last tick's idle timer is armed
	clk.Advance(999 * time.Millisecond) // a timer due would run before Advance returns
	if in, _ := rt.Info(pk); in.Timers != 1 || in.MailboxLen != 0 {
		t.Fatalf("%d timers, %d messages queued: the timeout fired early", in.Timers, in.MailboxLen)
	}
	clk.Advance(time.Millisecond)
	eventually(t, func() error {
		if got := k.log(); len(got) != 4 || got[3] != (Timeout{After: time.Second}) {
			return fmt.Errorf("handled %v", got)
		}
		return nil
	})
	settled(t, rt, pk)
	if in, _ := rt.Info(pk); in.Timers != 1 {
		t.Fatalf("%d timers, want the renewed idle timer only", in.Timers)
	}
}

// A timeout that fired while a message was already queued does not count:
// the message came first.
func TestIdleTimeoutBehindAMessageIsStale(t *testing.T) {
	rt, clk := manualRuntime(t)
	i := &idler{after: time.Second}
	pid := mustSpawn(t, rt, i)
	// Hold the process in a system request, which does not cancel the
	// timeout, while a message and then the timeout's message queue up.
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- rt.ReplaceState(context.Background(), pid, func(b Behavior) (Behavior, error) {
			close(entered)
			<-release
			return nil, nil
		})
	}()
	<-entered
	rt.Send(pid, "first")
	clk.Advance(time.Second)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	flush(t, rt, pid)
	if got := i.log(); len(got) != 1 || got[0] != "first" {
		t.Fatalf("handled %v: a timeout behind a message was delivered", got)
	}
}

// sleeper hibernates on "sleep" and counts its compactions.
type sleeper struct {
	Base
	cache     map[int]int
	compacted int
}

func (s *sleeper) HandleInfo(p *Process, msg any) {
	if msg == "sleep" {
		p.Hibernate()
	}
	for i := range 1000 {
		s.cache[i] = i
	}
}

func (s *sleeper) Compact(*Process) {
	s.compacted++
	s.cache = map[int]int{}
}

func (s *sleeper) Inspect() any { return [2]int{s.compacted, len(s.cache)} }

// A process that hibernates compacts its state and gives its goroutine up
// as soon as it is out of messages, instead of keeping it for a while; the
// next message wakes it as usual.
func TestHibernate(t *testing.T) {
	rt := newRuntime(t)
	s := &sleeper{cache: map[int]int{}}
	pid := mustSpawn(t, rt, s)
	p := rt.table.get(pid)
	since := rt.sweep.epoch.Load()
	rt.Send(pid, "sleep")
	eventually(t, func() error {
		if st := p.mbox.status.Load(); st != statusIdle {
			return fmt.Errorf("status %d", st)
		}
		return nil
	})
	if e := rt.sweep.epoch.Load(); e >= since+2 {
		t.Skipf("the machine is too slow to tell hibernation from retirement (%d sweeps)", e-since)
	}
	v, err := rt.Inspect(context.Background(), pid)
	if err != nil || v != [2]int{1, 0} {
		t.Fatalf("after hibernating: %v %v, want one compaction and an empty cache", v, err)
	}
	// Awake again, and not hibernating any more: it waits as usual.
	rt.Send(pid, "work")
	eventually(t, func() error {
		if st := p.mbox.status.Load(); st != statusParked {
			return fmt.Errorf("status %d", st)
		}
		return nil
	})
}

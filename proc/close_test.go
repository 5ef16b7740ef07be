package proc

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Close racing Spawn: once Close has returned, no process is alive, even
// one whose Spawn was under way when Close began.
func TestCloseRacingSpawnLeavesNoProcess(t *testing.T) {
	runs := 300
	if raceEnabled {
		runs = 60
	}
	for i := range runs {
		rt, err := New(Config{Node: "close@localhost", Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					if _, err := rt.Spawn(newInbox()); err != nil {
						return
					}
				}
			}()
		}
		for range i % 7 {
			runtime.Gosched()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = rt.Close(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if n := rt.NumProcesses(); n != 0 {
			t.Fatalf("run %d: %d processes alive after Close returned", i, n)
		}
	}
}

// The runtime's tables shrink again after many processes exited: the
// memory a million short-lived processes used is given back.
func TestTablesShrinkAfterExits(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 200,000 processes")
	}
	if raceEnabled {
		t.Skip("a memory figure; the race detector's own memory hides it and its pace makes it slow")
	}
	rt := newRuntime(t)
	const n = 200_000
	before := heapInUse()
	pids := make([]PID, n)
	for i := range pids {
		pids[i] = mustSpawn(t, rt, &counter{}, WithName(fmt.Sprint("p", i)))
	}
	during := heapInUse()
	for _, pid := range pids {
		rt.Exit(pid, ErrKill)
	}
	pids = nil
	after := heapInUse()
	t.Logf("heap: %d MB before, %d MB with %d processes, %d MB after they exited",
		before>>20, during>>20, n, after>>20)
	if kept := int64(after) - int64(before); kept > 2<<20 {
		t.Fatalf("%d bytes still held after %d processes exited (%d per process)", kept, n, kept/n)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// selfSender sends itself a message in Init, so that its goroutine starts
// when Init returns.
type selfSender struct{ Base }

func (selfSender) Init(p *Process) error { return p.Send(p.Self(), "hello") }

// stuckInCallback blocks in HandleInfo until release is closed, ignoring
// its context, as a callback that does not watch it.
type stuckInCallback struct {
	Base
	entered, release chan struct{}
}

func (s *stuckInCallback) HandleInfo(*Process, any) {
	close(s.entered)
	<-s.release
}

// A process whose Init returned with messages waiting gets its goroutine
// counted before it can be killed: a Close that gave up waiting for it
// (its context ended) waits for that goroutine like any other, instead of
// the goroutine starting behind Close's wait (a race on the runtime's
// WaitGroup that -race reports).
func TestCloseCountsAGoroutineStartedAfterInit(t *testing.T) {
	rt, err := New(Config{Node: "close@localhost", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	stuck := &stuckInCallback{entered: make(chan struct{}), release: make(chan struct{})}
	spid, err := rt.Spawn(stuck)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Send(spid, "block"); err != nil {
		t.Fatal(err)
	}
	<-stuck.entered

	settled, resume := make(chan struct{}), make(chan struct{})
	testHookSettled = func(*Process) {
		close(settled)
		<-resume
	}
	defer func() { testHookSettled = nil }()
	spawned := make(chan error, 1)
	go func() {
		_, err := rt.Spawn(selfSender{})
		spawned <- err
	}()
	<-settled // Init returned, the process is running, its goroutine not started

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err = rt.Close(ctx)
	cancel()
	if err == nil {
		t.Fatal("Close returned nil with a callback still running")
	}
	close(stuck.release) // the stuck callback ends
	time.Sleep(10 * time.Millisecond)
	close(resume) // the spawned process's goroutine starts
	if err := <-spawned; err != nil {
		t.Logf("spawn: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rt.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// hibernator goes idle after every message, so that nearly every send
// finds it idle and starts its goroutine.
type hibernator struct {
	Base
	n int
}

func (h *hibernator) HandleInfo(p *Process, _ any) {
	h.n++
	p.Hibernate()
}

// Many senders flood processes that go idle after each message, while
// Close runs: every goroutine a send started is waited for, none is left
// once Close returned, and -race sees the count ordered before the wait.
func TestCloseDuringAFloodOfWakeUps(t *testing.T) {
	runs := 10
	if raceEnabled {
		runs = 4
	}
	for i := range runs {
		before := goleak.IgnoreCurrent()
		rt, err := New(Config{Node: "close@localhost", Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		pids := make([]PID, 20)
		for j := range pids {
			if pids[j], err = rt.Spawn(&hibernator{}); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for s := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := s; ; k++ {
					if err := rt.Send(pids[k%len(pids)], k); err != nil && rt.NumProcesses() == 0 {
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(i%5) * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = rt.Close(ctx)
		cancel()
		if err != nil {
			t.Fatalf("run %d: close: %v", i, err)
		}
		wg.Wait()
		if err := goleak.Find(before); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
}

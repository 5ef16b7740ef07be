package proc

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
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

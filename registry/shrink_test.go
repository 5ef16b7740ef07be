package registry

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/grovedev/grove/proc"
)

// The registry gives its memory back after its processes exited: its maps
// are rebuilt when they fall to a quarter of their peak.
func TestRegistryShrinksAfterExits(t *testing.T) {
	if raceEnabled {
		t.Skip("a memory figure; the race detector's own memory hides it and its pace makes it slow")
	}
	rt := newRuntime(t)
	u := newRegistry(t, rt, Config{Keys: Unique, Partitions: 4})
	d := newRegistry(t, rt, Config{Keys: Duplicate, Partitions: 4})
	const n = 100_000
	before := heapAlloc()
	pids := make([]proc.PID, n)
	for i := range pids {
		pids[i] = spawn(t, rt)
		if err := u.Register(pids[i], fmt.Sprint("name", i), nil); err != nil {
			t.Fatal(err)
		}
		if err := d.Register(pids[i], "everyone", i); err != nil {
			t.Fatal(err)
		}
	}
	during := heapAlloc()
	for _, pid := range pids {
		rt.Exit(pid, proc.ErrKill)
	}
	pids = nil
	if u.Count() != 0 || d.Count() != 0 {
		t.Fatalf("entries left: %d, %d", u.Count(), d.Count())
	}
	after := heapAlloc()
	runtime.KeepAlive(u) // the registries are measured, not collected
	runtime.KeepAlive(d)
	t.Logf("heap: %d MB before, %d MB with %d registered processes, %d MB after they exited",
		before>>20, during>>20, n, after>>20)
	if kept := int64(after) - int64(before); kept > 2<<20 {
		t.Fatalf("%d bytes still held after %d processes exited (%d per process)", kept, n, kept/n)
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

package proc

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// Soak tests run only when GROVE_PROC_SOAK is set: they spawn millions of
// processes and take minutes and gigabytes. GROVE_PROC_SOAK=N sets the size
// (default 2,000,000 links for the chain, 1,000,000 processes for the
// memory figure).
func soakSize(t *testing.T, def int) int {
	t.Helper()
	v := os.Getenv("GROVE_PROC_SOAK")
	if v == "" {
		t.Skip("set GROVE_PROC_SOAK=1 (or a size) to run")
	}
	if n, err := strconv.Atoi(v); err == nil && n > 1 {
		return n
	}
	return def
}

// A chain of millions of linked processes ends, killed at one end, on the
// stack of one call: the cascade is a loop, not a recursion.
func TestSoakLongLinkChainEnds(t *testing.T) {
	n := soakSize(t, 2_000_000)
	rt := newRuntime(t)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	stackBefore, heapBefore := ms.StackInuse, ms.HeapAlloc
	quiet := HandlerFunc(func(*Process, any) {})
	first := mustSpawn(t, rt, quiet)
	prev := rt.table.get(first)
	var last PID
	for range n - 1 {
		pid := mustSpawn(t, rt, quiet)
		p := rt.table.get(pid)
		if err := p.Link(prev.pid); err != nil {
			t.Fatal(err)
		}
		prev, last = p, pid
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapChain := ms.HeapAlloc
	depth := make(chan int, 1)
	rt.Watch(last, func(PID, error) {
		pcs := make([]uintptr, 1<<16)
		depth <- runtime.Callers(0, pcs)
	})
	start := time.Now()
	rt.Exit(first, ErrKill)
	took := time.Since(start)
	runtime.ReadMemStats(&ms) // before a collection shrinks any stack
	t.Logf("chain of %d: killed in %v; last exit %d frames deep; stack in use %d KiB before, %d KiB after; heap %d MiB before, %d MiB with the chain, %d MiB right after the kill",
		n, took, <-depth, stackBefore>>10, ms.StackInuse>>10, heapBefore>>20, heapChain>>20, ms.HeapAlloc>>20)
	eventually(t, func() error {
		if c := rt.NumProcesses(); c != 0 {
			return fmt.Errorf("%d processes alive", c)
		}
		return nil
	})
}

// The memory of a million processes that exited is given back.
func TestSoakMillionExitsGiveMemoryBack(t *testing.T) {
	n := soakSize(t, 1_000_000)
	rt := newRuntime(t)
	before := heapInUse()
	pids := make([]PID, n)
	for i := range pids {
		pids[i] = mustSpawn(t, rt, &counter{})
	}
	during := heapInUse()
	for _, pid := range pids {
		rt.Exit(pid, ErrKill)
	}
	pids = nil
	after := heapInUse()
	t.Logf("heap: %d MiB before, %d MiB with %d processes, %d MiB after they exited (%d bytes kept per process)",
		before>>20, during>>20, n, after>>20, (int64(after)-int64(before))/int64(n))
}

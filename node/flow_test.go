package node

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

// gated is a process that handles nothing until its gate opens, then
// counts what it handles.
type gated struct {
	proc.Base
	gate chan struct{}
	n    atomic.Int64
}

func (g *gated) HandleInfo(_ *proc.Process, _ any) { <-g.gate; g.n.Add(1) }
func (g *gated) HandleCast(_ *proc.Process, _ any) { <-g.gate; g.n.Add(1) }

// peakSampler records the largest value of f while it runs.
func peakSampler(f func() int64) (stop func() int64) {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if v := f(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() int64 { close(done); wg.Wait(); return peak.Load() }
}

func heapAlloc() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestFastSenderIsHeldBack streams 100 MiB of 1 KiB messages over TCP into
// a process that does not take them yet, with an unbounded mailbox: the
// receiver's queued bytes stay near MaxRemoteQueued because the link is
// paused and the sender held back, and once the process runs every
// message arrives.
func TestFastSenderIsHeldBack(t *testing.T) {
	const (
		count   = 100_000
		size    = 1 << 10
		ceiling = 8 << 20
	)
	b := startNode(t, "b@127.0.0.1", tcp(), "127.0.0.1:0", func(c *Config) { c.MaxRemoteQueued = ceiling })
	a := startNode(t, "a@127.0.0.1", tcp(), "127.0.0.1:0", nil)
	if err := a.n.Connect(context.Background(), b.n.Name(), b.n.Addr()); err != nil {
		t.Fatal(err)
	}
	g := &gated{gate: make(chan struct{})}
	to := spawn(t, b.rt, g)
	runtime.GC()
	base := heapAlloc()
	stopQueued := peakSampler(b.n.RemoteQueued)
	stopHeap := peakSampler(heapAlloc)

	sent := make(chan error, 1)
	go func() {
		msg := make([]byte, size)
		for i := range count {
			if err := a.rt.Send(to, msg); err != nil {
				sent <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		sent <- nil
	}()
	// The sender is held back well before it has sent everything.
	testutil.Eventually(t, 20*time.Second, func() error {
		if a.n.Stats().SendsHeld.Load() == 0 {
			return fmt.Errorf("sender never held back; receiver queues %d bytes", b.n.RemoteQueued())
		}
		return nil
	})
	select {
	case err := <-sent:
		t.Fatalf("the sender finished %d MiB of sends while the receiver took none (%v)", count*size>>20, err)
	default:
	}
	if q := b.n.RemoteQueued(); q > ceiling+16<<20 {
		t.Fatalf("receiver queues %d MiB with the sender held back", q>>20)
	}
	close(g.gate)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if got := g.n.Load(); got != count {
			return fmt.Errorf("%d of %d messages handled", got, count)
		}
		return nil
	})
	peakQueued, peakHeap := stopQueued(), stopHeap()
	t.Logf("queued bytes peaked at %d KiB (ceiling %d KiB), heap grew by at most %d MiB for %d MiB sent; %d sends held, %d pauses",
		peakQueued>>10, ceiling>>10, (peakHeap-base)>>20, count*size>>20, a.n.Stats().SendsHeld.Load(), b.n.Stats().LinksPaused.Load())
	if peakQueued > ceiling+16<<20 {
		t.Fatalf("receiver queued %d MiB with a ceiling of %d MiB", peakQueued>>20, ceiling>>20)
	}
	if peakHeap-base > 64<<20 {
		t.Fatalf("heap grew by %d MiB", (peakHeap-base)>>20)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if q := b.n.RemoteQueued(); q != 0 {
			return fmt.Errorf("%d bytes still counted as queued after the mailbox drained", q)
		}
		return nil
	})
}

// TestDropsAtAFullMailboxAreReported sends 20,000 casts to a remote
// process with a mailbox bound of 1,000 that does not take them: what the
// mailbox refused is reported back and counted on the sender, so sent =
// handled + dropped by peer; an acknowledged send gets the error.
func TestDropsAtAFullMailboxAreReported(t *testing.T) {
	const count = 20_000
	a, b, _ := memPair(t)
	g := &gated{gate: make(chan struct{})}
	to := spawn(t, b.rt, g, proc.WithMailboxBound(1000))
	for i := range count {
		if err := a.rt.Send(to, i); err != nil {
			t.Fatal(err)
		}
	}
	// Once drops are reported the mailbox is full, and an acknowledged
	// send says so.
	testutil.Eventually(t, 10*time.Second, func() error {
		if a.n.Stats().DroppedByPeer.Load() == 0 {
			return errors.New("no drop reported")
		}
		return nil
	})
	if err := a.n.SendAck(context.Background(), proc.PID{}, to, "acked"); !errors.Is(err, proc.ErrMailboxFull) {
		t.Fatalf("acknowledged send to a full mailbox: %v", err)
	}
	close(g.gate)
	testutil.Eventually(t, 10*time.Second, func() error {
		handled, dropped := g.n.Load(), int64(a.n.Stats().DroppedByPeer.Load())
		if handled+dropped != count { // the refused acknowledged send is not a drop report
			return fmt.Errorf("sent %d: handled %d + dropped %d", count, handled, dropped)
		}
		return nil
	})
	if d := a.n.Stats().DroppedByPeer.Load(); d < count-1001 {
		t.Fatalf("only %d drops reported", d)
	}
	// An acknowledged send to a live mailbox succeeds, one to a dead
	// process fails.
	if err := a.n.SendAck(context.Background(), proc.PID{}, to, "acked"); err != nil {
		t.Fatal(err)
	}
	b.rt.Exit(to, proc.ErrKill)
	testutil.Eventually(t, 5*time.Second, func() error {
		if err := a.n.SendAck(context.Background(), proc.PID{}, to, "late"); !errors.Is(err, proc.ErrNotAlive) {
			return fmt.Errorf("acknowledged send to a dead process: %v", err)
		}
		return nil
	})
}

// TestTinyCeilingNeverStallsTheLink sets a ceiling every message passes,
// with a process that takes each at once: every delivery pauses the link,
// the count falls back before or after the pause is registered, and the
// link must always be resumed.
func TestTinyCeilingNeverStallsTheLink(t *testing.T) {
	const count = 500
	nw := newNet(t)
	b := startNode(t, "b@mem", nw.Endpoint("b"), "b:1", func(c *Config) { c.MaxRemoteQueued = 1 })
	a := startNode(t, "a@mem", nw.Endpoint("a"), "a:1", nil)
	if err := a.n.Connect(context.Background(), "b@mem", "b:1"); err != nil {
		t.Fatal(err)
	}
	g := &gated{gate: make(chan struct{})}
	close(g.gate)
	to := spawn(t, b.rt, g)
	// One message at a time: each is the last one queued, so each pause
	// may find nothing left to release it but its own recheck.
	for i := range count {
		sent := make(chan error, 1)
		go func() { sent <- a.rt.Send(to, i) }()
		select {
		case err := <-sent:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			var held bool
			for _, p := range a.n.mu.peers {
				held = p.out.held.Load()
			}
			t.Fatalf("send %d held for good: the link was paused and never resumed (receiver: %d bytes queued, %d links paused, %d pauses; sender held %v, %d handled)",
				i, b.n.RemoteQueued(), b.n.inflow.npaused.Load(), b.n.Stats().LinksPaused.Load(), held, g.n.Load())
		}
		testutil.Eventually(t, 20*time.Second, func() error {
			if got := g.n.Load(); got != int64(i+1) {
				return fmt.Errorf("%d of %d handled", got, i+1)
			}
			return nil
		})
	}
	if b.n.Stats().LinksPaused.Load() == 0 {
		t.Fatal("a ceiling of one byte never paused the link")
	}
}

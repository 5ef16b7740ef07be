package proc

import (
	"fmt"
	"sync/atomic"
	"testing"
)

type countTracker struct{ released atomic.Int64 }

func (c *countTracker) Release(size int) { c.released.Add(int64(size)) }

func TestTrackedMessagesAreReleasedWhenTakenOrDropped(t *testing.T) {
	rt := newRuntime(t)
	ib := newInbox()
	pid, err := rt.Spawn(ib)
	if err != nil {
		t.Fatal(err)
	}
	tr := &countTracker{}
	rt.TrackRemote(tr)
	if err := rt.DeliverRemoteTracked(pid, "hello", false, 10); err != nil {
		t.Fatal(err)
	}
	if m := ib.recv(t); m != "hello" {
		t.Fatalf("received %v, want the message itself", m)
	}
	if got := tr.released.Load(); got != 10 {
		t.Fatalf("released %d after the message was handled, want 10", got)
	}
	if err := rt.Register("named", pid); err != nil {
		t.Fatal(err)
	}
	if err := rt.DeliverRemoteNameTracked("named", "by name", true, 5); err != nil {
		t.Fatal(err)
	}
	if m := ib.recv(t); m != "by name" {
		t.Fatalf("received %v", m)
	}

	// A process that exits with tracked messages queued releases them.
	block := make(chan struct{})
	stuck, err := rt.Spawn(HandlerFunc(func(p *Process, m any) {
		if m == "block" {
			<-block
			p.Stop(ErrShutdown)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	tr2 := &countTracker{}
	rt.TrackRemote(tr2)
	if err := rt.Send(stuck, "block"); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := rt.DeliverRemoteTracked(stuck, "queued", false, 1); err != nil {
			t.Fatal(err)
		}
	}
	close(block)
	eventually(t, func() error {
		if got := tr2.released.Load(); got != 100 {
			return fmt.Errorf("released %d of 100 after the process exited", got)
		}
		return nil
	})
	// A failed delivery is not tracked.
	if err := rt.DeliverRemoteTracked(stuck, "late", false, 1); err == nil {
		t.Fatal("delivered to an exited process")
	}
	if got := tr2.released.Load(); got != 100 {
		t.Fatalf("a failed delivery was released: %d", got)
	}
}

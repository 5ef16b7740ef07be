package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport/memnet"
)

// TestMessagesLostWithALinkAreCounted: messages a link accepted and never
// wrote, when the link breaks, are counted in Stats.LostOnLinkDown: the
// direction a → b stalls (the network buffers 64 KiB, then a's writes
// block), a sends 200 messages of 1 KiB, and the connection is reset.
func TestMessagesLostWithALinkAreCounted(t *testing.T) {
	nw := memnet.New(memnet.Config{BufferSize: 64 << 10})
	t.Cleanup(func() { nw.Close() })
	a := startNode(t, "a@mem", nw.Endpoint("a"), "a:1", nil)
	b := startNode(t, "b@mem", nw.Endpoint("b"), "b:1", nil)
	if err := a.n.Connect(context.Background(), "b@mem", b.n.Addr()); err != nil {
		t.Fatal(err)
	}
	in := newInbox()
	dst := spawn(t, b.rt, in)
	if err := a.rt.Send(dst, "first"); err != nil {
		t.Fatal(err)
	}
	if m := in.recv(t); m != "first" {
		t.Fatalf("got %#v", m)
	}
	nw.Block("a", "b")
	const sent = 200
	for i := range sent {
		if err := a.rt.Send(dst, fmt.Sprintf("%04d%s", i, strings.Repeat("x", 1020))); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	nw.ResetLink("a", "b")
	// At most 64 KiB of them (about 60) left a; the rest are counted.
	eventually(t, func() error {
		if lost := a.n.Stats().LostOnLinkDown.Load(); lost < sent-70 {
			return fmt.Errorf("%d of %d messages counted lost", lost, sent)
		}
		return nil
	})
	received := len(in.ch)
	lost := a.n.Stats().LostOnLinkDown.Load()
	if uint64(received)+lost > sent {
		t.Fatalf("%d received and %d counted lost of %d sent", received, lost, sent)
	}
	t.Logf("%d of %d counted lost with the link, %d received", lost, sent, received)
}

// TestUndecodableMessagesAreLoggedAtABoundedRate: a peer that sends
// thousands of messages of a type this node does not know has each one
// counted and reported back, and makes both nodes log a few lines, not one
// per message.
func TestUndecodableMessagesAreLoggedAtABoundedRate(t *testing.T) {
	nw := newNet(t)
	type extra struct{ X int }
	linesA, linesB := &lineCounter{}, &lineCounter{}
	a := startNode(t, "a@mem", nw.Endpoint("a"), "a:1", func(c *Config) {
		c.Codec = newCodec(t)
		if err := registerExtra[extra](c); err != nil {
			t.Fatal(err)
		}
		c.Logger = slog.New(linesA)
	})
	b := startNode(t, "b@mem", nw.Endpoint("b"), "b:1", func(c *Config) { c.Logger = slog.New(linesB) })
	if err := a.n.Connect(context.Background(), "b@mem", b.n.Addr()); err != nil {
		t.Fatal(err)
	}
	baseA, baseB := linesA.n.Load(), linesB.n.Load()
	dst := spawn(t, b.rt, newInbox())
	const sent = 3000
	for i := range sent {
		if err := a.rt.Send(dst, extra{i}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for a.n.Stats().UndecodableByPeer.Load() != sent || b.n.Stats().Undecodable.Load() != sent {
		if time.Now().After(deadline) {
			t.Fatalf("undecodable %d at b, %d reported to a, of %d", b.n.Stats().Undecodable.Load(), a.n.Stats().UndecodableByPeer.Load(), sent)
		}
		time.Sleep(10 * time.Millisecond)
	}
	la, lb := linesA.n.Load()-baseA, linesB.n.Load()-baseB
	t.Logf("%d undecodable messages: %d lines logged by the sender, %d by the receiver", sent, la, lb)
	if la > 50 || lb > 50 {
		t.Fatalf("%d undecodable messages logged %d lines at the sender and %d at the receiver", sent, la, lb)
	}
}

// TestSendsNobodyTakesAreReported: plain sends to a process that is gone
// and to a name nobody registered are counted at the receiver and reported
// to the sending node; a message over the sender's size limit fails at
// the sender; one over the receiver's limit cuts the link and is counted.
func TestSendsNobodyTakesAreReported(t *testing.T) {
	nw := newNet(t)
	a := startNode(t, "a@mem", nw.Endpoint("a"), "a:1", func(c *Config) { c.Frame.MaxMessageSize = 4 << 20 })
	b := startNode(t, "b@mem", nw.Endpoint("b"), "b:1", func(c *Config) { c.Frame.MaxMessageSize = 1 << 20 })
	if err := a.n.Connect(context.Background(), "b@mem", b.n.Addr()); err != nil {
		t.Fatal(err)
	}
	gone := spawn(t, b.rt, newInbox())
	b.rt.Exit(gone, proc.ErrKill)
	eventually(t, func() error {
		if b.rt.Alive(gone) {
			return fmt.Errorf("still alive")
		}
		return nil
	})
	for range 10 {
		if err := a.rt.Send(gone, "to the dead"); err != nil {
			t.Fatal(err)
		}
		if err := a.rt.Cast(proc.NodeName{Node: "b@mem", Name: "nobody"}, "to nobody"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, func() error {
		if d, f := a.n.Stats().DroppedByPeer.Load(), b.n.Stats().DeliveryFailures.Load(); d != 20 || f != 20 {
			return fmt.Errorf("dropped by peer %d, delivery failures %d, of 20", d, f)
		}
		return nil
	})

	dst := spawn(t, b.rt, newInbox())
	err := a.rt.Send(dst, strings.Repeat("x", 5<<20))
	if !errors.Is(err, ErrTooLarge) || errors.Is(err, proc.ErrNoConnection) {
		t.Fatalf("a message over the sender's limit: %v", err)
	}
	if err := a.rt.Send(dst, "small"); err != nil {
		t.Fatalf("the link after a refused message: %v", err)
	}
	// Over the receiver's limit: b cuts the link as the first fragment
	// arrives (the send fails, or returns before) and counts it.
	_ = a.rt.Send(dst, strings.Repeat("x", 2<<20))
	eventually(t, func() error {
		if m := b.n.Stats().MalformedFrames.Load(); m != 1 {
			return fmt.Errorf("links cut for an oversized message: %d", m)
		}
		return nil
	})
}

package memnet_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/grovedev/grove/transport"
	"github.com/grovedev/grove/transport/memnet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func pair(t *testing.T, nw *memnet.Network, from, to string) (net.Conn, net.Conn) {
	t.Helper()
	ctx := context.Background()
	ln, err := nw.Endpoint(to).Listen(ctx, to+":1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c, err := nw.Endpoint(from).Dial(ctx, to+":1")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

func TestBufferedFullDuplex(t *testing.T) {
	nw := memnet.New(memnet.Config{BufferSize: 1 << 16})
	c, s := pair(t, nw, "a", "b")
	// The writer runs ahead of the reader up to the buffer size.
	data := bytes.Repeat([]byte("x"), 1<<16)
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("back")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: %v", err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "back" {
		t.Fatalf("read back: %q %v", buf, err)
	}
	if c.RemoteAddr().String() != "b:1" || s.LocalAddr().Network() != "memnet" {
		t.Fatalf("addresses: %v %v", c.RemoteAddr(), s.LocalAddr())
	}
	// A full buffer blocks the writer until the write deadline.
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	c.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c.Write([]byte("more")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a full buffer: %v", err)
	}
}

func TestStreamIntegrityUnderLoad(t *testing.T) {
	nw := memnet.New(memnet.Config{BufferSize: 4096})
	c, s := pair(t, nw, "a", "b")
	const total = 1 << 20
	go func() {
		b := make([]byte, 1000)
		for i := 0; i < total; i += len(b) {
			for j := range b {
				b[j] = byte(i + j)
			}
			k := min(len(b), total-i)
			if _, err := c.Write(b[:k]); err != nil {
				return
			}
		}
		c.Close()
	}()
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != total {
		t.Fatalf("got %d bytes", len(got))
	}
	for i, v := range got {
		if v != byte(i) {
			t.Fatalf("byte %d corrupted", i)
		}
	}
}

func TestReadDeadlineAndClose(t *testing.T) {
	nw := memnet.New(memnet.Config{})
	c, s := pair(t, nw, "a", "b")
	s.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read deadline: %v", err)
	}
	s.SetReadDeadline(time.Time{})
	c.Write([]byte("bye"))
	c.Close()
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "bye" {
		t.Fatalf("drain after close: %q %v", got, err)
	}
	if _, err := s.Write([]byte("x")); err == nil {
		t.Fatal("write to a closed peer succeeded")
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on closed conn: %v", err)
	}
}

func TestBlockStallsOneDirection(t *testing.T) {
	nw := memnet.New(memnet.Config{})
	c, s := pair(t, nw, "a", "b")
	nw.Block("a", "b")
	if !nw.Blocked("a", "b") || nw.Blocked("b", "a") {
		t.Fatal("Blocked reports wrong state")
	}
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := s.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blocked direction delivered: %v", err)
	}
	// The other direction still works.
	s.Write([]byte("ok"))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	// New dials between the pair fail.
	if _, err := nw.Endpoint("a").Dial(context.Background(), "b:1"); !errors.Is(err, memnet.ErrUnreachable) {
		t.Fatalf("dial across a blocked link: %v", err)
	}
	nw.Unblock("a", "b")
	s.SetReadDeadline(time.Time{})
	buf = make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "held" {
		t.Fatalf("after unblock: %q %v", buf, err)
	}
}

func TestResetLinkAndEndpointClose(t *testing.T) {
	nw := memnet.New(memnet.Config{})
	c, s := pair(t, nw, "a", "b")
	nw.ResetLink("b", "a")
	if _, err := s.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after reset succeeded")
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("write after reset succeeded")
	}

	ctx := context.Background()
	b := nw.Endpoint("b")
	ln, err := b.Listen(ctx, "b:2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Listen(ctx, "b:2"); !errors.Is(err, memnet.ErrAddrInUse) {
		t.Fatalf("double listen: %v", err)
	}
	c2, err := nw.Endpoint("a").Dial(ctx, "b:2")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	s2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	b.Close()
	b.Close()
	if _, err := ln.Accept(); err == nil {
		t.Fatal("accept after endpoint close")
	}
	if _, err := c2.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("peer of a closed endpoint reads %v, want EOF", err)
	}
	if _, err := b.Dial(ctx, "a:1"); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("dial from closed endpoint: %v", err)
	}
	if _, err := nw.Endpoint("a").Dial(ctx, "b:2"); !errors.Is(err, memnet.ErrConnRefused) {
		t.Fatalf("dial to closed endpoint: %v", err)
	}
	// The host restarts.
	b2 := nw.Endpoint("b")
	defer b2.Close()
	ln2, err := b2.Listen(ctx, "b:2")
	if err != nil {
		t.Fatal(err)
	}
	ln2.Close()
}

func TestDialCancelledWhileBacklogFull(t *testing.T) {
	nw := memnet.New(memnet.Config{AcceptBacklog: 1})
	ctx := context.Background()
	ln, err := nw.Endpoint("b").Listen(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a := nw.Endpoint("a")
	c1, err := a.Dial(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := a.Dial(cctx, "b"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial with a full backlog: %v", err)
	}
}

func TestStalledBytesSurviveWriterClose(t *testing.T) {
	nw := memnet.New(memnet.Config{})
	c, s := pair(t, nw, "a", "b")
	nw.Block("a", "b")
	c.Write([]byte("last words"))
	c.Close()
	time.AfterFunc(20*time.Millisecond, func() { nw.Unblock("a", "b") })
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "last words" {
		t.Fatalf("got %q %v", got, err)
	}
}

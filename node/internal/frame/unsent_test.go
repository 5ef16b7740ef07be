package frame

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
)

// stallingConn takes the first budget bytes written to it, then blocks
// every write until it is closed, when the write fails having taken what
// fitted.
type stallingConn struct {
	mu     sync.Mutex
	budget int
	closed chan struct{}
}

func (c *stallingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	n := min(len(b), c.budget)
	c.budget -= n
	c.mu.Unlock()
	if n == len(b) {
		return n, nil
	}
	<-c.closed
	return n, errors.New("connection reset")
}

func (c *stallingConn) left() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.budget
}

// TestUnsentMessagesAreCounted: a connection takes nine and a half frames
// and stalls; the Writer accepts more, then the connection breaks. Every
// message Write accepted and the connection did not take whole is counted
// in Unsent and told to OnUnsent, whether it was in the batch being
// written, in the next batch or behind a fragmented message on its lane;
// a fragmented message cut short is not counted, its Write fails.
func TestUnsentMessagesAreCounted(t *testing.T) {
	const payload, total = 100, 50 // frames of 108 bytes
	conn := &stallingConn{budget: 9*(HeaderSize+payload) + 50, closed: make(chan struct{})}
	var told atomic.Int64
	w := NewWriter(conn, Config{ChunkSize: 1024, OnUnsent: func(k int) { told.Add(int64(k)) }})
	msg := func(lane uint16) Message {
		return Message{Kind: FirstUserKind, Lane: lane, Payload: make([]byte, payload)}
	}
	for range total - 2 {
		if err := w.Write(context.Background(), msg(0)); err != nil {
			t.Fatal(err)
		}
	}
	// Once the connection stalls, a large message holds lane 1 and a small
	// one waits behind it (over half the write buffer, it is sent fragment
	// by fragment rather than copied whole).
	testutil.Eventually(t, 5*time.Second, func() error {
		if conn.left() != 0 {
			return errors.New("the connection has not stalled yet")
		}
		return nil
	})
	bigErr := make(chan error, 1)
	go func() {
		bigErr <- w.Write(context.Background(), Message{Kind: FirstUserKind, Lane: 1, Payload: make([]byte, DefaultWriteBufferSize)})
	}()
	testutil.Eventually(t, 5*time.Second, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.mu.lanes[1] == nil {
			return errors.New("the large message is not queued yet")
		}
		return nil
	})
	if err := w.Write(context.Background(), msg(1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(context.Background(), msg(0)); err != nil {
		t.Fatal(err)
	}
	close(conn.closed)
	w.Close()
	if err := <-bigErr; err == nil {
		t.Fatal("the large message cut short reported success")
	}
	want := uint64(total - 9) // the nine frames the connection took whole arrived
	if got := w.Stats().Unsent; got != want {
		t.Fatalf("Unsent %d, want %d", got, want)
	}
	if got := told.Load(); got != int64(want) {
		t.Fatalf("OnUnsent told %d, want %d", got, want)
	}
}

func TestCompletedMessagesFrom(t *testing.T) {
	var b []byte
	b = appendHeader(b, 3, FirstUserKind, 0, 0)
	b = append(b, 1, 2, 3)
	b = appendHeader(b, 0, KindTick, 0, 0)
	b = appendHeader(b, 2, FirstUserKind, flagMore, 4)
	b = append(b, 1, 2)
	b = appendHeader(b, 2, FirstUserKind, 0, 4)
	b = append(b, 1, 2)
	b = appendHeader(b, 0, FirstUserKind, flagAbort, 5)
	for _, c := range []struct{ written, want int }{
		{0, 2}, {10, 2}, {11, 1}, {19, 1}, {len(b) - HeaderSize, 0}, {len(b), 0},
	} {
		if got := completedMessagesFrom(b, c.written); got != c.want {
			t.Errorf("written %d: %d, want %d", c.written, got, c.want)
		}
	}
}

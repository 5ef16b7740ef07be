package frame

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
)

// gatedWriter collects what is written; every write waits until open is
// closed.
type gatedWriter struct {
	open chan struct{}
	mu   sync.Mutex
	buf  bytes.Buffer
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

func (g *gatedWriter) bytes() []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return bytes.Clone(g.buf.Bytes())
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// writeWithin fails the test if Write does not return within d.
func writeWithin(t *testing.T, d time.Duration, w *Writer, m Message) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.Write(context.Background(), m) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(d):
		t.Fatalf("Write of %d bytes waited for the connection", len(m.Payload))
	}
}

// TestMidSizeMessagesAreCopiedWhole writes messages bigger than a chunk but
// within half the write buffer while the connection is stuck: each is
// queued at once, fragments and all, and they arrive intact and in lane
// order once the connection moves.
func TestMidSizeMessagesAreCopiedWhole(t *testing.T) {
	g := &gatedWriter{open: make(chan struct{})}
	w := NewWriter(g, Config{})
	defer w.Close()
	ctx := context.Background()
	if err := w.Write(ctx, Message{Kind: 17, Lane: 9, Payload: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	// The writer goroutine is now blocked writing "first".
	testutil.Eventually(t, 5*time.Second, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !w.mu.writing {
			return errors.New("first batch not being written")
		}
		return nil
	})
	msgs := []Message{
		{Kind: 20, Lane: 1, Payload: pattern(DefaultChunkSize+1000, 1)},
		{Kind: 21, Lane: 2, Payload: pattern(DefaultChunkSize-8, 2)}, // exactly one full first fragment
		{Kind: 22, Lane: 1, Flags: 0x40, Payload: pattern(2*DefaultChunkSize+5, 3)},
		{Kind: 23, Lane: 1, Payload: []byte("small after")},
	}
	for _, m := range msgs {
		writeWithin(t, 10*time.Second, w, m)
	}
	close(g.open)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Batches > 2 {
		t.Errorf("%d write calls for two batches", st.Batches)
	}
	r := NewReader(bytes.NewReader(g.bytes()), Config{})
	if m, err := r.Next(ctx); err != nil || string(m.Payload) != "first" {
		t.Fatalf("first message: %q %v", m.Payload, err)
	}
	for i, want := range msgs {
		m, err := r.Next(ctx)
		if err != nil {
			t.Fatal(i, err)
		}
		if m.Kind != want.Kind || m.Lane != want.Lane || m.Flags != want.Flags || !bytes.Equal(m.Payload, want.Payload) {
			t.Fatalf("message %d: kind %d lane %d flags %#x, %d bytes; want kind %d", i, m.Kind, m.Lane, m.Flags, len(m.Payload), want.Kind)
		}
	}
	if _, err := r.Next(ctx); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
}

// TestCopiedWholeMatchesFragmentByFragment checks that a message copied
// whole into a batch is the same bytes on the wire as one sent a fragment
// per batch (by a Writer whose buffer is too small to copy it): peers of
// either kind read both.
func TestCopiedWholeMatchesFragmentByFragment(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{DefaultChunkSize + 1, DefaultChunkSize + 8, 3*DefaultChunkSize - 17, 3 * DefaultChunkSize} {
		wire := func(cfg Config) []byte {
			g := &gatedWriter{open: make(chan struct{})}
			close(g.open)
			w := NewWriter(g, cfg)
			defer w.Close()
			if err := w.Write(ctx, Message{Kind: 30, Lane: 7, Flags: 0x10, Payload: pattern(n, 5)}); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			return g.bytes()
		}
		whole := wire(Config{})
		byFragment := wire(Config{WriteBufferSize: DefaultChunkSize})
		if len(whole) != framedSize(n, DefaultChunkSize) {
			t.Errorf("%d bytes: %d on the wire, framedSize says %d", n, len(whole), framedSize(n, DefaultChunkSize))
		}
		if !bytes.Equal(whole, byFragment) {
			t.Fatalf("%d bytes: copied whole (%d bytes) differs from fragment by fragment (%d bytes)", n, len(whole), len(byFragment))
		}
	}
}

// TestMidSizeMessageWaitsBehindBigOnItsLane queues a mid-size message on a
// lane held by a message sent fragment by fragment: it arrives after it,
// while one on another lane need not wait.
func TestMidSizeMessageWaitsBehindBigOnItsLane(t *testing.T) {
	g := &gatedWriter{open: make(chan struct{})}
	w := NewWriter(g, Config{})
	defer w.Close()
	ctx := context.Background()
	if err := w.Write(ctx, Message{Kind: 17, Lane: 9, Payload: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	big := pattern(DefaultWriteBufferSize+100, 9) // over half the buffer: fragment by fragment
	bigDone := make(chan error, 1)
	go func() { bigDone <- w.Write(ctx, Message{Kind: 20, Lane: 1, Payload: big}) }()
	testutil.Eventually(t, 5*time.Second, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.mu.active) == 0 {
			return errors.New("big message not queued")
		}
		return nil
	})
	sameLane := pattern(DefaultChunkSize+300, 4)
	otherLane := pattern(DefaultChunkSize+400, 6)
	writeWithin(t, 10*time.Second, w, Message{Kind: 21, Lane: 1, Payload: sameLane})
	writeWithin(t, 10*time.Second, w, Message{Kind: 22, Lane: 2, Payload: otherLane})
	close(g.open)
	if err := <-bigDone; err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader(g.bytes()), Config{})
	var order []Kind
	for {
		m, err := r.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, m.Kind)
		var want []byte
		switch m.Kind {
		case 20:
			want = big
		case 21:
			want = sameLane
		case 22:
			want = otherLane
		default:
			continue
		}
		if !bytes.Equal(m.Payload, want) {
			t.Fatalf("message of kind %d corrupted", m.Kind)
		}
	}
	pos := map[Kind]int{}
	for i, k := range order {
		pos[k] = i
	}
	if len(order) != 4 || pos[21] < pos[20] {
		t.Fatalf("order %v: want all four, kind 21 after kind 20", order)
	}
	if pos[22] > pos[20] {
		t.Fatalf("order %v: the other lane's message waited for the big one", order)
	}
}

// TestMidSizeMessageLostIsCounted: a message copied whole that the
// connection never took counts once in Unsent, like a small one.
func TestMidSizeMessageLostIsCounted(t *testing.T) {
	conn := &stallingConn{closed: make(chan struct{})}
	w := NewWriter(conn, Config{})
	ctx := context.Background()
	if err := w.Write(ctx, Message{Kind: 17, Lane: 9, Payload: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !w.mu.writing {
			return errors.New("first batch not being written")
		}
		return nil
	})
	writeWithin(t, 10*time.Second, w, Message{Kind: 20, Lane: 1, Payload: pattern(3*DefaultChunkSize, 1)})
	close(conn.closed)
	w.Close()
	if got := w.Stats().Unsent; got != 2 {
		t.Fatalf("Unsent %d, want 2 (the small message being written, the mid-size one queued)", got)
	}
}

// TestMixedSizesKeepLaneOrder writes messages of every size class (one
// frame, copied whole as fragments, sent fragment by fragment) from one
// goroutine per lane at once, over a small chunk and write buffer: every
// message arrives intact and each lane's in order.
func TestMixedSizesKeepLaneOrder(t *testing.T) {
	cfg := Config{ChunkSize: 64, MaxFrameSize: 64, WriteBufferSize: 512, ReadBufferSize: 128, MaxMessageSize: 4096}
	a, b := tcpPair(t)
	w := NewWriter(a, cfg)
	defer w.Close()
	const lanes, perLane = 4, 150
	sizes := []int{0, 1, 56, 57, 64, 65, 120, 200, 255, 256, 257, 300, 700, 1500}
	msg := func(lane, i int) []byte {
		n := sizes[(i*7+lane)%len(sizes)]
		p := make([]byte, n+2)
		p[0], p[1] = byte(lane), byte(i)
		for j := 2; j < len(p); j++ {
			p[j] = byte(i + j)
		}
		return p
	}
	ctx := context.Background()
	errs := make(chan error, lanes)
	for l := range lanes {
		go func() {
			for i := range perLane {
				if err := w.Write(ctx, Message{Kind: 16, Lane: uint16(l), Payload: msg(l, i)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	r := NewReader(b, cfg)
	next := make([]int, lanes)
	for range lanes * perLane {
		m, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		l := int(m.Lane)
		if want := msg(l, next[l]); !bytes.Equal(m.Payload, want) {
			t.Fatalf("lane %d message %d: got %d bytes starting %v, want %d", l, next[l], len(m.Payload), m.Payload[:min(2, len(m.Payload))], len(want))
		}
		next[l]++
	}
	for range lanes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

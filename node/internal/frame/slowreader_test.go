package frame_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/node/internal/frame"
	"github.com/grovedev/grove/transport/memnet"
)

func memPair(t *testing.T, buf int) (net.Conn, net.Conn) {
	t.Helper()
	ctx := context.Background()
	nw := memnet.New(memnet.Config{BufferSize: buf})
	t.Cleanup(func() { nw.Close() })
	ln, err := nw.Endpoint("b").Listen(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	c, err := nw.Endpoint("a").Dial(ctx, "b")
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

// slowReader reads at most rate bytes per second, steadily.
type slowReader struct {
	r     net.Conn
	rate  int
	start time.Time
	n     int
}

func (s *slowReader) SetReadDeadline(t time.Time) error { return s.r.SetReadDeadline(t) }

func (s *slowReader) Read(b []byte) (int, error) {
	if s.start.IsZero() {
		s.start = time.Now()
	}
	due := s.start.Add(time.Duration(float64(s.n) / float64(s.rate) * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		time.Sleep(d)
	}
	n, err := s.r.Read(b[:min(len(b), 8<<10)])
	s.n += n
	return n, err
}

// TestSlowSteadyReaderKeepsTheLink sends 100 large messages at once to a
// peer that reads slowly but steadily: batches stay bounded whatever the
// number of lanes, and the write timeout measures progress, so the link
// holds and every message arrives.
func TestSlowSteadyReaderKeepsTheLink(t *testing.T) {
	const (
		senders = 100
		size    = 200 << 10
		rate    = 16 << 20 // bytes per second
	)
	c, s := memPair(t, 64<<10)
	cfg := frame.Config{WriteTimeout: 300 * time.Millisecond}
	w := frame.NewWriter(c, cfg)
	defer w.Close()
	ctx := context.Background()
	// The payloads are made first: 20 MiB filled by a hundred goroutines
	// under the race detector could starve the reader past the timeout.
	payloads := make([][]byte, senders)
	for i := range payloads {
		payloads[i] = bytes.Repeat([]byte{byte(i)}, size)
	}
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- w.Write(ctx, frame.Message{Kind: 20, Lane: uint16(i), Payload: payloads[i]})
		}()
	}
	r := frame.NewReader(&slowReader{r: s, rate: rate}, frame.Config{ReadTimeout: 5 * time.Second})
	got := map[uint16]bool{}
	for len(got) < senders {
		m, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v (writer: %v)", len(got), senders, err, w.Err())
		}
		if len(m.Payload) != size || m.Payload[0] != byte(m.Lane) || m.Payload[size-1] != byte(m.Lane) {
			t.Fatalf("lane %d: corrupt message of %d bytes", m.Lane, len(m.Payload))
		}
		got[m.Lane] = true
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("writer cut the link of a steady reader: %v", err)
		}
	}
	st := w.Stats()
	if per := st.Bytes / max(st.Batches, 1); per > 1<<20 {
		t.Fatalf("batches average %d bytes with %d lanes busy", per, senders)
	}
}

// TestStalledReaderIsCut checks the other half: a peer that stops reading
// altogether still makes the Writer fail with ErrTimeout.
func TestStalledReaderIsCut(t *testing.T) {
	c, _ := memPair(t, 64<<10)
	w := frame.NewWriter(c, frame.Config{WriteTimeout: 100 * time.Millisecond})
	defer w.Close()
	err := w.Write(context.Background(), frame.Message{Kind: 20, Lane: 1, Payload: make([]byte, 4<<20)})
	if err == nil {
		t.Fatal("a 4 MiB message to a peer that never reads was written")
	}
	if w.Err() == nil {
		t.Fatal(fmt.Errorf("writer still healthy after a stalled peer: %v", err))
	}
}

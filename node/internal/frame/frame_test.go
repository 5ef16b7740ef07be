package frame

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		ch <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-ch
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestRoundTripSmall(t *testing.T) {
	a, b := tcpPair(t)
	w := NewWriter(a, Config{})
	defer w.Close()
	r := NewReader(b, Config{})
	ctx := context.Background()
	const n = 10000
	go func() {
		for i := range n {
			var p [8]byte
			binary.BigEndian.PutUint64(p[:], uint64(i))
			if err := w.Write(ctx, Message{Kind: FirstUserKind + Kind(i%3), Flags: 0x10, Lane: uint16(i % 7), Payload: p[:i%9]}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range n {
		m, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind != FirstUserKind+Kind(i%3) || m.Lane != uint16(i%7) || m.Flags != 0x10 || len(m.Payload) != i%9 {
			t.Fatalf("message %d: got %+v", i, m)
		}
	}
}

func TestWriteRejectsReservedKindsAndFlags(t *testing.T) {
	w := NewWriter(io.Discard, Config{})
	defer w.Close()
	ctx := context.Background()
	if err := w.Write(ctx, Message{Kind: KindTick}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("reserved kind: %v", err)
	}
	if err := w.Write(ctx, Message{Kind: FirstUserKind, Flags: flagMore}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("reserved flag: %v", err)
	}
}

// TestBigMessageDoesNotBlockOtherLanes queues a 64 MiB message, then small
// messages on another lane and on the same lane, and checks that the small
// ones on the other lane arrive before the big one completes, and the one on
// the same lane after it.
func TestBigMessageDoesNotBlockOtherLanes(t *testing.T) {
	a, b := tcpPair(t)
	w := NewWriter(a, Config{})
	defer w.Close()
	ctx := context.Background()
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	bigDone := make(chan error, 1)
	go func() { bigDone <- w.Write(ctx, Message{Kind: 20, Lane: 1, Payload: big}) }()
	// Wait until the big message is being sent.
	testutil.Eventually(t, 5*time.Second, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.mu.active) == 0 || w.mu.active[0].off == 0 {
			return errors.New("big message not started")
		}
		return nil
	})
	const small = 100
	for i := range small {
		if err := w.Write(ctx, Message{Kind: 17, Lane: 2, Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Write(ctx, Message{Kind: 18, Lane: 1, Payload: []byte("after")}); err != nil {
		t.Fatal(err)
	}

	r := NewReader(b, Config{})
	var order []Kind
	gotSmall := 0
	for len(order) < small+2 {
		m, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, m.Kind)
		switch m.Kind {
		case 17:
			if int(m.Payload[0]) != gotSmall {
				t.Fatalf("lane 2 out of order: got %d want %d", m.Payload[0], gotSmall)
			}
			gotSmall++
		case 20:
			if !bytes.Equal(m.Payload, big) {
				t.Fatal("big message corrupted")
			}
			if gotSmall != small {
				t.Fatalf("big message completed before the small ones on another lane (%d of %d arrived)", gotSmall, small)
			}
		case 18:
			if order[len(order)-2] != 20 {
				t.Fatalf("same-lane message overtook the big one: %v", order)
			}
		}
	}
	if err := <-bigDone; err != nil {
		t.Fatal(err)
	}
}

func TestAbortBigMessage(t *testing.T) {
	a, b := tcpPair(t)
	w := NewWriter(a, Config{})
	defer w.Close()
	big := make([]byte, 32<<20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Write(ctx, Message{Kind: 20, Lane: 1, Payload: big}) }()
	testutil.Eventually(t, 5*time.Second, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.mu.active) == 0 || w.mu.active[0].off == 0 {
			return errors.New("not started")
		}
		return nil
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("big write after cancel: %v", err)
	}
	bg := context.Background()
	if err := w.Write(bg, Message{Kind: 21, Lane: 1, Payload: []byte("next")}); err != nil {
		t.Fatal(err)
	}
	r := NewReader(b, Config{})
	m, err := r.Next(bg)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != 21 || string(m.Payload) != "next" {
		t.Fatalf("got %+v", m)
	}
	if len(r.lanes) != 0 || r.pending != 0 {
		t.Fatalf("partial message kept after abort: %d lanes, %d bytes", len(r.lanes), r.pending)
	}
}

func TestFlushAndTicks(t *testing.T) {
	a, b := tcpPair(t)
	w := NewWriter(a, Config{TickInterval: 5 * time.Millisecond})
	defer w.Close()
	ctx := context.Background()
	if err := w.Write(ctx, Message{Kind: 16, Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r := NewReader(b, Config{ReadTimeout: 500 * time.Millisecond})
	if _, err := r.Next(ctx); err != nil {
		t.Fatal(err)
	}
	// Idle for longer than the read timeout: ticks keep the reader alive.
	go func() {
		time.Sleep(700 * time.Millisecond)
		_ = w.Write(ctx, Message{Kind: 16, Payload: []byte("y")})
	}()
	m, err := r.Next(ctx)
	if err != nil {
		t.Fatalf("ticks did not keep the reader alive: %v", err)
	}
	if string(m.Payload) != "y" {
		t.Fatalf("got %q", m.Payload)
	}
}

func TestReadTimeout(t *testing.T) {
	_, b := tcpPair(t)
	r := NewReader(b, Config{ReadTimeout: 20 * time.Millisecond})
	_, err := r.Next(context.Background())
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if _, err2 := r.Next(context.Background()); !errors.Is(err2, ErrTimeout) {
		t.Fatalf("error not sticky: %v", err2)
	}
}

func TestNextContextCancel(t *testing.T) {
	_, b := tcpPair(t)
	r := NewReader(b, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestCloseUnblocksWriters(t *testing.T) {
	a, _ := tcpPair(t) // nobody reads: the socket fills up
	w := NewWriter(a, Config{WriteBufferSize: 64 << 10})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 1024)
			for {
				if err := w.Write(ctx, Message{Kind: 16, Payload: p}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	big := make(chan error, 1)
	go func() { big <- w.Write(ctx, Message{Kind: 16, Lane: 9, Payload: make([]byte, 1<<20)}) }()
	time.Sleep(50 * time.Millisecond)
	w.Close()
	w.Close()
	wg.Wait()
	for range 4 {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("writer got %v", err)
		}
	}
	if err := <-big; err != nil && !errors.Is(err, ErrClosed) {
		t.Fatalf("big writer got %v", err)
	}
	if err := w.Write(ctx, Message{Kind: 16}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestWriteErrorIsSticky(t *testing.T) {
	a, b := tcpPair(t)
	b.Close()
	a.Close()
	w := NewWriter(a, Config{})
	defer w.Close()
	ctx := context.Background()
	_ = w.Write(ctx, Message{Kind: 16, Payload: []byte("x")})
	if err := w.Flush(ctx); err == nil {
		t.Fatal("flush on a closed connection succeeded")
	}
	if err := w.Write(ctx, Message{Kind: 16}); err == nil {
		t.Fatal("write after failure succeeded")
	}
}

func frameBytes(kind Kind, flags Flags, lane uint16, payload []byte) []byte {
	b := appendHeader(nil, len(payload), kind, flags, lane)
	return append(b, payload...)
}

func first(total uint64, data []byte) []byte {
	return append(binary.BigEndian.AppendUint64(nil, total), data...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestMalformedInput(t *testing.T) {
	small := Config{MaxFrameSize: 64, ChunkSize: 64, MaxMessageSize: 256, MaxReassembly: 300, ReadBufferSize: 128}
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"reserved kind 0", frameBytes(0, 0, 0, nil), ErrMalformed},
		{"reserved kind 5", frameBytes(5, 0, 0, nil), ErrMalformed},
		{"reserved flag", frameBytes(16, 0x04, 0, nil), ErrMalformed},
		{"tick with payload", frameBytes(KindTick, 0, 0, []byte{1}), ErrMalformed},
		{"frame too large", appendHeader(nil, 65, 16, 0, 0), ErrTooLarge},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 16, 0, 0, 0}, ErrTooLarge},
		{"truncated header", []byte{0, 0, 0}, io.ErrUnexpectedEOF},
		{"truncated payload", appendHeader(nil, 10, 16, 0, 0), io.ErrUnexpectedEOF},
		{"abort without message", frameBytes(16, flagAbort, 0, nil), ErrMalformed},
		{"first fragment without total", frameBytes(16, flagMore, 0, []byte{1, 2}), ErrMalformed},
		{"message over limit", frameBytes(16, flagMore, 0, first(257, nil)), ErrTooLarge},
		{"fragmented but tiny", frameBytes(16, flagMore, 0, first(3, []byte{1, 2, 3})), ErrMalformed},
		{"reassembly budget", cat(
			frameBytes(16, flagMore, 1, first(200, make([]byte, 50))),
			frameBytes(16, flagMore, 2, first(200, make([]byte, 50)))), ErrTooLarge},
		{"fragment overflows total", cat(
			frameBytes(16, flagMore, 1, first(20, make([]byte, 10))),
			frameBytes(16, 0, 1, make([]byte, 11))), ErrMalformed},
		{"last fragment short", cat(
			frameBytes(16, flagMore, 1, first(20, make([]byte, 10))),
			frameBytes(16, 0, 1, make([]byte, 5))), ErrMalformed},
		{"more flag on full message", cat(
			frameBytes(16, flagMore, 1, first(20, make([]byte, 10))),
			frameBytes(16, flagMore, 1, make([]byte, 10))), ErrMalformed},
		{"fragment kind differs", cat(
			frameBytes(16, flagMore, 1, first(20, make([]byte, 10))),
			frameBytes(17, 0, 1, make([]byte, 10))), ErrMalformed},
		{"eof inside message", frameBytes(16, flagMore, 1, first(20, make([]byte, 10))), io.ErrUnexpectedEOF},
		{"clean eof", nil, io.EOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.in), small)
			var err error
			for err == nil {
				_, err = r.Next(context.Background())
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFragmentsReassemble(t *testing.T) {
	cfg := Config{MaxFrameSize: 64, ChunkSize: 64, MaxMessageSize: 1024, ReadBufferSize: 128, WriteBufferSize: 256}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var mu sync.Mutex
	w := NewWriter(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), cfg)
	ctx := context.Background()
	msgs := [][]byte{make([]byte, 1000), []byte("a"), make([]byte, 65), make([]byte, 64)}
	for i := range msgs[0] {
		msgs[0][i] = byte(i)
	}
	for i, m := range msgs {
		if err := w.Write(ctx, Message{Kind: 16, Lane: 3, Flags: 0x30, Payload: m}); err != nil {
			t.Fatal(i, err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r := NewReader(bytes.NewReader(buf.Bytes()), cfg)
	for i, want := range msgs {
		m, err := r.Next(ctx)
		if err != nil {
			t.Fatal(i, err)
		}
		if !bytes.Equal(m.Payload, want) || m.Flags != 0x30 || m.Lane != 3 {
			t.Fatalf("message %d differs: len %d flags %#x", i, len(m.Payload), m.Flags)
		}
	}
	if _, err := r.Next(ctx); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Config{
		{ChunkSize: 1 << 20, MaxFrameSize: 1 << 10},
		{ReadBufferSize: 100},
		{TickInterval: -1},
		{MaxMessageSize: 100},
	}
	for _, c := range bad {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func FuzzFrameReader(f *testing.F) {
	f.Add(frameBytes(16, 0, 1, []byte("hello")))
	f.Add(frameBytes(KindTick, 0, 0, nil))
	f.Add(cat(frameBytes(16, flagMore, 1, first(20, make([]byte, 10))), frameBytes(16, 0, 1, make([]byte, 10))))
	f.Add(cat(frameBytes(16, flagMore, 1, first(20, make([]byte, 10))), frameBytes(16, flagAbort, 1, nil), frameBytes(17, 0x10, 1, []byte{1})))
	cfg := Config{MaxFrameSize: 64, ChunkSize: 64, MaxMessageSize: 512, MaxReassembly: 1024, ReadBufferSize: 100}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), cfg)
		for range len(in) + 1 {
			m, err := r.Next(context.Background())
			if err != nil {
				if errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) || err == io.EOF || err == io.ErrUnexpectedEOF {
					return
				}
				t.Fatalf("unexpected error type: %v", err)
			}
			if m.Kind < FirstUserKind || m.Flags&FlagsReserved != 0 || len(m.Payload) > cfg.MaxMessageSize {
				t.Fatalf("invalid message delivered: %+v", m)
			}
			if r.pending > cfg.MaxReassembly {
				t.Fatalf("reassembly %d over limit", r.pending)
			}
		}
		t.Fatal("reader did not terminate")
	})
}

func TestWriteNowInterleavesWithWrite(t *testing.T) {
	a, b := tcpPair(t)
	w := NewWriter(a, Config{TickInterval: time.Millisecond})
	defer w.Close()
	ctx := context.Background()
	const per = 2000
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				m := Message{Kind: 16, Lane: uint16(g), Payload: binary.BigEndian.AppendUint32(nil, uint32(i))}
				var err error
				if (i+g)%2 == 0 {
					err = w.WriteNow(ctx, m)
				} else {
					err = w.Write(ctx, m)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	r := NewReader(b, Config{})
	next := make([]uint32, 4)
	for range 4 * per {
		m, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := binary.BigEndian.Uint32(m.Payload); got != next[m.Lane] {
			t.Fatalf("lane %d: got %d want %d", m.Lane, got, next[m.Lane])
		}
		next[m.Lane]++
	}
	wg.Wait()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWritesCoalesce checks that under load one write call carries many
// frames.
func TestWritesCoalesce(t *testing.T) {
	a, b := tcpPair(t)
	w := NewWriter(a, Config{})
	defer w.Close()
	ctx := context.Background()
	const n = 100000
	go func() {
		r := NewReader(b, Config{})
		for range n {
			if _, err := r.Next(ctx); err != nil {
				return
			}
		}
	}()
	p := make([]byte, 16)
	for range n {
		if err := w.Write(ctx, Message{Kind: 16, Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Messages != n || st.Bytes != n*(HeaderSize+16) {
		t.Fatalf("stats %+v", st)
	}
	if st.Batches > n/10 {
		t.Fatalf("%d write calls for %d messages: not coalescing", st.Batches, n)
	}
	t.Logf("%d messages in %d write calls", st.Messages, st.Batches)
}

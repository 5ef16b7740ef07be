package frame

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// nextUntilEOF reads messages until an error and returns it.
func nextUntilEOF(r *Reader) error {
	for {
		if _, err := r.Next(context.Background()); err != nil {
			return err
		}
	}
}

// TestFirstFragmentsReserveWhatArrived sends first fragments of 16 bytes
// that announce 128 MiB messages: the Reader holds memory for what
// arrived, not for what was announced.
func TestFirstFragmentsReserveWhatArrived(t *testing.T) {
	var in []byte
	for lane := range uint16(2) {
		in = append(in, frameBytes(16, flagMore, lane, first(128<<20, make([]byte, 8)))...)
	}
	// Count directly with a Budget shared by the Reader.
	b := NewBudget(1 << 30)
	var peak int
	r := NewReader(&peekReader{r: bytes.NewReader(in), onEOF: func() { peak = b.Used() }}, Config{Budget: b})
	if err := nextUntilEOF(r); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want the stream's end inside a message", err)
	}
	if peak > 2*(64<<10) {
		t.Fatalf("two 16-byte first fragments reserved %d bytes", peak)
	}
	if b.Used() != 0 {
		t.Fatalf("budget holds %d bytes after the Reader failed", b.Used())
	}
}

// peekReader calls onEOF when its source is exhausted, before reporting it.
type peekReader struct {
	r     io.Reader
	onEOF func()
}

func (p *peekReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err == io.EOF && p.onEOF != nil {
		p.onEOF()
		p.onEOF = nil
	}
	return n, err
}

// TestBudgetIsSharedAcrossReaders fills a shared budget from two Readers:
// the one that would pass it fails, and a Reader's failure gives back
// what it held.
func TestBudgetIsSharedAcrossReaders(t *testing.T) {
	b := NewBudget(100 << 10)
	msg := func(lane uint16) []byte {
		// 64 KiB of a 1 MiB message arrives.
		return cat(frameBytes(16, flagMore, lane, first(1<<20, make([]byte, 32<<10))),
			frameBytes(16, flagMore, lane, make([]byte, 32<<10)))
	}
	var held int
	r1 := NewReader(&peekReader{r: bytes.NewReader(msg(1)), onEOF: func() { held = b.Used() }}, Config{Budget: b})
	if err := nextUntilEOF(r1); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("first reader: %v", err)
	}
	if held == 0 || held > 100<<10 {
		t.Fatalf("first reader held %d bytes", held)
	}
	if b.Used() != 0 {
		t.Fatalf("budget holds %d after the first reader ended", b.Used())
	}
	// Two Readers at once: the second cannot take its share.
	b.take(60 << 10) // another link's partial messages
	r2 := NewReader(bytes.NewReader(msg(2)), Config{Budget: b})
	if err := nextUntilEOF(r2); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("reader past the shared budget: %v", err)
	}
	if b.Used() != 60<<10 {
		t.Fatalf("budget holds %d, want the other link's %d", b.Used(), 60<<10)
	}
}

// TestOwnedPayloadsSurviveLaterReads reads a large frame and keeps its
// payload while reading more: it is in a buffer of its own.
func TestOwnedPayloadsSurviveLaterReads(t *testing.T) {
	big := bytes.Repeat([]byte{7}, ownedFrame+100)
	in := cat(frameBytes(16, 0, 1, big), frameBytes(16, 0, 1, bytes.Repeat([]byte{9}, 200)), frameBytes(16, 0, 1, bytes.Repeat([]byte{8}, ownedFrame)))
	r := NewReader(bytes.NewReader(in), Config{})
	m, err := r.Next(context.Background())
	if err != nil || !m.Owned || !bytes.Equal(m.Payload, big) {
		t.Fatalf("first: owned=%v %v", m.Owned, err)
	}
	small, err := r.Next(context.Background())
	if err != nil || small.Owned || len(small.Payload) != 200 {
		t.Fatalf("small frame: owned=%v %v", small.Owned, err)
	}
	if _, err := r.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Payload, big) {
		t.Fatal("an owned payload was overwritten by later reads")
	}
}

// TestLargeFirstFragmentReservesTheMessage sends the first fragment of a
// message a little over a chunk, as a 64 KiB payload with its header is:
// the Reader reserves the whole message at once (it is under twice what
// arrived), so the last fragment needs no second buffer and no copy.
func TestLargeFirstFragmentReservesTheMessage(t *testing.T) {
	const total = DefaultChunkSize + 20
	in := frameBytes(16, flagMore, 1, first(total, make([]byte, DefaultChunkSize-8)))
	b := NewBudget(1 << 30)
	var held int
	r := NewReader(&peekReader{r: bytes.NewReader(in), onEOF: func() { held = b.Used() }}, Config{Budget: b})
	if err := nextUntilEOF(r); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want the stream's end inside a message", err)
	}
	if held != total {
		t.Fatalf("first fragment of %d bytes of a %d-byte message reserved %d bytes", DefaultChunkSize-8, total, held)
	}
}

// TestOwnedPayloadReadInPieces reads large frames that arrive a few bytes
// at a time: the part buffered with the header and the part read straight
// into the payload's own buffer join up, and the payload survives later
// reads.
func TestOwnedPayloadReadInPieces(t *testing.T) {
	a := make([]byte, ownedFrame+333)
	for i := range a {
		a[i] = byte(i * 13)
	}
	b := bytes.Repeat([]byte{5}, ownedFrame)
	in := cat(frameBytes(16, 0, 1, a), frameBytes(17, 0, 2, b), frameBytes(18, 0, 1, []byte("end")))
	r := NewReader(iotest.HalfReader(&chunkReader{b: in, n: 1000}), Config{})
	ctx := context.Background()
	m1, err := r.Next(ctx)
	if err != nil || !m1.Owned || !bytes.Equal(m1.Payload, a) {
		t.Fatalf("first: owned=%v equal=%v %v", m1.Owned, bytes.Equal(m1.Payload, a), err)
	}
	m2, err := r.Next(ctx)
	if err != nil || !m2.Owned || !bytes.Equal(m2.Payload, b) {
		t.Fatalf("second: owned=%v %v", m2.Owned, err)
	}
	if m3, err := r.Next(ctx); err != nil || string(m3.Payload) != "end" {
		t.Fatalf("third: %q %v", m3.Payload, err)
	}
	if !bytes.Equal(m1.Payload, a) || !bytes.Equal(m2.Payload, b) {
		t.Fatal("an owned payload was overwritten by later reads")
	}
}

// chunkReader returns at most n bytes a call.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}

package frame

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
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

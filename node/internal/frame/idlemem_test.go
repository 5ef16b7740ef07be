package frame

import (
	"context"
	"io"
	"runtime"
	"testing"
)

// TestIdleWriterIsSmall: a Writer allocates its batch buffers as its
// batches need them, so a link that carries little holds a few KiB, not
// two buffers of WriteBufferSize; a batch that needs more still fits.
func TestIdleWriterIsSmall(t *testing.T) {
	const n = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ws := make([]*Writer, n)
	for i := range ws {
		ws[i] = NewWriter(io.Discard, Config{})
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / n
	if per > 64<<10 {
		t.Errorf("a new Writer allocated %d KiB; its buffers should start small", per>>10)
	}
	// A batch larger than the first buffer still goes out whole.
	w := ws[0]
	for range 64 {
		if err := w.Write(context.Background(), Message{Lane: 1, Kind: FirstUserKind, Payload: make([]byte, 8<<10)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range ws {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d bytes per new Writer", per)
}

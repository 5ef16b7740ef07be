package pubsub

import (
	"testing"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/proc"
)

// Frames from other nodes are checked field by field: garbage is refused
// with ErrMalformed, never a panic, and what decodes encodes back the same.
func FuzzDecodeFrame(f *testing.F) {
	reg, _ := codec.NewRegistry(codec.Config{})
	for _, h := range []frameHeader{
		{origin: "a@h", epoch: 7, topic: "t"},
		{origin: "a@h", epoch: 1, seq: 42, from: proc.PID{Node: "a@h", Creation: 1, ID: 9}, topic: "room:1", dispatcher: "d"},
	} {
		fr, err := encodeFrame(reg, h, "payload")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(fr.b)
	}
	f.Add([]byte{1, 0})
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, err := decodeFrame(b)
		if err != nil {
			return
		}
		fr := frame{b: append(encodeHeader(h), payload...)}
		h2, p2, err := decodeFrame(fr.b)
		if err != nil || h2 != h || string(p2) != string(payload) {
			t.Fatalf("re-decoding %x: %+v %v, want %+v", fr.b, h2, err, h)
		}
	})
}

// encodeHeader is encodeFrame without a payload.
func encodeHeader(h frameHeader) []byte {
	reg, _ := codec.NewRegistry(codec.Config{})
	fr, _ := encodeFrame(reg, h, nil)
	return fr.b[:len(fr.b)-1] // nil encodes as one byte
}

package codec_test

import (
	"testing"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/proc"
)

type small struct {
	_    struct{} `cbor:",toarray"`
	From proc.PID
	Seq  uint64
	Body string
}

func benchRegistry(b *testing.B) *codec.Registry {
	r, err := codec.NewRegistry(codec.Config{})
	if err != nil {
		b.Fatal(err)
	}
	codec.MustRegister[small](r, "bench.small")
	codec.MustRegister[Point](r, "bench.Point")
	return r
}

var benchValues = []struct {
	name string
	v    any
}{
	{"string", "hello, world"},
	{"PID", proc.PID{Node: "node1@host", Creation: 1700000000, ID: 42}},
	{"cbor-struct", small{From: proc.PID{Node: "node1@host", Creation: 1700000000, ID: 42}, Seq: 7, Body: "hello"}},
	{"binary-struct", Point{X: 1, Y: 2}},
	{"error", proc.ErrNoProc},
}

func BenchmarkEncode(b *testing.B) {
	r := benchRegistry(b)
	for _, bv := range benchValues {
		b.Run(bv.name, func(b *testing.B) {
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			for range b.N {
				var err error
				if buf, err = r.AppendEncode(buf[:0], bv.v); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	r := benchRegistry(b)
	for _, bv := range benchValues {
		b.Run(bv.name, func(b *testing.B) {
			buf, err := r.Encode(bv.v)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for range b.N {
				if _, err := r.Decode(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

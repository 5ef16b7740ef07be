package frame

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/proc"
)

var benchSizes = []int{16, 1024, 64 << 10}

// BenchmarkFrameTCP streams messages one way over loopback TCP through a
// Writer and a Reader.
func BenchmarkFrameTCP(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			a, c := tcpPair(b)
			w := NewWriter(a, Config{})
			defer w.Close()
			r := NewReader(c, Config{})
			ctx := context.Background()
			payload := make([]byte, size)
			done := make(chan error, 1)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				for range b.N {
					if _, err := r.Next(ctx); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			for range b.N {
				if err := w.Write(ctx, Message{Kind: 16, Payload: payload}); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}

// BenchmarkRawTCP is the baseline: a 4-byte length prefix and the payload
// through bufio over loopback TCP, one writer goroutine, no framing layer.
func BenchmarkRawTCP(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			a, c := tcpPair(b)
			bw := bufio.NewWriterSize(a, 256<<10)
			br := bufio.NewReaderSize(c, 256<<10)
			payload := make([]byte, size)
			done := make(chan error, 1)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				buf := make([]byte, 64<<10)
				var hdr [4]byte
				for range b.N {
					if _, err := io.ReadFull(br, hdr[:]); err != nil {
						done <- err
						return
					}
					n := binary.BigEndian.Uint32(hdr[:])
					if _, err := io.ReadFull(br, buf[:n]); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			var hdr [4]byte
			binary.BigEndian.PutUint32(hdr[:], uint32(size))
			for range b.N {
				if _, err := bw.Write(hdr[:]); err != nil {
					b.Fatal(err)
				}
				if _, err := bw.Write(payload); err != nil {
					b.Fatal(err)
				}
			}
			if err := bw.Flush(); err != nil {
				b.Fatal(err)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}

// BenchmarkFrameTCPParallel streams 16-byte messages from several
// goroutines sharing one Writer, as processes of a node share a link.
func BenchmarkFrameTCPParallel(b *testing.B) {
	a, c := tcpPair(b)
	w := NewWriter(a, Config{})
	defer w.Close()
	r := NewReader(c, Config{})
	ctx := context.Background()
	var sent atomic.Int64
	done := make(chan error, 1)
	go func() {
		for {
			m, err := r.Next(ctx)
			if err != nil {
				done <- err
				return
			}
			if m.Kind == 17 {
				done <- nil
				return
			}
		}
	}()
	b.SetBytes(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		payload := make([]byte, 16)
		var lane uint16
		for pb.Next() {
			lane++
			if err := w.Write(ctx, Message{Kind: 16, Lane: lane, Payload: payload}); err != nil {
				b.Error(err)
				return
			}
			sent.Add(1)
		}
	})
	if err := w.Write(ctx, Message{Kind: 17}); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(sent.Load())/b.Elapsed().Seconds(), "msg/s")
}

type benchMsg struct {
	_    struct{} `cbor:",toarray"`
	From proc.PID
	Seq  uint64
}

// benchBin marshals itself, taking the codec's fast path.
type benchBin struct{ A, B uint64 }

func (m benchBin) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint64(b, m.A)
	return binary.BigEndian.AppendUint64(b, m.B), nil
}

func (m *benchBin) UnmarshalBinary(b []byte) error {
	if len(b) != 16 {
		return io.ErrUnexpectedEOF
	}
	m.A, m.B = binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
	return nil
}

// BenchmarkPipelineTCP measures encode, frame, loopback TCP, read and
// decode of a small message: the data path of a remote send without the
// process runtime.
func BenchmarkPipelineTCP(b *testing.B) {
	reg, err := codec.NewRegistry(codec.Config{})
	if err != nil {
		b.Fatal(err)
	}
	codec.MustRegister[benchMsg](reg, "bench.msg")
	codec.MustRegister[benchBin](reg, "bench.bin")
	msgs := []struct {
		name string
		v    any
	}{
		{"cbor", benchMsg{From: proc.PID{Node: "a@host", Creation: 1, ID: 42}, Seq: 1}},
		{"binary", benchBin{A: 1, B: 2}},
		{"string", "hello"},
	}
	for _, m := range msgs {
		b.Run(m.name, func(b *testing.B) {
			a, c := tcpPair(b)
			w := NewWriter(a, Config{})
			defer w.Close()
			r := NewReader(c, Config{})
			ctx := context.Background()
			done := make(chan error, 1)
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				for range b.N {
					fm, err := r.Next(ctx)
					if err == nil {
						_, err = reg.Decode(fm.Payload)
					}
					if err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			buf := make([]byte, 0, 128)
			for range b.N {
				buf, err = reg.AppendEncode(buf[:0], m.v)
				if err != nil {
					b.Fatal(err)
				}
				if err := w.Write(ctx, Message{Kind: 16, Payload: buf}); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}

// BenchmarkPingPongTCP measures the round trip of a small message over
// loopback TCP through Writers and Readers on both sides, with Write (the
// Writer's goroutine writes) and WriteNow (the caller writes when idle).
func BenchmarkPingPongTCP(b *testing.B) {
	b.Run("Write", func(b *testing.B) { benchPingPong(b, (*Writer).Write) })
	b.Run("WriteNow", func(b *testing.B) { benchPingPong(b, (*Writer).WriteNow) })
}

func benchPingPong(b *testing.B, write func(*Writer, context.Context, Message) error) {
	a, c := tcpPair(b)
	wa, wc := NewWriter(a, Config{}), NewWriter(c, Config{})
	defer wa.Close()
	defer wc.Close()
	ra, rc := NewReader(a, Config{}), NewReader(c, Config{})
	ctx := context.Background()
	payload := make([]byte, 16)
	done := make(chan error, 1)
	go func() {
		for {
			m, err := rc.Next(ctx)
			if err != nil {
				done <- err
				return
			}
			if m.Kind == 17 {
				done <- nil
				return
			}
			if err := write(wc, ctx, Message{Kind: 16, Payload: m.Payload}); err != nil {
				done <- err
				return
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := write(wa, ctx, Message{Kind: 16, Payload: payload}); err != nil {
			b.Fatal(err)
		}
		if _, err := ra.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := wa.Write(ctx, Message{Kind: 17}); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRawPingPongTCP is the baseline round trip: direct writes and
// reads of length-prefixed messages on the sockets.
func BenchmarkRawPingPongTCP(b *testing.B) {
	a, c := tcpPair(b)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 20)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				done <- nil
				return
			}
			if _, err := c.Write(buf); err != nil {
				done <- err
				return
			}
		}
	}()
	buf := make([]byte, 20)
	b.ResetTimer()
	for range b.N {
		if _, err := a.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(a, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	a.Close()
	<-done
}

// BenchmarkReadLarge measures the Reader alone on frames of a 64 KiB
// payload and a little more, as the node sends 64 KiB messages, read from
// memory: the cost of taking each payload into a buffer of its own.
func BenchmarkReadLarge(b *testing.B) {
	const frames = 32
	one := appendHeader(nil, 64<<10+16, 16, 0, 1)
	one = append(one, make([]byte, 64<<10+16)...)
	in := bytes.Repeat(one, frames)
	cfg := Config{ChunkSize: 64<<10 + 512, MaxFrameSize: 64<<10 + 512}
	src := bytes.NewReader(in)
	b.SetBytes(64 << 10)
	b.ReportAllocs()
	ctx := context.Background()
	for i := 0; i < b.N; i += frames {
		src.Reset(in)
		r := NewReader(src, cfg)
		for range frames {
			if _, err := r.Next(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}

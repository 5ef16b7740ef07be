package frame

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"strconv"
	"testing"
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

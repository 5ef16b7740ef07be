package frame

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/grovedev/grove/codec"
)

const (
	envBenchAddr   = "GROVE_FRAME_BENCH_ADDR"
	envBenchDecode = "GROVE_FRAME_BENCH_DECODE"
)

// TestBenchReceiver is the receiving process of BenchmarkStreamProcess; it
// does nothing unless started by the benchmark.
func TestBenchReceiver(t *testing.T) {
	addr := os.Getenv(envBenchAddr)
	if addr == "" {
		t.Skip("helper process for BenchmarkStreamProcess")
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var reg *codec.Registry
	if os.Getenv(envBenchDecode) != "" {
		reg, err = codec.NewRegistry(codec.Config{})
		if err != nil {
			t.Fatal(err)
		}
		codec.MustRegister[benchBin](reg, "bench.bin")
	}
	r := NewReader(conn, Config{})
	ctx := context.Background()
	for {
		m, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind == 17 {
			break
		}
		if reg != nil {
			if _, err := reg.Decode(m.Payload); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := conn.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkStreamProcess streams messages one way over loopback TCP to a
// separate OS process (this test binary, re-executed), the shape of the
// remote stream benchmark: frames of 16 B, 1 KiB and 64 KiB, and codec
// encoded small messages decoded on the other side.
func BenchmarkStreamProcess(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			payload := make([]byte, size)
			streamToProcess(b, false, int64(size), func(w *Writer, ctx context.Context) error {
				return w.Write(ctx, Message{Kind: 16, Payload: payload})
			})
		})
	}
	b.Run("codec-binary", func(b *testing.B) {
		reg, err := codec.NewRegistry(codec.Config{})
		if err != nil {
			b.Fatal(err)
		}
		codec.MustRegister[benchBin](reg, "bench.bin")
		buf := make([]byte, 0, 64)
		v := any(benchBin{A: 1, B: 2})
		streamToProcess(b, true, 0, func(w *Writer, ctx context.Context) error {
			var err error
			if buf, err = reg.AppendEncode(buf[:0], v); err != nil {
				return err
			}
			return w.Write(ctx, Message{Kind: 16, Payload: buf})
		})
	})
}

func streamToProcess(b *testing.B, decode bool, bytes int64, send func(*Writer, context.Context) error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchReceiver$", "-test.count=1")
	cmd.Env = append(os.Environ(), envBenchAddr+"="+ln.Addr().String())
	if decode {
		cmd.Env = append(cmd.Env, envBenchDecode+"=1")
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	conn, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	w := NewWriter(conn, Config{})
	defer w.Close()
	ctx := context.Background()
	if bytes > 0 {
		b.SetBytes(bytes)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := send(w, ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Write(ctx, Message{Kind: 17}); err != nil {
		b.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	ack := make([]byte, 1)
	if _, err := conn.Read(ack); err != nil {
		b.Fatal("receiver did not acknowledge: ", err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

package memnet_test

import (
	"context"
	"io"
	"strconv"
	"testing"

	"github.com/grovedev/grove/transport/memnet"
)

// BenchmarkStream writes a one-way byte stream through an in-memory
// connection in chunks of the given size.
func BenchmarkStream(b *testing.B) {
	for _, size := range []int{64, 1024, 64 << 10} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			nw := memnet.New(memnet.Config{})
			defer nw.Close()
			ctx := context.Background()
			ln, err := nw.Endpoint("b").Listen(ctx, "b")
			if err != nil {
				b.Fatal(err)
			}
			c, err := nw.Endpoint("a").Dial(ctx, "b")
			if err != nil {
				b.Fatal(err)
			}
			s, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan int64, 1)
			go func() {
				n, _ := io.Copy(io.Discard, s)
				done <- n
			}()
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			if n := <-done; n != int64(size)*int64(b.N) {
				b.Fatalf("read %d bytes", n)
			}
		})
	}
}

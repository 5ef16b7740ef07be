package node

import (
	"context"
	"testing"

	"github.com/grovedev/grove/proc"
)

// BenchmarkCallTCP measures a call round trip between two nodes over
// loopback TCP in one process.
func BenchmarkCallTCP(b *testing.B) {
	bn := benchPair(b)
	srv, _ := bn[1].rt.Spawn(echo{})
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := bn[0].rt.Call(ctx, srv, i); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendTCP measures a one-way stream of small messages.
func BenchmarkSendTCP(b *testing.B) {
	bn := benchPair(b)
	done := make(chan struct{})
	n := b.N
	sink, _ := bn[1].rt.Spawn(newCounter(n, done))
	src, _ := bn[0].rt.Spawn(newStreamer(sink, n))
	b.ResetTimer()
	bn[0].rt.Send(src, "go")
	<-done
}

// BenchmarkSend1KTCP measures a one-way stream of 1 KiB messages.
func BenchmarkSend1KTCP(b *testing.B) {
	bn := benchPair(b)
	done := make(chan struct{})
	sink, _ := bn[1].rt.Spawn(newCounter(b.N, done))
	payload := make([]byte, 1024)
	src, _ := bn[0].rt.Spawn(proc.HandlerFunc(func(p *proc.Process, _ any) {
		for range b.N {
			if err := p.Send(sink, payload); err != nil {
				panic(err)
			}
		}
	}))
	b.SetBytes(1024)
	b.ResetTimer()
	bn[0].rt.Send(src, "go")
	<-done
}

// BenchmarkSend64KTCP measures a one-way stream of 64 KiB messages.
func BenchmarkSend64KTCP(b *testing.B) {
	bn := benchPair(b)
	done := make(chan struct{})
	sink, _ := bn[1].rt.Spawn(newCounter(b.N, done))
	payload := make([]byte, 64<<10)
	src, _ := bn[0].rt.Spawn(proc.HandlerFunc(func(p *proc.Process, _ any) {
		for range b.N {
			if err := p.Send(sink, payload); err != nil {
				panic(err)
			}
		}
	}))
	b.SetBytes(64 << 10)
	b.ResetTimer()
	bn[0].rt.Send(src, "go")
	<-done
}

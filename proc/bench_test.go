package proc

import (
	"context"
	"sync"
	"testing"
)

type ball struct{ n int }

func BenchmarkPingPong(b *testing.B) {
	rt, _ := New(Config{})
	defer rt.Close(context.Background())
	done := make(chan struct{})
	var peer PID
	var a PID
	bp, _ := rt.Spawn(HandlerFunc(func(p *Process, msg any) {
		p.Send(a, msg)
	}))
	peer = bp
	n := b.N
	a, _ = rt.Spawn(HandlerFunc(func(p *Process, msg any) {
		m := msg.(*ball)
		if m.n >= n {
			close(done)
			return
		}
		m.n++
		p.Send(peer, m)
	}))
	b.ResetTimer()
	rt.Send(a, &ball{})
	<-done
}

func BenchmarkChanPingPong(b *testing.B) {
	x, y := make(chan int), make(chan int)
	go func() {
		for v := range x {
			y <- v
		}
	}()
	for i := 0; i < b.N; i++ {
		x <- i
		<-y
	}
	close(x)
}

func BenchmarkStream1to1(b *testing.B) {
	rt, _ := New(Config{})
	defer rt.Close(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	n := b.N
	cnt := 0
	sink, _ := rt.Spawn(HandlerFunc(func(p *Process, msg any) {
		cnt++
		if cnt == n {
			wg.Done()
		}
	}))
	b.ResetTimer()
	src, _ := rt.Spawn(HandlerFunc(func(p *Process, msg any) {
		for i := 0; i < n; i++ {
			p.Send(sink, i)
		}
	}))
	rt.Send(src, 0)
	wg.Wait()
}

func BenchmarkCall(b *testing.B) {
	rt, _ := New(Config{})
	defer rt.Close(context.Background())
	srv, _ := rt.Spawn(&echo{})
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rt.Call(ctx, srv, i)
	}
}

type echo struct{ Base }

func (echo) HandleCall(_ *Process, _ From, req any) (any, error) { return req, nil }

func BenchmarkSpawn(b *testing.B) {
	rt, _ := New(Config{})
	defer rt.Close(context.Background())
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		rt.Spawn(&echo{})
	}
}

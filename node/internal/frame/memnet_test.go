package frame_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/grovedev/grove/node/internal/frame"
	"github.com/grovedev/grove/transport/memnet"
)

// TestOverMemnet runs the framing over the in-memory network with a small
// pipe buffer, so the Writer blocks and resumes many times.
func TestOverMemnet(t *testing.T) {
	ctx := context.Background()
	nw := memnet.New(memnet.Config{BufferSize: 8 << 10})
	defer nw.Close()
	ln, err := nw.Endpoint("b").Listen(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	c, err := nw.Endpoint("a").Dial(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	w := frame.NewWriter(c, frame.Config{})
	defer w.Close()
	big := bytes.Repeat([]byte("0123456789"), 50_000)
	errs := make(chan error, 2)
	go func() { errs <- w.Write(ctx, frame.Message{Kind: 30, Lane: 1, Payload: big}) }()
	go func() {
		for i := range 1000 {
			if err := w.Write(ctx, frame.Message{Kind: 31, Lane: 2, Payload: []byte{byte(i)}}); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	r := frame.NewReader(s, frame.Config{})
	small := 0
	for got := 0; got < 1001; got++ {
		m, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch m.Kind {
		case 30:
			if !bytes.Equal(m.Payload, big) {
				t.Fatal("big payload corrupted")
			}
		case 31:
			if m.Payload[0] != byte(small) {
				t.Fatalf("small message %d out of order", small)
			}
			small++
		}
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

package handshake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/node/internal/frame"
	"github.com/grovedev/grove/proc"
)

// TestLinkEndToEnd connects two nodes over each network, authenticates
// with mTLS, and exchanges codec messages in frames both ways: the data
// path a remote send will take.
func TestLinkEndToEnd(t *testing.T) {
	p := newPKI(t)
	for _, nw := range networks {
		t.Run(nw.name, func(t *testing.T) {
			cc := tlsCfg(t, "a@h1", "a@h1", p.ca, p.ca)
			sc := tlsCfg(t, "b@h2", "b@h2", p.ca, p.ca)
			c, s := shake(t, nw, cc, sc, "b@h2")
			wantOK(t, c, s)

			reg, err := codec.NewRegistry(codec.Config{})
			if err != nil {
				t.Fatal(err)
			}
			fcfg := frame.Config{TickInterval: 10 * time.Millisecond, ReadTimeout: 2 * time.Second}
			wa := frame.NewWriter(c.peer.Conn, fcfg)
			defer wa.Close()
			wb := frame.NewWriter(s.peer.Conn, fcfg)
			defer wb.Close()
			ra := frame.NewReader(c.peer.Conn, fcfg)
			rb := frame.NewReader(s.peer.Conn, fcfg)
			ctx := context.Background()

			from := proc.PID{Node: "a@h1", Creation: 9, ID: 1}
			big := make([]byte, 300<<10)
			sent := []any{from, "hello", big, &proc.ExitError{PID: from, Reason: proc.ErrKilled}}
			for i, v := range sent {
				b, err := reg.Encode(v)
				if err != nil {
					t.Fatal(err)
				}
				if err := wa.Write(ctx, frame.Message{Kind: 16, Lane: uint16(i), Payload: b}); err != nil {
					t.Fatal(err)
				}
			}
			got := map[uint16]any{}
			for range sent {
				m, err := rb.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				v, err := reg.Decode(m.Payload)
				if err != nil {
					t.Fatal(err)
				}
				got[m.Lane] = v
			}
			if got[0] != from || got[1] != "hello" || len(got[2].([]byte)) != len(big) {
				t.Fatalf("received %v", got)
			}
			if !errors.Is(got[3].(error), proc.ErrKilled) {
				t.Fatalf("exit reason lost: %v", got[3])
			}

			// The answer, written by a caller about to wait.
			b, _ := reg.Encode(proc.ErrNormal)
			if err := wb.WriteNow(ctx, frame.Message{Kind: 17, Payload: b}); err != nil {
				t.Fatal(err)
			}
			m, err := ra.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := reg.Decode(m.Payload); v != proc.ErrNormal {
				t.Fatalf("reply %v", v)
			}
		})
	}
}

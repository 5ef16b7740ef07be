package node

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"testing"

	"github.com/grovedev/grove/node/internal/frame"
	"github.com/grovedev/grove/node/internal/handshake"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport/memnet"
)

// FuzzDispatch feeds arbitrary frames to a link's dispatcher: whatever a
// peer sends, the node must answer with an error or a refusal, never a
// panic or a hang.
func FuzzDispatch(f *testing.F) {
	rt, err := proc.New(proc.Config{Node: "fuzz@mem", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	defer rt.Close(context.Background())
	n, err := Start(context.Background(), rt, Config{Name: "fuzz@mem", Cookie: cookie, Codec: newCodec(f), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	defer n.Close()
	nw := memnet.New(memnet.Config{})
	defer nw.Close()
	ln, err := nw.Endpoint("peer").Listen(context.Background(), "peer:1")
	if err != nil {
		f.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
		}
	}()
	conn, err := nw.Endpoint("fuzz").Dial(context.Background(), "peer:1")
	if err != nil {
		f.Fatal(err)
	}
	p := newPeer(n, &handshake.Peer{Name: "peer@mem", Creation: 7, Conn: conn})
	defer p.close(nil)

	target, _ := rt.Spawn(echo{}, proc.WithName("echo"))
	enc := func(v any) []byte { b, _ := n.cfg.Codec.Encode(v); return b }
	pidBytes := func(pid proc.PID) []byte { return appendPID(nil, pid) }
	from := proc.PID{Node: "peer@mem", Creation: 7, ID: 3}
	seeds := []struct {
		kind frame.Kind
		b    []byte
	}{
		{kindSend, append(append(pidBytes(from), pidBytes(target)...), enc("hi")...)},
		{kindSendName, append(appendString(pidBytes(from), "echo"), enc(1)...)},
		{kindCall, append(binary.AppendUvarint(append(pidBytes(from), pidBytes(target)...), 9), enc("x")...)},
		{kindReply, append([]byte{9, replyErr}, enc(proc.ErrNoProc)...)},
		{kindLink, append(pidBytes(from), pidBytes(target)...)},
		{kindExit, append(append(pidBytes(from), pidBytes(target)...), enc(proc.ErrNormal)...)},
		{kindMonitor, appendRef(append(pidBytes(from), pidBytes(target)...), proc.Ref{ID: 5, Creation: 7})},
		{kindDown, append(appendRef(append(pidBytes(from), pidBytes(target)...), proc.Ref{ID: 5}), enc(proc.ErrKilled)...)},
		{kindRPC, append(appendString(binary.AppendUvarint([]byte{1}, 0), "nope"), enc(nil)...)},
		{kindSpawn, append(appendString([]byte{2}, "nope"), enc(nil)...)},
		{kindUndecodable, appendString(nil, "what")},
	}
	for _, s := range seeds {
		f.Add(byte(s.kind), byte(0), s.b)
	}
	f.Fuzz(func(t *testing.T, kind, flags byte, payload []byte) {
		// Exits and kills from the fuzzer may end the echo process; that
		// is fine, the dispatcher must only not panic.
		_ = p.dispatch(frame.Message{Kind: frame.Kind(kind), Flags: frame.Flags(flags) & frame.FlagsUser, Lane: 1, Payload: payload})
	})
}

package handshake

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/grovedev/grove/transport/memnet"
)

// fakeServer answers a client's hello with a challenge and its proof with
// refusal, as an impostor would that wants the client to wait for a link
// that never comes.
func fakeServer(t *testing.T, conn net.Conn, refusal []byte) {
	var buf [maxMessage + 2]byte
	if _, _, err := readMessage(conn, &buf); err != nil {
		t.Errorf("fake server: hello: %v", err)
		return
	}
	s := &session{conn: conn}
	ch := hello{version: ProtocolVersion, flags: helloSealed, creation: 1, name: "b"}
	if err := s.write(msgChallenge, ch.appendChallenge(nil)); err != nil {
		t.Errorf("fake server: %v", err)
		return
	}
	// It cannot prove the cookie, so it claims a link instead.
	_ = s.write(msgRefuse, refusal)
}

func TestForgedHasLinkRefusalIsAPlainRefusal(t *testing.T) {
	for _, body := range [][]byte{{refuseHasLink}, append([]byte{refuseHasLink}, make([]byte, 32)...)} {
		c, s := net.Pipe()
		done := make(chan struct{})
		go func() { defer close(done); fakeServer(t, s, body) }()
		cfg := &Config{Name: "a", Creation: 2, Secret: []byte("k"), Timeout: 2 * time.Second}
		_, err := Client(context.Background(), c, cfg, "")
		<-done
		c.Close()
		s.Close()
		if !errors.Is(err, ErrRefused) || errors.Is(err, ErrPeerHasLink) {
			t.Fatalf("refusal % x without a valid proof: %v, want a plain ErrRefused", body, err)
		}
	}
}

func TestHangUpIsNotARefusal(t *testing.T) {
	c, s := net.Pipe()
	go func() {
		var b [8]byte
		c.Read(b[:1])
		c.Close()
	}()
	go func() { s.Write([]byte{0}) }()
	cfg := &Config{Name: "b", Creation: 2, Secret: []byte("k"), Timeout: 2 * time.Second}
	_, err := Server(context.Background(), s, cfg)
	s.Close()
	if !errors.Is(err, ErrHungUp) || errors.Is(err, ErrRefused) {
		t.Fatalf("dialer hung up: server got %v, want ErrHungUp", err)
	}
}

func TestWriteAfterPeerClosedIsARefusal(t *testing.T) {
	// The flake of a TLS client whose certificate the server rejects: TLS
	// 1.3 lets the client finish first, the server closes, and the
	// client's first write meets the closed connection.
	nw := memnet.New(memnet.Config{})
	a, b := nw.Endpoint("a"), nw.Endpoint("b")
	defer a.Close()
	defer b.Close()
	ln, err := b.Listen(context.Background(), "b:1")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := a.Dial(context.Background(), "b:1")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	cfg := &Config{Name: "a", Creation: 2, Secret: []byte("k"), Timeout: 2 * time.Second}
	_, err = Client(context.Background(), c, cfg, "")
	c.Close()
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("hello written to a closed peer: %v, want ErrRefused", err)
	}
}

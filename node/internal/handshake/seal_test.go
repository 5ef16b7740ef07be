package handshake

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/transport/memnet"
)

// tapConn records what is written through it and can flip a bit of the
// next write, as an on-path attacker would.
type tapConn struct {
	net.Conn
	mu     sync.Mutex
	out    bytes.Buffer
	tamper bool
}

func (c *tapConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if c.tamper {
		b = append([]byte(nil), b...)
		b[len(b)/2] ^= 0x01
		c.tamper = false
	}
	c.out.Write(b)
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *tapConn) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.out.Bytes()...)
}

// sealedPair runs a cookie handshake over memnet with the client's side
// tapped, and returns both peers and the tap.
func sealedPair(t *testing.T, unencrypted bool) (client, server *Peer, tap *tapConn) {
	t.Helper()
	nw := memnet.New(memnet.Config{})
	a, b := nw.Endpoint("a"), nw.Endpoint("b")
	t.Cleanup(func() { a.Close(); b.Close() })
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
	t.Cleanup(func() { c.Close(); s.Close() })
	tap = &tapConn{Conn: c}
	cfg := func(name string) *Config {
		return &Config{Name: name, Creation: 1, Secret: []byte("cookie"), Timeout: 5 * time.Second, Unencrypted: unencrypted}
	}
	done := make(chan error, 1)
	go func() {
		var err error
		server, err = Server(context.Background(), s, cfg("b"))
		done <- err
	}()
	client, err = Client(context.Background(), tap, cfg("a"), "b")
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return client, server, tap
}

func readN(t *testing.T, c net.Conn, n int) ([]byte, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	_, err := io.ReadFull(c, b)
	return b, err
}

func TestCookieLinksAreEncrypted(t *testing.T) {
	c, s, tap := sealedPair(t, false)
	if !c.Encrypted || !s.Encrypted {
		t.Fatal("cookie link not reported encrypted")
	}
	msg := []byte("the quarterly numbers, in confidence")
	go c.Conn.Write(msg)
	got, err := readN(t, s.Conn, len(msg))
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("read %q %v", got, err)
	}
	if bytes.Contains(tap.written(), msg) {
		t.Fatal("plaintext visible on the wire")
	}
	// Both directions.
	go s.Conn.Write([]byte("ack"))
	if got, err := readN(t, c.Conn, 3); err != nil || string(got) != "ack" {
		t.Fatalf("reverse direction: %q %v", got, err)
	}
}

func TestReplayedRecordIsRefused(t *testing.T) {
	c, s, tap := sealedPair(t, false)
	mark := len(tap.written())
	go c.Conn.Write([]byte("pay bob 100"))
	if got, err := readN(t, s.Conn, 11); err != nil || string(got) != "pay bob 100" {
		t.Fatalf("read %q %v", got, err)
	}
	record := tap.written()[mark:]
	// Replay the record on the raw connection, under the sealing layer.
	go tap.Conn.Write(record)
	if _, err := readN(t, s.Conn, 11); !errors.Is(err, ErrTampered) {
		t.Fatalf("replayed record: %v, want ErrTampered", err)
	}
	// The error sticks.
	if _, err := s.Conn.Read(make([]byte, 1)); !errors.Is(err, ErrTampered) {
		t.Fatalf("after tampering: %v", err)
	}
}

func TestTamperedRecordIsRefused(t *testing.T) {
	c, s, tap := sealedPair(t, false)
	tap.mu.Lock()
	tap.tamper = true
	tap.mu.Unlock()
	go c.Conn.Write([]byte("pay bob 100"))
	if got, err := readN(t, s.Conn, 11); !errors.Is(err, ErrTampered) {
		t.Fatalf("tampered record read as %q, %v; want ErrTampered", got, err)
	}
}

func TestInjectedRecordIsRefused(t *testing.T) {
	_, s, tap := sealedPair(t, false)
	// A record the attacker made up: right length, wrong tag.
	fake := append([]byte{0, 0, 0, 16 + 5}, make([]byte, 21)...)
	go tap.Conn.Write(fake)
	if _, err := readN(t, s.Conn, 5); !errors.Is(err, ErrTampered) {
		t.Fatalf("injected record: %v, want ErrTampered", err)
	}
}

func TestLargeWritesSpanRecords(t *testing.T) {
	c, s, _ := sealedPair(t, false)
	msg := make([]byte, 3*maxRecord+123)
	for i := range msg {
		msg[i] = byte(i * 31)
	}
	go c.Conn.Write(msg)
	got, err := readN(t, s.Conn, len(msg))
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("large write: %v", err)
	}
}

func TestUnencryptedMustBeAgreed(t *testing.T) {
	c, s, tap := sealedPair(t, true)
	if c.Encrypted || s.Encrypted {
		t.Fatal("unencrypted link reported encrypted")
	}
	go c.Conn.Write([]byte("plain"))
	if got, err := readN(t, s.Conn, 5); err != nil || string(got) != "plain" {
		t.Fatalf("%q %v", got, err)
	}
	if !bytes.Contains(tap.written(), []byte("plain")) {
		t.Fatal("unencrypted link is not plain")
	}
}

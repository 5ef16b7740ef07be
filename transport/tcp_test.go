package transport_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"go.uber.org/goleak"

	"github.com/grovedev/grove/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTCPDialListenClose(t *testing.T) {
	ctx := context.Background()
	tr := transport.NewTCP(transport.TCPConfig{ReadBuffer: 1 << 20, WriteBuffer: 1 << 20})
	ln, err := tr.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c)
		done <- err
	}()
	c, err := tr.Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Fatal("listener still accepts after transport Close")
	}
	if _, err := tr.Dial(ctx, ln.Addr().String()); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Dial after Close: %v", err)
	}
	if _, err := tr.Listen(ctx, "127.0.0.1:0"); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Listen after Close: %v", err)
	}
}

func TestTCPDialCancelled(t *testing.T) {
	tr := transport.NewTCP(transport.TCPConfig{})
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Dial(ctx, "127.0.0.1:1"); err == nil {
		t.Fatal("dial with a cancelled context succeeded")
	}
}

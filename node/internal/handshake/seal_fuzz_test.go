package handshake

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// bufConn is a net.Conn reading from a fixed input and recording writes.
type bufConn struct {
	r   io.Reader
	out bytes.Buffer
}

func (c *bufConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *bufConn) Write(b []byte) (int, error)      { return c.out.Write(b) }
func (c *bufConn) Close() error                     { return nil }
func (c *bufConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *bufConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *bufConn) SetDeadline(time.Time) error      { return nil }
func (c *bufConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bufConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzSealedRead feeds arbitrary bytes to a sealed connection's reader:
// it returns what authenticates, and fails with ErrTampered or the end of
// the stream otherwise, never with a panic or a hang.
func FuzzSealedRead(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	w := &bufConn{r: bytes.NewReader(nil)}
	sw, err := newSealedConn(w, key, key)
	if err != nil {
		f.Fatal(err)
	}
	sw.Write([]byte("hello"))
	sw.Write(make([]byte, maxRecord+10))
	f.Add(w.out.Bytes())
	f.Add([]byte{0, 0, 0, 16})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		sr, err := newSealedConn(&bufConn{r: bytes.NewReader(in)}, key, key)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		total := 0
		for {
			n, err := sr.Read(buf)
			total += n
			if err != nil {
				if !errors.Is(err, ErrTampered) && err != io.EOF {
					t.Fatalf("read error %v", err)
				}
				break
			}
			if total > len(in) {
				t.Fatalf("read %d bytes of plaintext from %d bytes of input", total, len(in))
			}
		}
	})
}

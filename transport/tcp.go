package transport

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// TCPConfig tunes the TCP transport. The zero value is usable: zero fields
// mean the documented default.
type TCPConfig struct {
	// KeepAlive is the TCP keep-alive period. Zero means 15s; negative
	// disables keep-alives. Grove detects dead peers with its own
	// heartbeats; keep-alives only reclaim half-open sockets.
	KeepAlive time.Duration
	// ReadBuffer and WriteBuffer set SO_RCVBUF and SO_SNDBUF when positive.
	// Zero leaves the operating system's default (usually autotuned).
	ReadBuffer  int
	WriteBuffer int
	// LocalAddr is the IP address to dial from; empty lets the operating
	// system choose. A host with several addresses uses it to pick the one
	// its peers expect.
	LocalAddr string
	// DisableNoDelay turns Nagle's algorithm back on. Grove's frame writer
	// already batches many frames into one write, so Nagle only adds
	// latency; leave it false.
	DisableNoDelay bool
}

// Validate reports whether c holds sensible values.
func (c TCPConfig) Validate() error {
	if c.ReadBuffer < 0 || c.WriteBuffer < 0 {
		return fmt.Errorf("transport: negative socket buffer size")
	}
	if c.LocalAddr != "" && net.ParseIP(c.LocalAddr) == nil {
		return fmt.Errorf("transport: LocalAddr %q is not an IP address", c.LocalAddr)
	}
	return nil
}

// TCP is a Transport over real TCP sockets. Addresses are "host:port".
type TCP struct {
	cfg    TCPConfig
	dialer net.Dialer
	lc     net.ListenConfig

	mu struct {
		sync.Mutex
		closed    bool
		listeners map[*tcpListener]struct{}
	}
}

var _ Transport = (*TCP)(nil)

// NewTCP returns a TCP transport. Invalid configuration values are replaced
// by defaults; call cfg.Validate first to reject them instead.
func NewTCP(cfg TCPConfig) *TCP {
	if cfg.ReadBuffer < 0 {
		cfg.ReadBuffer = 0
	}
	if cfg.WriteBuffer < 0 {
		cfg.WriteBuffer = 0
	}
	ka := cfg.KeepAlive
	if ka == 0 {
		ka = 15 * time.Second
	}
	t := &TCP{cfg: cfg}
	t.dialer = net.Dialer{KeepAlive: ka}
	if ip := net.ParseIP(cfg.LocalAddr); ip != nil {
		t.dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	t.lc = net.ListenConfig{KeepAlive: ka}
	t.mu.listeners = make(map[*tcpListener]struct{})
	return t
}

// Dial connects to addr ("host:port").
func (t *TCP) Dial(ctx context.Context, addr string) (net.Conn, error) {
	t.mu.Lock()
	closed := t.mu.closed
	t.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	c, err := t.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	t.tune(c)
	return c, nil
}

// Listen listens on addr ("host:port"; port 0 picks a free port).
func (t *TCP) Listen(ctx context.Context, addr string) (net.Listener, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return nil, ErrClosed
	}
	ln, err := t.lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	l := &tcpListener{Listener: ln, t: t}
	t.mu.listeners[l] = struct{}{}
	return l, nil
}

// Close closes every listener opened through t. It is idempotent.
func (t *TCP) Close() error {
	t.mu.Lock()
	if t.mu.closed {
		t.mu.Unlock()
		return nil
	}
	t.mu.closed = true
	ls := t.mu.listeners
	t.mu.listeners = nil
	t.mu.Unlock()
	for l := range ls {
		_ = l.Listener.Close()
	}
	return nil
}

func (t *TCP) tune(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	if t.cfg.DisableNoDelay {
		_ = tc.SetNoDelay(false)
	}
	if t.cfg.ReadBuffer > 0 {
		_ = tc.SetReadBuffer(t.cfg.ReadBuffer)
	}
	if t.cfg.WriteBuffer > 0 {
		_ = tc.SetWriteBuffer(t.cfg.WriteBuffer)
	}
}

type tcpListener struct {
	net.Listener
	t    *TCP
	once sync.Once
}

func (l *tcpListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.t.tune(c)
	return c, nil
}

func (l *tcpListener) Close() error {
	var err error
	l.once.Do(func() {
		l.t.mu.Lock()
		delete(l.t.mu.listeners, l)
		l.t.mu.Unlock()
		err = l.Listener.Close()
	})
	return err
}

package memnet

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Conn is one end of an in-memory connection. It implements net.Conn and is
// safe for concurrent use like a socket: any number of goroutines may call
// Read, Write, Close and the deadline setters.
type Conn struct {
	n             *Network
	local, remote Addr
	rx, tx        *pipe
	rd, wd        deadline
	once          sync.Once
}

var _ net.Conn = (*Conn)(nil)

func newConn(n *Network, local, remote Addr, rx, tx *pipe) *Conn {
	c := &Conn{n: n, local: local, remote: remote, rx: rx, tx: tx}
	c.rd.init()
	c.wd.init()
	return c
}

// Read reads buffered bytes sent by the peer, blocking until some are
// available, the peer closes (io.EOF), the read deadline passes, or c is
// closed.
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.rx.read(b, &c.rd)
	if err != nil && err != io.EOF {
		err = &net.OpError{Op: "read", Net: "memnet", Source: c.local, Addr: c.remote, Err: err}
	}
	return n, err
}

// Write buffers b for the peer, blocking while the direction's buffer is
// full.
func (c *Conn) Write(b []byte) (int, error) {
	n, err := c.tx.write(b, &c.wd)
	if err != nil {
		err = &net.OpError{Op: "write", Net: "memnet", Source: c.local, Addr: c.remote, Err: err}
	}
	return n, err
}

// Close closes both directions: the peer reads the remaining buffered bytes
// and then io.EOF; its writes fail. Close is idempotent.
func (c *Conn) Close() error {
	c.once.Do(func() {
		c.rx.closeReader()
		c.tx.closeWriter()
		c.n.forget(c)
	})
	return nil
}

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { c.rd.set(t); return nil }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// pipe is one direction of a connection: a bounded byte buffer.
type pipe struct {
	mu      sync.Mutex
	buf     []byte // pending bytes are buf[r:]
	r       int
	limit   int
	stalled bool          // direction blocked: bytes stay buffered
	rclosed bool          // reading end closed: writes fail
	wclosed bool          // writing end closed: reads drain then EOF
	changed chan struct{} // closed on any state change; nil when nobody waits
}

func newPipe(limit int) *pipe { return &pipe{limit: limit} }

func (p *pipe) waitLocked() <-chan struct{} {
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return p.changed
}

func (p *pipe) notifyLocked() {
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

func (p *pipe) read(b []byte, d *deadline) (int, error) {
	for {
		p.mu.Lock()
		if p.rclosed {
			p.mu.Unlock()
			return 0, net.ErrClosed
		}
		if !p.stalled && p.r < len(p.buf) {
			if len(b) == 0 {
				p.mu.Unlock()
				return 0, nil
			}
			n := copy(b, p.buf[p.r:])
			p.r += n
			if p.r == len(p.buf) {
				p.buf = p.buf[:0]
				p.r = 0
			}
			p.notifyLocked()
			p.mu.Unlock()
			return n, nil
		}
		if p.wclosed && p.r == len(p.buf) {
			p.mu.Unlock()
			return 0, io.EOF
		}
		ch := p.waitLocked()
		p.mu.Unlock()
		select {
		case <-ch:
		case <-d.wait():
			return 0, os.ErrDeadlineExceeded
		}
	}
}

func (p *pipe) write(b []byte, d *deadline) (int, error) {
	written := 0
	for {
		p.mu.Lock()
		if p.wclosed {
			p.mu.Unlock()
			return written, net.ErrClosed
		}
		if p.rclosed {
			p.mu.Unlock()
			return written, io.ErrClosedPipe
		}
		if d.expired() {
			p.mu.Unlock()
			return written, os.ErrDeadlineExceeded
		}
		pending := len(p.buf) - p.r
		if space := p.limit - pending; space > 0 {
			if p.r > 0 && len(p.buf)+min(space, len(b)) > cap(p.buf) {
				// Compact instead of growing.
				n := copy(p.buf, p.buf[p.r:])
				p.buf = p.buf[:n]
				p.r = 0
			}
			k := min(space, len(b))
			p.buf = append(p.buf, b[:k]...)
			b = b[k:]
			written += k
			p.notifyLocked()
			if len(b) == 0 {
				p.mu.Unlock()
				return written, nil
			}
		}
		ch := p.waitLocked()
		p.mu.Unlock()
		select {
		case <-ch:
		case <-d.wait():
			return written, os.ErrDeadlineExceeded
		}
	}
}

func (p *pipe) closeReader() {
	p.mu.Lock()
	p.rclosed = true
	p.buf = nil
	p.r = 0
	p.notifyLocked()
	p.mu.Unlock()
}

func (p *pipe) closeWriter() {
	p.mu.Lock()
	p.wclosed = true
	p.notifyLocked()
	p.mu.Unlock()
}

func (p *pipe) setStalled(b bool) {
	p.mu.Lock()
	p.stalled = b
	p.notifyLocked()
	p.mu.Unlock()
}

// deadline is a settable point in time with a channel closed when it
// passes.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	ch    chan struct{} // closed when the deadline has passed
}

func (d *deadline) init() { d.ch = make(chan struct{}) }

// set arms the deadline; the zero time disarms it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.ch // the timer fired (or is firing): wait for the close
	}
	d.timer = nil
	select {
	case <-d.ch:
		d.ch = make(chan struct{})
	default:
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.ch)
		return
	}
	ch := d.ch
	d.timer = time.AfterFunc(dur, func() { close(ch) })
}

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}

func (d *deadline) expired() bool {
	select {
	case <-d.wait():
		return true
	default:
		return false
	}
}

package memnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/grovedev/grove/transport"
)

// Errors returned by the in-memory network.
var (
	// ErrAddrInUse is returned by Listen on an address that is already bound.
	ErrAddrInUse = errors.New("memnet: address already in use")
	// ErrConnRefused is returned by Dial when nothing listens on the address.
	ErrConnRefused = errors.New("memnet: connection refused")
	// ErrUnreachable is returned by Dial when the link between the two
	// endpoints is blocked in either direction.
	ErrUnreachable = errors.New("memnet: host unreachable")
)

// DefaultBufferSize is the per-direction buffer of a connection when
// Config.BufferSize is zero.
const DefaultBufferSize = 1 << 20

// Config tunes a Network. Zero values mean defaults.
type Config struct {
	// BufferSize bounds the bytes buffered in each direction of a
	// connection; a writer blocks when the buffer is full. Zero means
	// DefaultBufferSize.
	BufferSize int
	// AcceptBacklog bounds connections waiting in Accept. Zero means 128.
	AcceptBacklog int
}

// Validate reports whether c holds sensible values.
func (c Config) Validate() error {
	if c.BufferSize < 0 || c.AcceptBacklog < 0 {
		return fmt.Errorf("memnet: negative config value")
	}
	return nil
}

type link struct{ from, to string }

// Network is a set of endpoints that can reach each other. It is safe for
// concurrent use.
type Network struct {
	cfg Config

	// mu guards the topology. Lock order: Network.mu before pipe.mu.
	mu struct {
		sync.Mutex
		endpoints map[string]*Endpoint
		listeners map[string]*listener
		blocked   map[link]bool
		conns     map[*Conn]struct{}
	}
}

// New returns an empty network.
func New(cfg Config) *Network {
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = DefaultBufferSize
	}
	if cfg.AcceptBacklog <= 0 {
		cfg.AcceptBacklog = 128
	}
	n := &Network{cfg: cfg}
	n.mu.endpoints = make(map[string]*Endpoint)
	n.mu.listeners = make(map[string]*listener)
	n.mu.blocked = make(map[link]bool)
	n.mu.conns = make(map[*Conn]struct{})
	return n
}

// Endpoint returns the endpoint (simulated host) called name, creating it if
// needed. An endpoint that was closed is replaced by a fresh one, as a host
// that restarts.
func (n *Network) Endpoint(name string) *Endpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e, ok := n.mu.endpoints[name]; ok && !e.closed {
		return e
	}
	e := &Endpoint{n: n, name: name}
	n.mu.endpoints[name] = e
	return e
}

// Close closes every endpoint of the network (see Endpoint.Close). The
// network stays usable: Endpoint creates fresh endpoints afterwards.
func (n *Network) Close() error {
	n.mu.Lock()
	eps := make([]*Endpoint, 0, len(n.mu.endpoints))
	for _, e := range n.mu.endpoints {
		eps = append(eps, e)
	}
	n.mu.Unlock()
	for _, e := range eps {
		_ = e.Close()
	}
	return nil
}

// Block stalls the direction from → to: bytes written by endpoint from on
// connections to endpoint to stay buffered and are not readable by to until
// Unblock. New dials between the two endpoints fail with ErrUnreachable.
// Blocking both directions is a full partition of the pair.
func (n *Network) Block(from, to string) { n.setBlocked(from, to, true) }

// Unblock releases the direction from → to; buffered bytes become readable.
func (n *Network) Unblock(from, to string) { n.setBlocked(from, to, false) }

// Blocked reports whether the direction from → to is blocked.
func (n *Network) Blocked(from, to string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.blocked[link{from, to}]
}

func (n *Network) setBlocked(from, to string, b bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if b {
		n.mu.blocked[link{from, to}] = true
	} else {
		delete(n.mu.blocked, link{from, to})
	}
	for c := range n.mu.conns {
		// Reach each pipe from both of its ends: one of them may be
		// closed (and forgotten) already while bytes are still stalled.
		if c.local.Name == from && c.remote.Name == to {
			c.tx.setStalled(b)
		}
		if c.local.Name == to && c.remote.Name == from {
			c.rx.setStalled(b)
		}
	}
}

// ResetLink closes every connection between endpoints a and b, in both
// directions, as a connection reset would.
func (n *Network) ResetLink(a, b string) {
	n.mu.Lock()
	var victims []*Conn
	for c := range n.mu.conns {
		if (c.local.Name == a && c.remote.Name == b) || (c.local.Name == b && c.remote.Name == a) {
			victims = append(victims, c)
		}
	}
	n.mu.Unlock()
	for _, c := range victims {
		_ = c.Close()
	}
}

// Endpoint is one simulated host of a Network and a transport.Transport.
// Addresses are free-form strings unique in the network, conventionally
// "host:port". It is safe for concurrent use.
type Endpoint struct {
	n    *Network
	name string
	// closed is guarded by n.mu.
	closed bool
}

var _ transport.Transport = (*Endpoint)(nil)

// Name returns the endpoint's name.
func (e *Endpoint) Name() string { return e.name }

// Listen binds addr on this endpoint. An empty addr means the endpoint name.
func (e *Endpoint) Listen(ctx context.Context, addr string) (net.Listener, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if addr == "" {
		addr = e.name
	}
	n := e.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.closed {
		return nil, transport.ErrClosed
	}
	if _, ok := n.mu.listeners[addr]; ok {
		return nil, fmt.Errorf("%w: %s", ErrAddrInUse, addr)
	}
	l := &listener{
		ep:      e,
		addr:    Addr{Name: e.name, Address: addr},
		backlog: make(chan *Conn, n.cfg.AcceptBacklog),
		done:    make(chan struct{}),
	}
	n.mu.listeners[addr] = l
	return l, nil
}

// Dial connects to the listener bound at addr.
func (e *Endpoint) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := e.n
	n.mu.Lock()
	if e.closed {
		n.mu.Unlock()
		return nil, transport.ErrClosed
	}
	l, ok := n.mu.listeners[addr]
	if !ok {
		n.mu.Unlock()
		return nil, &net.OpError{Op: "dial", Net: "memnet", Addr: Addr{Address: addr}, Err: ErrConnRefused}
	}
	peer := l.ep.name
	if n.mu.blocked[link{e.name, peer}] || n.mu.blocked[link{peer, e.name}] {
		n.mu.Unlock()
		return nil, &net.OpError{Op: "dial", Net: "memnet", Addr: Addr{Address: addr}, Err: ErrUnreachable}
	}
	ab := newPipe(n.cfg.BufferSize)
	ba := newPipe(n.cfg.BufferSize)
	ab.stalled = n.mu.blocked[link{e.name, peer}]
	ba.stalled = n.mu.blocked[link{peer, e.name}]
	local := Addr{Name: e.name, Address: e.name}
	client := newConn(n, local, l.addr, ba, ab)
	server := newConn(n, l.addr, local, ab, ba)
	n.mu.conns[client] = struct{}{}
	n.mu.conns[server] = struct{}{}
	n.mu.Unlock()

	select {
	case l.backlog <- server:
		select {
		case <-l.done:
			// The listener closed while we queued; it may have drained
			// before our send, so drain again.
			l.drain()
		default:
		}
		return client, nil
	case <-l.done:
		err := &net.OpError{Op: "dial", Net: "memnet", Addr: Addr{Address: addr}, Err: ErrConnRefused}
		_ = client.Close()
		_ = server.Close()
		return nil, err
	case <-ctx.Done():
		_ = client.Close()
		_ = server.Close()
		return nil, ctx.Err()
	}
}

// Close closes the endpoint as if its host died: its listeners stop, every
// connection it is part of is closed (peers read EOF), and Dial and Listen
// return transport.ErrClosed. It is idempotent. A later call to
// Network.Endpoint with the same name returns a fresh endpoint.
func (e *Endpoint) Close() error {
	n := e.n
	n.mu.Lock()
	if e.closed {
		n.mu.Unlock()
		return nil
	}
	e.closed = true
	var ls []*listener
	for _, l := range n.mu.listeners {
		if l.ep == e {
			ls = append(ls, l)
		}
	}
	var cs []*Conn
	for c := range n.mu.conns {
		if c.local.Name == e.name {
			cs = append(cs, c)
		}
	}
	n.mu.Unlock()
	for _, l := range ls {
		_ = l.Close()
	}
	for _, c := range cs {
		_ = c.Close()
	}
	return nil
}

func (n *Network) forget(c *Conn) {
	n.mu.Lock()
	delete(n.mu.conns, c)
	n.mu.Unlock()
}

// Addr is a memnet address: the endpoint (host) name and the address string.
type Addr struct {
	Name    string // endpoint name
	Address string // address as passed to Listen or Dial
}

// Network returns "memnet".
func (Addr) Network() string { return "memnet" }

// String returns the address.
func (a Addr) String() string { return a.Address }

type listener struct {
	ep      *Endpoint
	addr    Addr
	backlog chan *Conn
	done    chan struct{}
	once    sync.Once
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.backlog:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "memnet", Addr: l.addr, Err: net.ErrClosed}
	}
}

func (l *listener) Close() error {
	l.once.Do(func() {
		n := l.ep.n
		n.mu.Lock()
		if n.mu.listeners[l.addr.Address] == l {
			delete(n.mu.listeners, l.addr.Address)
		}
		n.mu.Unlock()
		close(l.done)
		l.drain()
	})
	return nil
}

func (l *listener) drain() {
	for {
		select {
		case c := <-l.backlog:
			_ = c.Close()
		default:
			return
		}
	}
}

func (l *listener) Addr() net.Addr { return l.addr }

package transport

import (
	"context"
	"errors"
	"net"
)

// ErrClosed is returned by Dial and Listen on a transport after Close.
var ErrClosed = errors.New("transport: closed")

// Transport opens byte streams between nodes. Every byte between two nodes
// passes through a Transport, so wrapping one is how faults are injected:
// a wrapper may delay, drop, or cut the connections it hands out.
//
// Concurrency: all methods are safe for concurrent use by multiple
// goroutines. Close is idempotent; after Close, Dial and Listen return
// ErrClosed and every listener the transport opened is closed. Connections
// already handed out stay owned by their callers and are not closed by the
// transport (an in-memory transport may document otherwise).
type Transport interface {
	// Dial opens a connection to addr. It honours ctx for cancellation and
	// deadline while the connection is being established; once returned,
	// the connection is independent of ctx.
	Dial(ctx context.Context, addr string) (net.Conn, error)
	// Listen starts accepting connections on addr. Listener.Addr reports
	// the address actually bound (useful with port 0).
	Listen(ctx context.Context, addr string) (net.Listener, error)
	// Close releases the transport's listeners. It is idempotent.
	Close() error
}

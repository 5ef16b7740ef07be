// Package transport defines how nodes reach each other: a small Transport
// interface that opens net.Conn byte streams, and a TCP implementation over
// real sockets. Package transport/memnet provides an in-memory network with
// the same interface for tests and simulations.
//
// The interface is deliberately small (Dial, Listen, Close) so that a
// fault-injection layer can wrap any implementation and drop, delay or
// partition the connections it returns. Framing, authentication and
// encoding happen above it; a Transport only moves bytes.
//
// # Usage
//
//	tr := transport.NewTCP(transport.TCPConfig{})
//	defer tr.Close()
//	ln, err := tr.Listen(ctx, "127.0.0.1:0")
//	if err != nil { ... }
//	go func() { c, _ := ln.Accept(); ... }()
//	conn, err := tr.Dial(ctx, ln.Addr().String())
package transport

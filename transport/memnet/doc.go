// Package memnet is an in-memory network implementing transport.Transport,
// for tests and simulations that need many nodes in one process.
//
// A Network holds named endpoints (one per simulated host). Each Endpoint is
// a transport.Transport: it listens on addresses of the network and dials
// them. Connections are full-duplex in-memory pipes with a bounded buffer in
// each direction, so a writer runs ahead of its reader up to the buffer size
// instead of being lock-stepped to it as with net.Pipe. Deadlines work as on
// real sockets.
//
// Links can be cut per direction: Block(from, to) stalls every byte written
// by endpoint from toward endpoint to (they stay buffered, as TCP would keep
// retransmitting them) and makes new dials between the two fail with
// ErrUnreachable; Unblock releases them. ResetLink closes every connection
// between two endpoints, and Endpoint.Close closes a whole endpoint, as if
// its host died. A fault-injection kit builds its partition shapes on these
// primitives and wraps the Transport for loss and delay.
//
// # Usage
//
//	nw := memnet.New(memnet.Config{})
//	a, b := nw.Endpoint("a"), nw.Endpoint("b")
//	defer a.Close()
//	defer b.Close()
//	ln, _ := b.Listen(ctx, "b:4369")
//	conn, _ := a.Dial(ctx, "b:4369")
//	nw.Block("a", "b") // a's bytes no longer reach b
package memnet

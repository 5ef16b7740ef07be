// Package node joins process runtimes on different machines into one
// system, as Erlang distribution does: a process sends to, calls, links to
// and monitors a process of another node exactly as it would a local one,
// through the same proc API.
//
// A Node wraps a proc.Runtime. It listens for and dials links to other
// nodes; each link is one connection carrying every message between the two
// nodes, authenticated and encrypted, by a shared cookie (an HMAC
// challenge, the cookie never crosses the wire, then AES-256-GCM under keys
// derived in the handshake) or by TLS 1.3 with mutual certificates that
// name the node. A wrong cookie, an untrusted certificate, a certificate of
// another node, a protocol version mismatch or a second link from a node
// already connected in the same incarnation is refused, logged and counted
// (Stats.Refused) — a node under a connected name with a later incarnation
// is that node restarted, and its link replaces the old one; the
// refused peer learns nothing else, except a peer that authenticated and
// is refused because a link between the two nodes is already up or opening
// (both dialled at once): it is told so, with the refusing side's proof,
// and waits for that link instead of failing. Any other refusal is
// reported to the dialler at once.
//
// # Usage
//
//	rt, _ := proc.New(proc.Config{Node: "api@10.0.0.5"})
//	n, err := node.Start(ctx, rt, node.Config{
//		Name:   "api@10.0.0.5",
//		Listen: "10.0.0.5:4370",
//		Cookie: cookie,
//		Codec:  reg, // register your message types in it on every node
//	})
//	defer n.Close()
//	n.Connect(ctx, "db@10.0.0.6", "10.0.0.6:4370") // kept connected from now on
//
//	// From here, PIDs of db@10.0.0.6 work everywhere a PID does:
//	v, err := proc.Call[int](ctx, rt, proc.NodeName{Node: "db@10.0.0.6", Name: "store"}, Get{Key: "k"})
//
//	// Functions and behaviours registered by name can be called and spawned:
//	n.Register("sum", func(ctx context.Context, arg any) (any, error) { ... })
//	v, err = n.RPC(ctx, "db@10.0.0.6", "sum", []any{1, 2})
//
// # Guarantees
//
// Messages and signals from one process to another are delivered in the
// order they were sent, also across nodes: everything from one process to
// one other process travels on the same ordered lane of the link (sends to a
// registered name use a lane of their own, so a send by name and a send by
// PID may pass each other). Different pairs of processes use different
// lanes, and a large message is cut into fragments interleaved with other
// traffic, so a 64 MiB message does not hold up small ones.
//
// Delivery across a link is at most once, without duplicates. A send returns
// once the message is queued on the link (or, when the peer paused the
// link, once it resumed: see Flow control); if the link breaks, messages still
// in flight are lost (those it had queued and not yet written are counted in
// Stats.LostOnLinkDown; those already written may or may not have
// arrived), and every process that links to or monitors a process
// of that node is told at once with proc.ErrNoConnection: links get an exit
// signal, monitors a DOWN, pending calls an error wrapping ErrNoConnection.
// A process that must know whether its message arrived calls, or monitors.
// A send to a node that cannot be reached returns an error wrapping
// proc.ErrNoConnection after at most ConnectTimeout; a node whose address
// is unknown gives ErrUnknownNode.
//
// # Flow control and drops
//
// Memory for messages from other nodes is bounded, and no message is
// dropped without the sender's node knowing. Messages from other nodes
// that wait in this node's mailboxes are counted (encoded size plus 64
// bytes each) against MaxRemoteQueued (64 MiB). A delivery that passes it
// pauses its link: the peer is told, and plain sends on that link block
// their sender (a process's Send does not return) until this node's
// processes have taken enough messages for the count to fall to half the
// ceiling, when every paused link is resumed. Calls, replies, acknowledged
// sends and signals are never held back. The count can exceed the ceiling
// by what is in flight when the pause arrives (the peer's write buffer and
// the connection's socket buffers, a few MiB per link):
// TestFastSenderIsHeldBack streams 100 MiB into a process that takes
// nothing, and the receiver's count peaks at 10 to 14 MiB for a ceiling of
// 8 MiB, where before it grew with everything sent.
//
// A message that reaches the node but cannot be queued — its process is
// gone, its bounded mailbox is full, its name is not registered — is
// counted (Stats.DeliveryFailures), logged at a bounded rate and reported
// back to the sending node within 100 ms, which counts it
// (Stats.DroppedByPeer) and logs it at a bounded rate. A sender that must
// know about its own message uses a call, or SendAck, which returns once
// the message is queued, with proc.ErrMailboxFull or proc.ErrNotAlive
// otherwise.
//
// Beside the anchors: Erlang distribution has no end-to-end backpressure —
// a message to a remote process is always accepted and queued without
// bound on the receiving node; the sending side only suspends processes
// while the connection's output queue is over its busy limit
// (busy_dist_port, the dist_buf_busy_limit), which guards the sender's
// memory, not the receiver's. Akka's Artery bounds its outbound queues and
// drops (logging) what does not fit, and leaves backpressure to Akka
// Streams. Grove bounds the receiver, slows the sender as busy_dist_port
// does, and tells the sender about every drop. As with busy_dist_port, a
// pause holds back every plain send on the link, not only those to the
// slow process, and two nodes whose processes each wait to send to the
// other while both are paused wait until one side's processes take
// messages again.
//
// A message whose type the sender has not registered in its codec fails at
// the sender, and so does one over the size limit (ErrTooLarge; the link
// stays up). One the receiver cannot decode is counted
// (Stats.Undecodable), logged at a bounded rate, and reported back to the
// sending node (Stats.UndecodableByPeer); a call answers it with the
// decoding error. Frames that break the protocol or pass the receiver's
// limits cut the link, never the node, and are counted
// (Stats.MalformedFrames). What a link had queued and not written when it
// breaks is counted in Stats.LostOnLinkDown: every way a message can be
// lost is known to its sender or to a counter.
//
// # Security of cookie mode
//
// In cookie mode (no TLS) links are authenticated and encrypted, which
// Erlang's cookie is not: after the handshake every byte travels in
// AES-256-GCM records under keys derived for that link alone (HKDF over
// the stretched cookie, an ephemeral X25519 exchange and the handshake's
// transcript), each record's nonce being its sequence number. An on-path
// attacker can neither read the link nor modify, replay, reorder or inject
// a frame: the receiver refuses the record and the link is cut. One who
// records the traffic and later learns the cookie still cannot read it
// (the ephemeral keys are gone).
//
// The cookie is kept away from offline guessing as far as a shared secret
// without a PAKE allows. The dialled node proves first: a node never sends
// its proof to a server that has not proved it knows the cookie, so a node
// tricked into dialling an impostor (a poisoned seed list or DNS answer)
// hands it nothing to guess from. The dialled node's proof does reach
// anyone who can open a connection to its listen port, and that proof can
// be attacked offline; every guess then costs a PBKDF2 of 200,000 rounds,
// and online guessing is bounded by the handshake limits below. The
// standard library has no PAKE (SPAKE2, CPace), which would close this
// too, so: use a long random cookie (16 bytes or more from a CSPRNG make
// guessing hopeless whatever the attack), or TLS with certificates, where
// the cookie is an optional second factor inside TLS.
//
// # Before authentication
//
// What a peer that has not authenticated can make the node hold is fixed
// in advance, whatever the number of connections it opens. An accepted
// connection must complete its handshake within HandshakeTimeout (default
// ConnectTimeout, 2 s) of its accept, or it is closed. At most
// MaxPendingHandshakes (256) connections are in handshake at once and at
// most MaxPendingPerAddr (16) from one remote address (an IPv6 /64 counts
// as one address, since one subscriber commonly holds all of it); others
// are closed at once, on the accepting goroutine, costing no goroutine and
// no buffer.
// When the total is reached, a connection from an address holding fewer
// handshakes than the busiest address evicts that address's oldest, so a
// flood from a few addresses cannot lock out a node dialling from another
// (a flood spread over more addresses than MaxPendingHandshakes can, until
// its connections time out). A connection in handshake holds one goroutine
// and the handshake's buffers: 512 bytes in cookie mode, a TLS handshake's
// state with TLS. The link's frame buffers (about 1.3 MiB) are allocated
// only once the peer has authenticated.
//
// Measured on loopback TCP (TestPreAuthFloodIsBounded, 3,000 idle, junk and
// stalled connections from 40 addresses): the node added 256 goroutines
// and at most 3 MiB of live memory in cookie mode and 5 MiB with TLS,
// including the flooding sockets themselves, and the same at 8,800
// connections; a node dialling from another address connected meanwhile.
// Before these bounds, the same flood added a goroutine per connection
// and 15 MiB.
//
// Refusals are counted by kind in Stats.Refusals (timeout, hangup,
// garbage, bad_cookie, bad_certificate, wrong_name, version, duplicate,
// refused_by_peer, limit_per_address, limit_total, evicted; see
// RefusalKinds) and logged at a rate that cannot flood: a few lines a
// second per kind, each saying how many were suppressed before it.
//
// # Failure detection
//
// An idle link sends a heartbeat every Heartbeat (500 ms by default); a link
// that hears nothing for HeartbeatTimeout (3 s) is declared dead, which
// catches a peer that vanished without closing its connection (a silent
// partition or a frozen host). A peer that closes its connection or whose
// process dies is noticed as soon as the connection reports it. A node
// restarted under the same name comes back as a new incarnation: its old
// PIDs stay dead, and the link to it is replaced.
//
// Nodes given to Connect are kept connected: a lost link is redialed with
// jittered exponential backoff between ReconnectMin and ReconnectMax. Other
// nodes are dialed on first use, as Erlang does, when their address is
// known (AddAddress).
package node

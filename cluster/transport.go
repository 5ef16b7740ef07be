package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/grovedev/grove/internal/connlimit"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/transport"
)

// The gossip transport carries memberlist's packets and streams over a Grove
// transport.Transport, so that the in-memory network (and any fault-injecting
// wrapper around a Transport) carries all membership traffic.
//
// Every connection is authenticated first, by the node's own handshake
// (node.Node.AuthenticateInbound and AuthenticateOutbound: the node's TLS
// certificates or a secret derived from its cookie), before a byte of
// gossip is read, and protected as a node link is afterwards (TLS, or the
// cookie handshake's session encryption). Until then a connection holds one of a bounded number of
// slots (Config.MaxPendingConns in all, MaxPendingPerHost per host; package
// internal/connlimit), a goroutine with a deadline (AuthTimeout) and the
// handshake's few hundred bytes, nothing more. Then, inside the
// authenticated connection, a header: the magic "grvg", a version byte, a
// kind byte and the sender's advertised gossip address (a 2-byte big-endian
// length and the bytes).
//
//   - kindPackets: a one-way connection from the sender to the receiver
//     carrying packets, each a uvarint length and the bytes. A node keeps one
//     such connection per peer it sends packets to, opened on first use and
//     closed after it idles for packetIdle; the receiver keeps one per
//     authenticated sender and address (a newer one replaces the older) and
//     closes it after packetReadIdle without a packet. Packets are best
//     effort as with UDP: a full queue, a failed dial or a failed write
//     drops them (Stats.PacketsDropped).
//   - kindStream: one memberlist stream (push/pull, TCP fallback probes,
//     reliable user messages); after the header the bytes are memberlist's,
//     which bounds every stream with its own deadline (StreamTimeout).
const (
	headerMagic   = "grvg"
	headerVersion = 2
	kindPackets   = 1
	kindStream    = 2

	// gossipProtocol names the protocol to the node's handshake.
	gossipProtocol = "grove.cluster.gossip"

	// packetQueue bounds the packets waiting for one peer's connection.
	packetQueue = 256
	// packetIdle is how long an unused outbound packet connection stays
	// open; packetReadIdle how long an inbound one waits for a packet.
	packetIdle     = 30 * time.Second
	packetReadIdle = 2 * packetIdle
	// headerTimeout bounds reading the header of an authenticated
	// connection.
	headerTimeout = 5 * time.Second
	// maxAddrLen bounds the address in a header.
	maxAddrLen = 255
	// packetReadBuf is the read buffer of an inbound packet connection.
	packetReadBuf = 16 << 10
)

// Stats counts a member's gossip traffic in both directions, as seen by the
// gossip transport (headers, handshakes and framing included), what it
// refused, and the member events that subscribed processes refused.
type Stats struct {
	BytesSent, BytesReceived       atomic.Uint64
	PacketsSent, PacketsReceived   atomic.Uint64
	PacketsDropped                 atomic.Uint64 // queue full, dial or write failed
	StreamsDialed, StreamsAccepted atomic.Uint64
	EventsRefused                  atomic.Uint64 // member events a subscribed process's mailbox refused
	// LinkMerges counts the state exchanges run because a node link
	// brought news (a node not known, known dead, or in an earlier life).
	LinkMerges atomic.Uint64

	// Connections that never authenticated, by how they ended.
	AuthRefused  atomic.Uint64 // wrong credentials, or bytes that are not a handshake
	AuthTimeouts atomic.Uint64 // no complete handshake within AuthTimeout
	AuthHangups  atomic.Uint64 // the peer closed, or refused us, before authenticating
	ConnsRefused atomic.Uint64 // closed at once: their host held MaxPendingPerHost, or MaxPendingConns were held by hosts with no larger share
	ConnsEvicted atomic.Uint64 // closed to make room for a newer one: MaxPendingConns were unauthenticated
	// BadHeaders counts authenticated connections whose header was
	// malformed, and packet connections cut for a packet of bad size.
	BadHeaders atomic.Uint64
}

// authenticator runs the node's handshake on gossip connections;
// *node.Node implements it. Its methods are called concurrently.
type authenticator interface {
	AuthenticateInbound(ctx context.Context, conn net.Conn, protocol string) (*node.AuthConn, error)
	AuthenticateOutbound(ctx context.Context, conn net.Conn, protocol, expect string) (*node.AuthConn, error)
}

var _ authenticator = (*node.Node)(nil)

// transportConfig is what a gossip transport needs besides its transport.
type transportConfig struct {
	bind, advertise string
	maxPacket       int
	dialTimeout     time.Duration
	authTimeout     time.Duration
	limits          connlimit.Config
	auth            authenticator
	// authenticated is told the name of every peer that passed the
	// handshake, either way. It must not block.
	authenticated func(name string)
	log           *slog.Logger
	noisy         limitedLogger
	stats         *Stats
}

// gossipTransport implements memberlist.NodeAwareTransport over a Grove
// transport. Its goroutines are owned by it and stopped by Shutdown.
type gossipTransport struct {
	tr        transport.Transport
	cfg       transportConfig
	ln        net.Listener
	advertise string
	advIP     net.IP
	advPort   int
	lim       *connlimit.Limiter
	log       *slog.Logger
	stats     *Stats

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	down   atomic.Bool

	mu struct {
		sync.Mutex
		peers     map[string]*packetPeer // advertised address → sender
		conns     map[net.Conn]struct{}  // accepted and dialed connections
		inPackets map[string]net.Conn    // authenticated peer and address → its inbound packet connection
	}
}

var _ memberlist.NodeAwareTransport = (*gossipTransport)(nil)

// newGossipTransport listens on cfg.bind and advertises cfg.advertise
// ("ip:port").
func newGossipTransport(ctx context.Context, tr transport.Transport, cfg transportConfig) (*gossipTransport, error) {
	ln, err := tr.Listen(ctx, cfg.bind)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip listen on %s: %w", cfg.bind, err)
	}
	advertise := cfg.advertise
	if advertise == "" {
		advertise = ln.Addr().String()
	}
	host, portStr, err := net.SplitHostPort(advertise)
	var ip net.IP
	var port int
	if err == nil {
		ip = net.ParseIP(host)
		port, err = strconv.Atoi(portStr)
	}
	if err != nil || ip == nil || ip.IsUnspecified() || port <= 0 || port > 65535 {
		ln.Close()
		return nil, fmt.Errorf("%w: gossip address %q must be a literal, specified IP and a port (set Advertise)", ErrInvalidConfig, advertise)
	}
	t := &gossipTransport{
		tr: tr, cfg: cfg, ln: ln, advertise: net.JoinHostPort(ip.String(), strconv.Itoa(port)),
		advIP: ip, advPort: port, lim: connlimit.New(cfg.limits), log: cfg.log, stats: cfg.stats,
		packetCh: make(chan *memberlist.Packet),
		streamCh: make(chan net.Conn),
	}
	t.mu.peers = map[string]*packetPeer{}
	t.mu.conns = map[net.Conn]struct{}{}
	t.mu.inPackets = map[string]net.Conn{}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.goFunc(t.acceptLoop)
	return t, nil
}

func (t *gossipTransport) goFunc(f func()) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
}

// track records c so that Shutdown closes it; false if shut down already.
func (t *gossipTransport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.down.Load() {
		return false
	}
	t.mu.conns[c] = struct{}{}
	return true
}

func (t *gossipTransport) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.mu.conns, c)
	t.mu.Unlock()
}

// Pending returns how many accepted connections have not authenticated yet.
func (t *gossipTransport) Pending() int { return t.lim.Pending() }

// FinalAdvertiseAddr returns the advertised gossip address.
func (t *gossipTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.advIP, t.advPort, nil
}

// WriteTo queues a packet for addr.
func (t *gossipTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress queues a packet for a.Addr without blocking: like a UDP
// send it succeeds locally and the packet may still be lost. The packet
// connection to a.Addr is opened on first use and its peer must prove it
// is a.Name, when memberlist names the member.
func (t *gossipTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	if t.down.Load() {
		return now, ErrClosed
	}
	if len(b) > t.cfg.maxPacket {
		t.stats.PacketsDropped.Add(1)
		return now, fmt.Errorf("cluster: packet of %d bytes exceeds %d", len(b), t.cfg.maxPacket)
	}
	buf := append([]byte(nil), b...)
	t.mu.Lock()
	p := t.mu.peers[a.Addr]
	if p == nil {
		if t.down.Load() {
			t.mu.Unlock()
			return now, ErrClosed
		}
		p = &packetPeer{t: t, addr: a.Addr, q: make(chan []byte, packetQueue)}
		t.mu.peers[a.Addr] = p
		t.goFunc(p.run)
	}
	if a.Name != "" {
		p.name = a.Name
	}
	select {
	case p.q <- buf:
	default:
		t.stats.PacketsDropped.Add(1)
	}
	t.mu.Unlock()
	return now, nil
}

// PacketCh returns the channel of received packets.
func (t *gossipTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// StreamCh returns the channel of accepted streams.
func (t *gossipTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// DialTimeout opens a stream to addr.
func (t *gossipTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream to a.Addr, whose peer must prove it is
// a.Name when that is set.
func (t *gossipTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	conn, err := t.dial(a.Addr, a.Name, kindStream, timeout)
	if err != nil {
		return nil, err
	}
	t.stats.StreamsDialed.Add(1)
	return conn, nil
}

// dial connects to addr, authenticates the peer (as expect, if set) and
// writes the header of kind.
func (t *gossipTransport) dial(addr, expect string, kind byte, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 || timeout > t.cfg.dialTimeout {
		timeout = t.cfg.dialTimeout
	}
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	raw, err := t.tr.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	c := &countingConn{Conn: raw, t: t}
	if !t.track(c) {
		raw.Close()
		return nil, ErrClosed
	}
	actx, acancel := context.WithTimeout(ctx, t.cfg.authTimeout)
	ac, err := t.cfg.auth.AuthenticateOutbound(actx, c, gossipProtocol, expect)
	acancel()
	if err != nil {
		c.Close()
		t.cfg.noisy.Log(slog.LevelWarn, "gossip dial refused", "gossip peer refused", slog.String("addr", addr), slog.String("expect", expect), slog.Any("err", err))
		return nil, fmt.Errorf("cluster: gossip with %s: %w", addr, err)
	}
	t.cfg.authenticated(ac.Peer)
	hdr := appendHeader(nil, kind, t.advertise)
	ac.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := ac.Write(hdr); err != nil {
		ac.Close()
		return nil, err
	}
	ac.SetWriteDeadline(time.Time{})
	return ac.Conn, nil
}

// Shutdown stops accepting, closes every connection and waits for the
// transport's goroutines. It is idempotent.
func (t *gossipTransport) Shutdown() error {
	t.mu.Lock()
	if t.down.Swap(true) {
		t.mu.Unlock()
		return nil
	}
	conns := make([]net.Conn, 0, len(t.mu.conns))
	for c := range t.mu.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	t.cancel()
	t.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	t.wg.Wait()
	return nil
}

// acceptLoop gives every accepted connection a slot of the limiter and a
// goroutine bounded by AuthTimeout, or closes it at once.
func (t *gossipTransport) acceptLoop() {
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			if t.down.Load() {
				return
			}
			// Out of file descriptors, most likely: wait for some to be
			// released rather than spin.
			t.cfg.noisy.Log(slog.LevelWarn, "gossip accept", "gossip accept failed", slog.Any("err", err))
			select {
			case <-t.ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		c := &countingConn{Conn: conn, t: t}
		host := connlimit.Host(conn.RemoteAddr())
		slot, err := t.lim.Admit(host, c)
		if err != nil {
			conn.Close()
			t.stats.ConnsRefused.Add(1)
			t.cfg.noisy.Log(slog.LevelWarn, "gossip limit", "gossip connection refused", slog.String("host", host), slog.Any("err", err))
			continue
		}
		if !t.track(c) {
			slot.Release()
			conn.Close()
			return
		}
		t.goFunc(func() { t.serve(c, slot) })
	}
}

// serve authenticates an accepted connection, reads its header and hands
// it on.
func (t *gossipTransport) serve(c *countingConn, slot *connlimit.Slot) {
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.authTimeout)
	ac, err := t.cfg.auth.AuthenticateInbound(ctx, c, gossipProtocol)
	cancel()
	if !slot.Release() {
		// Evicted: the limiter closed the connection.
		t.stats.ConnsEvicted.Add(1)
		c.Close()
		return
	}
	if err != nil {
		c.Close()
		if t.ctx.Err() != nil {
			return
		}
		remote := c.RemoteAddr().String()
		switch {
		case errors.Is(err, node.ErrAuthTimeout):
			t.stats.AuthTimeouts.Add(1)
			t.cfg.noisy.Log(slog.LevelInfo, "gossip auth timeout", "gossip connection closed: no handshake in time", slog.String("remote", remote))
		case errors.Is(err, node.ErrAuthRejected):
			t.stats.AuthHangups.Add(1)
			t.cfg.noisy.Log(slog.LevelDebug, "gossip auth hangup", "gossip connection closed by its peer before authenticating", slog.String("remote", remote))
		default:
			t.stats.AuthRefused.Add(1)
			t.cfg.noisy.Log(slog.LevelWarn, "gossip auth refused", "gossip connection refused", slog.String("remote", remote), slog.Any("err", err))
		}
		return
	}
	t.cfg.authenticated(ac.Peer)
	ac.SetReadDeadline(time.Now().Add(headerTimeout))
	kind, from, err := readHeader(ac)
	if err != nil {
		t.stats.BadHeaders.Add(1)
		t.cfg.noisy.Log(slog.LevelWarn, "gossip bad header", "gossip connection refused: bad header", slog.String("peer", ac.Peer), slog.Any("err", err))
		ac.Close()
		return
	}
	ac.SetReadDeadline(time.Time{})
	switch kind {
	case kindStream:
		t.stats.StreamsAccepted.Add(1)
		select {
		case t.streamCh <- ac.Conn: // memberlist owns and closes it now
		case <-t.ctx.Done():
			ac.Close()
		}
	case kindPackets:
		key := ac.Peer + "\x00" + from
		t.mu.Lock()
		old := t.mu.inPackets[key]
		t.mu.inPackets[key] = ac.Conn
		t.mu.Unlock()
		if old != nil {
			old.Close() // the sender redialed: the older connection is dead to it
		}
		t.readPackets(ac, gossipAddr(from))
		t.mu.Lock()
		if t.mu.inPackets[key] == ac.Conn {
			delete(t.mu.inPackets, key)
		}
		t.mu.Unlock()
		ac.Close()
	}
}

// readPackets delivers the packets of an authenticated packet connection
// until it ends or stays silent for packetReadIdle.
func (t *gossipTransport) readPackets(c *node.AuthConn, from gossipAddr) {
	r := bufio.NewReaderSize(c, packetReadBuf)
	for {
		c.SetReadDeadline(time.Now().Add(packetReadIdle))
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return
		}
		if n == 0 || n > uint64(t.cfg.maxPacket) {
			t.stats.BadHeaders.Add(1)
			t.cfg.noisy.Log(slog.LevelWarn, "gossip packet size", "gossip packet of bad size", slog.String("peer", c.Peer), slog.Uint64("size", n))
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		t.stats.PacketsReceived.Add(1)
		select {
		case t.packetCh <- &memberlist.Packet{Buf: buf, From: from, Timestamp: time.Now()}:
		case <-t.ctx.Done():
			return
		}
	}
}

// packetPeer owns the packet connection to one peer.
type packetPeer struct {
	t    *gossipTransport
	addr string
	name string // the member memberlist last named for addr; guarded by t.mu
	q    chan []byte
}

func (p *packetPeer) run() {
	t := p.t
	var conn net.Conn
	var w *bufio.Writer
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	idle := time.NewTimer(packetIdle)
	defer idle.Stop()
	for {
		var pkt []byte
		select {
		case <-t.ctx.Done():
			return
		case <-idle.C:
			t.mu.Lock()
			if len(p.q) == 0 {
				delete(t.mu.peers, p.addr)
				t.mu.Unlock()
				return
			}
			t.mu.Unlock()
			idle.Reset(packetIdle)
			continue
		case pkt = <-p.q:
		}
		idle.Reset(packetIdle)
		if conn == nil {
			t.mu.Lock()
			expect := p.name
			t.mu.Unlock()
			c, err := t.dial(p.addr, expect, kindPackets, t.cfg.dialTimeout)
			if err != nil {
				t.stats.PacketsDropped.Add(1 + uint64(p.drain()))
				continue
			}
			conn, w = c, bufio.NewWriterSize(c, 16<<10)
		}
		// Write this packet and whatever else is queued, then flush once.
		conn.SetWriteDeadline(time.Now().Add(t.cfg.dialTimeout))
		err := p.write(w, pkt)
		for err == nil && len(p.q) > 0 {
			err = p.write(w, <-p.q)
		}
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			t.stats.PacketsDropped.Add(1)
			conn.Close()
			conn, w = nil, nil
		}
	}
}

func (p *packetPeer) write(w *bufio.Writer, pkt []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(pkt)))
	if _, err := w.Write(hdr[:n]); err != nil {
		return err
	}
	if _, err := w.Write(pkt); err != nil {
		return err
	}
	p.t.stats.PacketsSent.Add(1)
	return nil
}

// drain drops the queued packets and returns how many there were.
func (p *packetPeer) drain() int {
	n := 0
	for {
		select {
		case <-p.q:
			n++
		default:
			return n
		}
	}
}

// appendHeader appends a connection header.
func appendHeader(b []byte, kind byte, from string) []byte {
	b = append(b, headerMagic...)
	b = append(b, headerVersion, kind)
	b = binary.BigEndian.AppendUint16(b, uint16(len(from)))
	return append(b, from...)
}

var errBadHeader = errors.New("cluster: bad gossip connection header")

// readHeader reads a connection header.
func readHeader(r io.Reader) (kind byte, from string, err error) {
	var fixed [8]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return 0, "", err
	}
	if string(fixed[:4]) != headerMagic || fixed[4] != headerVersion {
		return 0, "", errBadHeader
	}
	kind = fixed[5]
	if kind != kindPackets && kind != kindStream {
		return 0, "", errBadHeader
	}
	n := binary.BigEndian.Uint16(fixed[6:])
	if n > maxAddrLen {
		return 0, "", errBadHeader
	}
	addr := make([]byte, n)
	if _, err := io.ReadFull(r, addr); err != nil {
		return 0, "", err
	}
	return kind, string(addr), nil
}

// gossipAddr is the net.Addr of a packet's sender: its advertised address.
type gossipAddr string

func (a gossipAddr) Network() string { return "grove-gossip" }
func (a gossipAddr) String() string  { return string(a) }

// countingConn counts bytes and untracks itself on Close.
type countingConn struct {
	net.Conn
	t    *gossipTransport
	once sync.Once
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.t.stats.BytesReceived.Add(uint64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.t.stats.BytesSent.Add(uint64(n))
	return n, err
}

func (c *countingConn) Close() error {
	c.once.Do(func() { c.t.untrack(c) })
	return c.Conn.Close()
}

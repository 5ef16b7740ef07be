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

	"github.com/grovedev/grove/transport"
)

// The gossip transport carries memberlist's packets and streams over a Grove
// transport.Transport, so that the in-memory network (and any fault-injecting
// wrapper around a Transport) carries all membership traffic.
//
// Every connection starts with a header: the magic "grvg", a version byte, a
// kind byte and, for packet connections, the sender's advertised gossip
// address (a 2-byte big-endian length and the bytes).
//
//   - kindPackets: a one-way connection from the sender to the receiver
//     carrying packets, each a uvarint length and the bytes. A node keeps one
//     such connection per peer it sends packets to, opened on first use and
//     closed after it idles for packetIdle. Packets are best effort as with
//     UDP: a full queue, a failed dial or a failed write drops them.
//   - kindStream: one memberlist stream (push/pull, TCP fallback probes,
//     reliable user messages); after the header the bytes are memberlist's.
const (
	headerMagic   = "grvg"
	headerVersion = 1
	kindPackets   = 1
	kindStream    = 2

	// packetQueue bounds the packets waiting for one peer's connection.
	packetQueue = 256
	// packetIdle is how long an unused packet connection stays open.
	packetIdle = 30 * time.Second
	// headerTimeout bounds reading the header of an accepted connection.
	headerTimeout = 5 * time.Second
	// maxAddrLen bounds the address in a header.
	maxAddrLen = 255
)

// Stats counts a member's gossip traffic in both directions, as seen by the
// gossip transport (headers and framing included), and the member events
// that subscribed processes refused.
type Stats struct {
	BytesSent, BytesReceived       atomic.Uint64
	PacketsSent, PacketsReceived   atomic.Uint64
	PacketsDropped                 atomic.Uint64 // queue full, dial or write failed
	StreamsDialed, StreamsAccepted atomic.Uint64
	EventsRefused                  atomic.Uint64 // member events a subscribed process's mailbox refused
}

// gossipTransport implements memberlist.NodeAwareTransport over a Grove
// transport. Its goroutines are owned by it and stopped by Shutdown.
type gossipTransport struct {
	tr        transport.Transport
	ln        net.Listener
	advertise string
	advIP     net.IP
	advPort   int
	maxPacket int
	dialTO    time.Duration
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
		peers map[string]*packetPeer // advertised address → sender
		conns map[net.Conn]struct{}  // accepted and dialed connections
	}
}

var _ memberlist.NodeAwareTransport = (*gossipTransport)(nil)

// newGossipTransport listens on bind and advertises advertise ("ip:port").
func newGossipTransport(ctx context.Context, tr transport.Transport, bind, advertise string, maxPacket int, dialTO time.Duration, log *slog.Logger, stats *Stats) (*gossipTransport, error) {
	ln, err := tr.Listen(ctx, bind)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip listen on %s: %w", bind, err)
	}
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
		tr: tr, ln: ln, advertise: net.JoinHostPort(ip.String(), strconv.Itoa(port)),
		advIP: ip, advPort: port, maxPacket: maxPacket, dialTO: dialTO, log: log, stats: stats,
		packetCh: make(chan *memberlist.Packet),
		streamCh: make(chan net.Conn),
	}
	t.mu.peers = map[string]*packetPeer{}
	t.mu.conns = map[net.Conn]struct{}{}
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

// FinalAdvertiseAddr returns the advertised gossip address.
func (t *gossipTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.advIP, t.advPort, nil
}

// WriteTo queues a packet for addr.
func (t *gossipTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress queues a packet for a.Addr without blocking: like a UDP
// send it succeeds locally and the packet may still be lost.
func (t *gossipTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	if t.down.Load() {
		return now, ErrClosed
	}
	if len(b) > t.maxPacket {
		t.stats.PacketsDropped.Add(1)
		return now, fmt.Errorf("cluster: packet of %d bytes exceeds %d", len(b), t.maxPacket)
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

// DialAddressTimeout opens a stream to a.Addr.
func (t *gossipTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	conn, err := t.dial(a.Addr, kindStream, timeout)
	if err != nil {
		return nil, err
	}
	t.stats.StreamsDialed.Add(1)
	return conn, nil
}

// dial connects to addr and writes the header of kind.
func (t *gossipTransport) dial(addr string, kind byte, timeout time.Duration) (*countingConn, error) {
	if timeout <= 0 || timeout > t.dialTO {
		timeout = t.dialTO
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
	hdr := appendHeader(nil, kind, t.advertise)
	raw.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write(hdr); err != nil {
		c.Close()
		return nil, err
	}
	raw.SetWriteDeadline(time.Time{})
	return c, nil
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

func (t *gossipTransport) acceptLoop() {
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			if t.down.Load() {
				return
			}
			select {
			case <-t.ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		c := &countingConn{Conn: conn, t: t}
		if !t.track(c) {
			conn.Close()
			return
		}
		t.goFunc(func() { t.serve(c) })
	}
}

// serve reads the header of an accepted connection and hands it on.
func (t *gossipTransport) serve(c *countingConn) {
	c.SetReadDeadline(time.Now().Add(headerTimeout))
	kind, from, err := readHeader(c)
	if err != nil {
		t.log.Debug("gossip connection refused", slog.String("remote", c.RemoteAddr().String()), slog.Any("err", err))
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	switch kind {
	case kindStream:
		t.stats.StreamsAccepted.Add(1)
		select {
		case t.streamCh <- c: // memberlist owns and closes it now
		case <-t.ctx.Done():
			c.Close()
		}
	case kindPackets:
		t.readPackets(c, gossipAddr(from))
		c.Close()
	}
}

// readPackets delivers the packets of a packet connection until it ends.
func (t *gossipTransport) readPackets(c *countingConn, from gossipAddr) {
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return
		}
		if n == 0 || n > uint64(t.maxPacket) {
			t.log.Warn("gossip packet of bad size", slog.String("from", string(from)), slog.Uint64("size", n))
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
	q    chan []byte
}

func (p *packetPeer) run() {
	t := p.t
	var conn *countingConn
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
			c, err := t.dial(p.addr, kindPackets, t.dialTO)
			if err != nil {
				t.stats.PacketsDropped.Add(1 + uint64(p.drain()))
				continue
			}
			conn, w = c, bufio.NewWriterSize(c, 64<<10)
		}
		// Write this packet and whatever else is queued, then flush once.
		err := p.write(w, pkt)
		for err == nil && len(p.q) > 0 {
			err = p.write(w, <-p.q)
		}
		if err == nil {
			conn.SetWriteDeadline(time.Now().Add(t.dialTO))
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

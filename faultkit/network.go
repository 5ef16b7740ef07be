package faultkit

import (
	"context"
	"hash/fnv"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/grovedev/grove/clock"
	"github.com/grovedev/grove/transport"
	"github.com/grovedev/grove/transport/memnet"
)

// Link is one direction between two endpoints: bytes written by From toward
// To.
type Link struct{ From, To string }

// String returns "from->to".
func (l Link) String() string { return l.From + "->" + l.To }

// Config tunes a Network. The zero value is usable.
type Config struct {
	// Seed makes every random decision of the network reproducible: each
	// connection draws from its own generator, seeded from Seed, its link
	// and its rank among the connections of that link.
	Seed uint64
	// Memnet tunes the in-memory network underneath.
	Memnet memnet.Config
	// Clock times delays and bandwidth. Default clock.Real. With a manual
	// clock, delayed bytes leave only when the test moves the clock.
	Clock clock.Clock
}

// Stats counts what the fault layer did. Fields are updated atomically.
type Stats struct {
	Writes     atomic.Uint64 // writes that went through a faulty link
	Delayed    atomic.Uint64 // writes held back by delay or bandwidth
	Dropped    atomic.Uint64 // writes lost (WholeWrites)
	Cut        atomic.Uint64 // connections cut by a drop
	Duplicated atomic.Uint64
	Reordered  atomic.Uint64
}

// Network is an in-memory network (package memnet) with fault injection:
// per-link faults on every connection (see Faults), partitions (see
// Partition) and paused endpoints. It is safe for concurrent use.
//
// Partitions and pauses are kept apart: Heal removes the partition but a
// paused endpoint stays paused until Resume, and link faults stay until
// ClearFaults. The memnet blocks applied are always the union of both.
type Network struct {
	seed  uint64
	mem   *memnet.Network
	clk   clock.Clock
	stats Stats

	mu struct {
		sync.Mutex
		names     map[string]bool
		def       Faults
		faults    map[Link]Faults
		partition Partition
		cut       map[Link]bool // links of the partition
		paused    map[string]bool
		applied   map[Link]bool // links blocked on memnet
		connSeq   map[Link]uint64
	}
}

// NewNetwork returns an empty network.
func NewNetwork(cfg Config) *Network {
	n := &Network{seed: cfg.Seed, mem: memnet.New(cfg.Memnet), clk: cfg.Clock}
	if n.clk == nil {
		n.clk = clock.Real
	}
	n.mu.names = map[string]bool{}
	n.mu.faults = map[Link]Faults{}
	n.mu.cut = map[Link]bool{}
	n.mu.paused = map[string]bool{}
	n.mu.applied = map[Link]bool{}
	n.mu.connSeq = map[Link]uint64{}
	return n
}

// Memnet returns the in-memory network underneath, for ResetLink and the
// like. Blocking links on it directly bypasses the Network's bookkeeping.
func (n *Network) Memnet() *memnet.Network { return n.mem }

// Stats returns the network's counters.
func (n *Network) Stats() *Stats { return &n.stats }

// Endpoint returns the transport of the simulated host called name: memnet's
// endpoint wrapped by the fault layer. Like memnet, a closed endpoint is
// replaced by a fresh one, as a host that restarts.
func (n *Network) Endpoint(name string) *Transport {
	ep := n.mem.Endpoint(name)
	n.mu.Lock()
	n.mu.names[name] = true
	n.syncLocked()
	n.mu.Unlock()
	return &Transport{nw: n, name: name, inner: ep}
}

// Wrap puts the fault layer around any transport, for the endpoint called
// name. Faults apply on the writing side of each connection; the peer of a
// connection is the memnet endpoint name when inner is memnet, and
// otherwise the dialed address (outbound) or the remote address (inbound).
// Partitions and pauses act only on memnet endpoints of this Network.
func (n *Network) Wrap(name string, inner transport.Transport) *Transport {
	return &Transport{nw: n, name: name, inner: inner}
}

// Names returns the endpoints created through Endpoint, sorted.
func (n *Network) Names() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.namesLocked()
}

func (n *Network) namesLocked() []string {
	out := make([]string, 0, len(n.mu.names))
	for k := range n.mu.names {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// SetFaults sets the faults of the link from → to, replacing earlier ones.
// It applies to writes made from now on, on existing connections too. An
// invalid f (see Faults.Validate) is refused and changes nothing.
func (n *Network) SetFaults(from, to string, f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.faults[Link{from, to}] = f
	return nil
}

// SetDefaultFaults sets the faults of every link without faults of its
// own. An invalid f is refused and changes nothing.
func (n *Network) SetDefaultFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.def = f
	return nil
}

// ClearFaults makes every link healthy again. Writes already delayed still
// leave at their time.
func (n *Network) ClearFaults() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.mu.faults)
	n.mu.def = Faults{}
}

func (n *Network) faultsFor(l Link) Faults {
	n.mu.Lock()
	defer n.mu.Unlock()
	if f, ok := n.mu.faults[l]; ok {
		return f
	}
	return n.mu.def
}

// Partition replaces the current partition by p: the links p cuts stall
// (bytes stay buffered, new dials fail), the others flow again unless an
// endpoint is paused.
func (n *Network) Partition(p Partition) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.partition = p
	clear(n.mu.cut)
	for _, l := range p.Cut {
		n.mu.cut[l] = true
	}
	n.syncLocked()
}

// Current returns the partition in force (the zero Partition when healed).
func (n *Network) Current() Partition {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.partition
}

// Heal removes the partition. Paused endpoints stay paused and link faults
// stay; use HealAll to undo everything.
func (n *Network) Heal() { n.Partition(Partition{}) }

// HealAll removes the partition, resumes every paused endpoint and clears
// all link faults.
func (n *Network) HealAll() {
	n.mu.Lock()
	clear(n.mu.paused)
	n.mu.Unlock()
	n.ClearFaults()
	n.Heal()
}

// Pause stalls every byte to and from the endpoint name, as a host stopped
// with SIGSTOP: its connections stay open and keep what was sent, nothing
// is read or delivered until Resume, and new dials to or from it fail. The
// processes of a node in this process keep running; only its network
// stalls (see the package documentation).
func (n *Network) Pause(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.names[name] = true
	n.mu.paused[name] = true
	n.syncLocked()
}

// Resume undoes Pause.
func (n *Network) Resume(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.mu.paused, name)
	n.syncLocked()
}

// Paused reports whether name is paused.
func (n *Network) Paused(name string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.paused[name]
}

// syncLocked makes memnet's blocks the union of the partition and the
// pauses.
func (n *Network) syncLocked() {
	want := map[Link]bool{}
	for l := range n.mu.cut {
		want[l] = true
	}
	names := n.namesLocked()
	for p := range n.mu.paused {
		for _, o := range names {
			if o != p {
				want[Link{p, o}] = true
				want[Link{o, p}] = true
			}
		}
	}
	for l := range n.mu.applied {
		if !want[l] {
			n.mem.Unblock(l.From, l.To)
			delete(n.mu.applied, l)
		}
	}
	for l := range want {
		if !n.mu.applied[l] {
			n.mem.Block(l.From, l.To)
			n.mu.applied[l] = true
		}
	}
}

// Close closes every endpoint of the network (connections see EOF) and
// removes partitions, pauses and faults. The network stays usable.
func (n *Network) Close() error {
	n.HealAll()
	return n.mem.Close()
}

// seedFor returns the seed of the next connection on link l.
func (n *Network) seedFor(l Link) (uint64, uint64) {
	n.mu.Lock()
	seq := n.mu.connSeq[l]
	n.mu.connSeq[l] = seq + 1
	n.mu.Unlock()
	h := fnv.New64a()
	h.Write([]byte(l.From))
	h.Write([]byte{0})
	h.Write([]byte(l.To))
	return n.seed, h.Sum64() ^ (seq * 0x9e3779b97f4a7c15)
}

// Transport is the fault layer around one endpoint's transport.Transport.
// It is safe for concurrent use.
type Transport struct {
	nw    *Network
	name  string
	inner transport.Transport
}

var _ transport.Transport = (*Transport)(nil)

// Name returns the endpoint's name.
func (t *Transport) Name() string { return t.name }

// Dial connects to addr through the inner transport and wraps the
// connection.
func (t *Transport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := t.inner.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return t.nw.wrapConn(t.name, peerName(c.RemoteAddr(), addr), c), nil
}

// Listen listens through the inner transport; accepted connections are
// wrapped.
func (t *Transport) Listen(ctx context.Context, addr string) (net.Listener, error) {
	ln, err := t.inner.Listen(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &listener{Listener: ln, t: t}, nil
}

// Close closes the inner transport. For a memnet endpoint that is the
// host dying: every connection is closed.
func (t *Transport) Close() error { return t.inner.Close() }

type listener struct {
	net.Listener
	t *Transport
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	ra := c.RemoteAddr()
	s := ""
	if ra != nil {
		s = ra.String()
	}
	return l.t.nw.wrapConn(l.t.name, peerName(ra, s), c), nil
}

func peerName(a net.Addr, fallback string) string {
	if m, ok := a.(memnet.Addr); ok && m.Name != "" {
		return m.Name
	}
	if m, ok := a.(*memnet.Addr); ok && m != nil && m.Name != "" {
		return m.Name
	}
	return fallback
}

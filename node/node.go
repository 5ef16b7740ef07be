package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/internal/connlimit"
	"github.com/grovedev/grove/internal/ratelog"
	"github.com/grovedev/grove/node/internal/handshake"
	"github.com/grovedev/grove/proc"
)

// Errors of the node layer.
var (
	// ErrUnknownNode is returned for a node whose address is not known.
	ErrUnknownNode = errors.New("node: address of node unknown")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("node: closed")
	// ErrSelf is returned when a connection attempt reaches this node
	// itself, as a discovered address of our own may.
	ErrSelf = errors.New("node: connected to itself")
	// ErrStaleIncarnation is returned for a PID of an earlier incarnation of
	// a connected node: that process is gone.
	ErrStaleIncarnation = errors.New("node: PID of an earlier incarnation")
)

// Node joins a proc.Runtime to other nodes: it accepts and dials
// authenticated links and carries messages, calls and signals of the
// runtime's processes over them. It is safe for concurrent use.
type Node struct {
	rt  *proc.Runtime
	cfg Config
	hs  *handshake.Config
	log *slog.Logger
	// logLimited writes lines a peer can trigger at will (refusals,
	// drops) at a rate that cannot flood.
	logLimited *ratelog.Limiter
	gate       *connlimit.Limiter // connections not yet authenticated
	ln         net.Listener
	addr       string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	mu struct {
		sync.Mutex
		peers     map[string]*peer
		dialing   map[string]*dialing
		book      map[string]string // node name → address
		wanted    map[string]bool   // nodes kept connected by Connect
		redialing map[string]bool   // nodes a redial loop works on
		subs      map[int]func(Event)
		nextSub   int
		changed   chan struct{} // closed and replaced whenever peers changes
	}

	inflow   inflow
	calls    calls
	funcs    sync.Map // name → Func
	spawners sync.Map // name → SpawnFunc
	stats    Stats
}

// dialing is a connection attempt in progress, outbound or inbound (an
// authenticated handshake not yet registered), which others wait for
// instead of opening a second link to the same node.
type dialing struct {
	done    chan struct{}
	err     error
	inbound bool
}

// Start attaches a node to rt: it starts listening (when cfg.Listen is set)
// and routes the runtime's remote PIDs through the node. rt's node name must
// equal cfg.Name.
func Start(ctx context.Context, rt *proc.Runtime, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rt.Node() != cfg.Name {
		return nil, fmt.Errorf("node: runtime is named %q, config %q", rt.Node(), cfg.Name)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	for code, sentinel := range map[uint32]error{
		// Codes below codec.CodeUser are Grove's own; 64 and up are the node's.
		64: ErrNoSuchFunction, 65: ErrNoSuchSpawnable, 66: ErrStaleIncarnation,
		67: ErrUnknownNode, 68: ErrClosed,
	} {
		// A registry shared by several nodes already knows them.
		if err := cfg.Codec.RegisterError(code, sentinel); err != nil && !errors.Is(err, codec.ErrDuplicate) {
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	n := &Node{rt: rt, cfg: cfg, log: cfg.Logger}
	if n.log == nil {
		n.log = rt.Logger()
	}
	n.log = n.log.With(slog.String("node", cfg.Name))
	n.logLimited = ratelog.New(n.log, ratelog.Config{})
	n.gate = connlimit.New(connlimit.Config{MaxTotal: cfg.MaxPendingHandshakes, MaxPerHost: cfg.MaxPendingPerAddr})
	var hsTLS *handshake.TLSConfig
	if cfg.TLS != nil {
		hsTLS = &handshake.TLSConfig{Certificate: cfg.TLS.Certificate, Roots: cfg.TLS.Roots}
	}
	n.hs = &handshake.Config{
		Name:        cfg.Name,
		Creation:    rt.Creation(),
		Secret:      cfg.Cookie,
		TLS:         hsTLS,
		Timeout:     cfg.ConnectTimeout,
		Unencrypted: cfg.Unencrypted,
	}
	if err := n.hs.Validate(); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.mu.peers = map[string]*peer{}
	n.mu.dialing = map[string]*dialing{}
	n.mu.book = map[string]string{}
	n.mu.wanted = map[string]bool{}
	n.mu.redialing = map[string]bool{}
	n.mu.subs = map[int]func(Event){}
	n.mu.changed = make(chan struct{})
	n.calls.m = map[uint64]*pendingCall{}
	n.inflow.limit = int64(cfg.MaxRemoteQueued)
	n.inflow.wake = make(chan struct{}, 1)
	n.inflow.mu.paused = map[*peer]struct{}{}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.goFunc(n.flowLoop)
	if cfg.Listen != "" {
		ln, err := cfg.Transport.Listen(ctx, cfg.Listen)
		if err != nil {
			n.cancel()
			return nil, fmt.Errorf("node: listen: %w", err)
		}
		n.ln = ln
		n.addr = ln.Addr().String()
		n.wg.Add(1)
		go n.acceptLoop()
	}
	if cfg.Advertise != "" {
		n.addr = cfg.Advertise
	}
	rt.TrackRemote((*tracker)(n))
	rt.SetRemote(remote{n})
	return n, nil
}

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Addr returns the address other nodes should dial.
func (n *Node) Addr() string { return n.addr }

// Runtime returns the node's process runtime.
func (n *Node) Runtime() *proc.Runtime { return n.rt }

// Codec returns the registry messages are encoded with.
func (n *Node) Codec() *codec.Registry { return n.cfg.Codec }

// Close disconnects every peer (their links and monitors see
// ErrNoConnection), stops listening and waits for the node's goroutines.
// It does not close the runtime. Close is idempotent.
func (n *Node) Close() error {
	if !n.closed.CompareAndSwap(false, true) {
		return nil
	}
	n.rt.SetRemote(nil)
	n.cancel()
	if n.ln != nil {
		n.ln.Close()
	}
	// Taking n.mu after closed is set and before Wait is what makes
	// goIfOpen safe (see there).
	n.mu.Lock()
	peers := make([]*peer, 0, len(n.mu.peers))
	for _, p := range n.mu.peers {
		peers = append(peers, p)
	}
	n.mu.Unlock()
	for _, p := range peers {
		p.close(ErrClosed)
	}
	n.wg.Wait()
	n.calls.failAll(fmt.Errorf("%w: %w", proc.ErrNoConnection, ErrClosed))
	return nil
}

// go runs f on a goroutine owned by the node.
func (n *Node) goFunc(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// Nodes returns the names of the connected nodes, sorted.
func (n *Node) Nodes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.mu.peers))
	for name := range n.mu.peers {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// AddAddress records where node can be reached, so that a first message to
// one of its processes connects on demand, as Erlang does.
func (n *Node) AddAddress(node, addr string) {
	n.mu.Lock()
	n.mu.book[node] = addr
	n.mu.Unlock()
}

// Connect connects to node at addr and keeps it connected: when the link
// breaks, or this first attempt fails, the node redials with jittered
// exponential backoff until Disconnect or Close. The error is that of the
// first attempt.
func (n *Node) Connect(ctx context.Context, node, addr string) error {
	n.mu.Lock()
	n.mu.book[node] = addr
	n.mu.wanted[node] = true
	n.mu.Unlock()
	_, err := n.peer(ctx, node)
	if err != nil {
		n.startRedial(node)
	}
	return err
}

// ConnectAddr connects to whatever node listens at addr, for seeds known
// only by address, and keeps it connected like Connect. It returns the
// node's name.
func (n *Node) ConnectAddr(ctx context.Context, addr string) (string, error) {
	if n.closed.Load() {
		return "", ErrClosed
	}
	p, err := n.dial(ctx, "", addr)
	if err != nil {
		return "", err
	}
	n.mu.Lock()
	n.mu.book[p.name] = addr
	n.mu.wanted[p.name] = true
	n.mu.Unlock()
	return p.name, nil
}

// Disconnect closes the link to node and stops keeping it connected.
func (n *Node) Disconnect(node string) {
	n.mu.Lock()
	delete(n.mu.wanted, node)
	p := n.mu.peers[node]
	n.mu.Unlock()
	if p != nil {
		p.close(errDisconnected)
	}
}

var (
	errDisconnected  = errors.New("node: disconnected")
	errDuplicateLink = errors.New("node: a link to that node is already up")
)

// peer returns the link to node, connecting if needed.
func (n *Node) peer(ctx context.Context, node string) (*peer, error) {
	if node == n.cfg.Name {
		return nil, fmt.Errorf("node: %s is this node", node)
	}
	n.mu.Lock()
	if n.closed.Load() {
		n.mu.Unlock()
		return nil, ErrClosed
	}
	if p := n.mu.peers[node]; p != nil {
		n.mu.Unlock()
		return p, nil
	}
	if d := n.mu.dialing[node]; d != nil {
		n.mu.Unlock()
		return n.waitDial(ctx, node, d)
	}
	addr, ok := n.mu.book[node]
	if !ok {
		n.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrUnknownNode, node)
	}
	d := &dialing{done: make(chan struct{})}
	n.mu.dialing[node] = d
	changed := n.mu.changed
	n.mu.Unlock()

	p, err := n.dial(ctx, node, addr)
	if err != nil && errors.Is(err, handshake.ErrPeerHasLink) {
		// The peer authenticated us and has a link to us up or opening:
		// both nodes dialed at once and the peer's link wins (the one
		// dialed by the smaller name). Wait for it to register here. Any
		// other refusal (a wrong cookie, a certificate) is final at once.
		p, err = n.awaitPeer(ctx, node, changed, err)
	}
	n.mu.Lock()
	delete(n.mu.dialing, node)
	d.err = err
	n.mu.Unlock()
	close(d.done)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// waitDial waits for another goroutine's attempt to link to node and
// returns its outcome.
func (n *Node) waitDial(ctx context.Context, node string, d *dialing) (*peer, error) {
	select {
	case <-d.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	n.mu.Lock()
	p := n.mu.peers[node]
	n.mu.Unlock()
	switch {
	case p != nil:
		return p, nil
	case d.err != nil:
		return nil, d.err
	}
	// The attempt succeeded but the link died before we looked.
	return nil, fmt.Errorf("%w: link to %s lost as it opened", proc.ErrNoConnection, node)
}

// awaitPeer waits up to the connect timeout for node to connect to us.
func (n *Node) awaitPeer(ctx context.Context, node string, changed chan struct{}, cause error) (*peer, error) {
	t := time.NewTimer(n.cfg.ConnectTimeout)
	defer t.Stop()
	for {
		n.mu.Lock()
		p := n.mu.peers[node]
		if p == nil {
			changed = n.mu.changed
		}
		n.mu.Unlock()
		if p != nil {
			return p, nil
		}
		select {
		case <-changed:
		case <-t.C:
			return nil, cause
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// dial connects and authenticates a link to node.
func (n *Node) dial(ctx context.Context, node, addr string) (*peer, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ConnectTimeout)
	defer cancel()
	conn, err := n.cfg.Transport.Dial(ctx, addr)
	if err != nil {
		n.stats.DialFailures.Add(1)
		return nil, fmt.Errorf("%w: dial %s at %s: %w", proc.ErrNoConnection, node, addr, err)
	}
	hp, err := handshake.Client(ctx, conn, n.hs, node)
	if err != nil {
		conn.Close()
		n.refusedAs(classify(err), node, addr, err)
		return nil, fmt.Errorf("%w: handshake with %s: %w", proc.ErrNoConnection, node, err)
	}
	return n.register(hp, n.cfg.Name)
}

func (n *Node) acceptLoop() {
	defer n.wg.Done()
	for {
		conn, err := n.ln.Accept()
		if err != nil {
			if n.closed.Load() {
				return
			}
			n.log.Warn("accept failed", slog.Any("err", err))
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		// Until it authenticates, a connection holds a slot of the gate,
		// one goroutine and the handshake's small buffers, for at most
		// HandshakeTimeout from now.
		now := time.Now()
		pend, err := n.gate.Admit(connlimit.Host(conn.RemoteAddr()), conn)
		if err != nil {
			conn.Close()
			kind := refusedLimitTotal
			if errors.Is(err, connlimit.ErrHostFull) {
				kind = refusedLimitAddr
			}
			n.refusedAs(kind, "", conn.RemoteAddr().String(), nil)
			continue
		}
		deadline := now.Add(n.cfg.HandshakeTimeout)
		_ = conn.SetDeadline(deadline)
		n.goFunc(func() { n.accept(conn, pend, deadline) })
	}
}

func (n *Node) accept(conn net.Conn, pend *connlimit.Slot, deadline time.Time) {
	ctx, cancel := context.WithDeadline(n.ctx, deadline)
	defer cancel()
	var claim *dialing
	var claimed string
	hs := *n.hs
	hs.Timeout = n.cfg.HandshakeTimeout
	hs.IsDuplicate = func(name string, creation uint64) bool {
		dup, c := n.claimInbound(name, creation)
		claim, claimed = c, name
		return dup
	}
	hp, err := handshake.Server(ctx, conn, &hs)
	evicted := !pend.Release()
	if err != nil {
		conn.Close()
		kind := classify(err)
		if evicted {
			kind = refusedEvicted
		}
		n.refusedAs(kind, "", conn.RemoteAddr().String(), err)
	} else if _, err = n.register(hp, hp.Name); err != nil {
		n.log.Warn("node link dropped", slog.String("peer", hp.Name), slog.Any("err", err))
	}
	if claim != nil {
		n.mu.Lock()
		if n.mu.dialing[claimed] == claim {
			delete(n.mu.dialing, claimed)
		}
		claim.err = err
		n.mu.Unlock()
		close(claim.done)
	}
}

// claimInbound decides whether an authenticated inbound handshake from name
// may become the link to that node. It refuses a node already connected in
// the same incarnation, a second inbound handshake, and, when both nodes
// dial each other at once, the link dialed by the greater name: both sides
// then keep the same link. An accepted handshake claims the node until it
// is registered, so that a dial started meanwhile waits for it.
func (n *Node) claimInbound(name string, creation uint64) (dup bool, claim *dialing) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.mu.peers[name]; p != nil && p.creation == creation {
		return true, nil
	}
	if d := n.mu.dialing[name]; d != nil {
		if d.inbound || n.cfg.Name < name {
			return true, nil
		}
		// Their link wins; our own dial will be refused and waits for this.
		return false, nil
	}
	claim = &dialing{done: make(chan struct{}), inbound: true}
	n.mu.dialing[name] = claim
	return false, claim
}

// register makes an authenticated connection the link to its node. A link
// to an earlier incarnation of the same node is closed first: that node
// restarted.
func (n *Node) register(hp *handshake.Peer, dialer string) (*peer, error) {
	if hp.Name == n.cfg.Name {
		// A seed address or a DNS answer that leads back to this node.
		hp.Conn.Close()
		return nil, fmt.Errorf("%w: %s", ErrSelf, hp.Name)
	}
	p := newPeer(n, hp)
	n.mu.Lock()
	if n.closed.Load() {
		n.mu.Unlock()
		p.close(ErrClosed)
		return nil, ErrClosed
	}
	old := n.mu.peers[hp.Name]
	if old != nil && old.creation == hp.Creation {
		n.mu.Unlock()
		p.close(errDuplicateLink)
		return old, nil
	}
	n.mu.Unlock()
	if old != nil {
		old.close(fmt.Errorf("node: %s restarted", hp.Name))
		<-old.down
	}
	n.mu.Lock()
	if cur := n.mu.peers[hp.Name]; cur != nil {
		n.mu.Unlock()
		p.close(errDuplicateLink)
		return cur, nil
	}
	n.mu.peers[hp.Name] = p
	close(n.mu.changed)
	n.mu.changed = make(chan struct{})
	n.mu.Unlock()
	p.start()
	n.stats.Connects.Add(1)
	n.log.Info("nodeup", slog.String("peer", hp.Name), slog.String("dialer", dialer))
	n.emit(Event{Node: hp.Name, Creation: hp.Creation, Up: true})
	return p, nil
}

// peerDown is called once when a link ends: the runtime's links and
// monitors across it fire, pending calls fail, and a wanted node is
// redialed.
func (n *Node) peerDown(p *peer, reason error) {
	n.mu.Lock()
	registered := n.mu.peers[p.name] == p
	if registered {
		delete(n.mu.peers, p.name)
		close(n.mu.changed)
		n.mu.changed = make(chan struct{})
	}
	wanted := n.mu.wanted[p.name] && !n.closed.Load()
	n.mu.Unlock()
	n.forgetFlow(p)
	p.stopDrops()
	if !registered {
		return
	}
	n.calls.failNode(p.name, fmt.Errorf("%w: %s: %w", proc.ErrNoConnection, p.name, reason))
	n.rt.NodeDown(p.name)
	n.stats.Disconnects.Add(1)
	n.log.Info("nodedown", slog.String("peer", p.name), slog.Any("reason", reason))
	n.emit(Event{Node: p.name, Creation: p.creation, Up: false, Reason: reason})
	if wanted {
		n.startRedial(p.name)
	}
}

// startRedial starts redialing a wanted node, unless that is under way.
func (n *Node) startRedial(node string) {
	n.mu.Lock()
	if n.mu.redialing[node] || n.closed.Load() {
		n.mu.Unlock()
		return
	}
	n.mu.redialing[node] = true
	n.mu.Unlock()
	n.goFunc(func() {
		defer func() {
			n.mu.Lock()
			delete(n.mu.redialing, node)
			n.mu.Unlock()
		}()
		n.redial(node)
	})
}

// redial reconnects a wanted node with jittered exponential backoff.
func (n *Node) redial(node string) {
	wait := n.cfg.ReconnectMin
	for {
		jittered := wait/2 + rand.N(wait/2+1)
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(jittered):
		}
		n.mu.Lock()
		wanted := n.mu.wanted[node]
		connected := n.mu.peers[node] != nil
		n.mu.Unlock()
		if !wanted || connected {
			return
		}
		if _, err := n.peer(n.ctx, node); err == nil {
			return
		}
		wait = min(2*wait, n.cfg.ReconnectMax)
	}
}

// Event tells a node subscriber that a node connected or disconnected.
type Event struct {
	Node     string
	Creation uint64 // the node's incarnation
	Up       bool
	Reason   error // why the link went down
}

// NodeUp and NodeDown are the messages MonitorNodes sends to a process, like
// Erlang's {nodeup, Node} and {nodedown, Node}.
type (
	NodeUp   struct{ Node string }
	NodeDown struct {
		Node   string
		Reason error
	}
)

// Subscribe calls fn for every node event, in order, until the returned
// cancel is called. fn runs on the goroutine that noticed the event and must
// not block.
func (n *Node) Subscribe(fn func(Event)) (cancel func()) {
	n.mu.Lock()
	id := n.mu.nextSub
	n.mu.nextSub++
	n.mu.subs[id] = fn
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		delete(n.mu.subs, id)
		n.mu.Unlock()
	}
}

// MonitorNodes sends NodeUp and NodeDown messages to pid until pid exits,
// like net_kernel:monitor_nodes.
func (n *Node) MonitorNodes(pid proc.PID) {
	var cancel func()
	cancel = n.Subscribe(func(e Event) {
		var msg any = NodeUp{Node: e.Node}
		if !e.Up {
			msg = NodeDown{Node: e.Node, Reason: e.Reason}
		}
		if err := n.rt.Send(pid, msg); errors.Is(err, proc.ErrNotAlive) {
			cancel()
		}
	})
	n.rt.Watch(pid, func(proc.PID, error) { cancel() })
}

func (n *Node) emit(e Event) {
	n.mu.Lock()
	subs := make([]func(Event), 0, len(n.mu.subs))
	ids := make([]int, 0, len(n.mu.subs))
	for id := range n.mu.subs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		subs = append(subs, n.mu.subs[id])
	}
	n.mu.Unlock()
	for _, fn := range subs {
		fn(e)
	}
}

// Stats counts what happened on the node's links.
type Stats struct {
	Connects, Disconnects atomic.Uint64
	Refused               atomic.Uint64 // handshakes refused, either way; by kind in Refusals
	DialFailures          atomic.Uint64
	MalformedFrames       atomic.Uint64 // links cut for bad input
	Undecodable           atomic.Uint64 // messages this node could not decode
	UndecodableByPeer     atomic.Uint64 // messages peers reported they could not decode
	DeliveryFailures      atomic.Uint64 // messages that arrived for a process that is gone or full (reported back)
	DroppedByPeer         atomic.Uint64 // messages of this node peers reported they could not queue
	LinksPaused           atomic.Uint64 // times this node paused a peer's sends (MaxRemoteQueued reached)
	PausedByPeer          atomic.Uint64 // times a peer paused this node's sends
	SendsHeld             atomic.Uint64 // sends that waited for a paused link
	LostOnLinkDown        atomic.Uint64 // messages and signals queued on a link that broke before writing them

	refusals refusalCounts
}

// RemoteQueued returns the bytes of messages from other nodes waiting in
// this node's mailboxes, as counted against Config.MaxRemoteQueued.
func (n *Node) RemoteQueued() int64 { return n.inflow.used.Load() }

// Stats returns the node's counters.
func (n *Node) Stats() *Stats { return &n.stats }

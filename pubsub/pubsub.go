package pubsub

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/internal/peerset"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
)

// Stats counts what a PubSub did on this node.
type Stats struct {
	Broadcasts        atomic.Uint64 // broadcasts published here (any kind)
	FramesSent        atomic.Uint64 // frames handed to the node for other nodes
	SendFailures      atomic.Uint64 // frames the node could not queue (node unreachable)
	FramesReceived    atomic.Uint64 // frames from other nodes
	Malformed         atomic.Uint64 // frames or payloads from other nodes that did not decode
	UnknownDispatcher atomic.Uint64 // frames naming a dispatcher this node does not have
	Delivered         atomic.Uint64 // messages handed to local subscribers
	DroppedNewest     atomic.Uint64 // messages dropped under DropNewest (and at a disconnection)
	DroppedOldest     atomic.Uint64 // messages dropped under DropOldest
	Disconnects       atomic.Uint64 // subscriptions ended by the Disconnect policy
	Missed            atomic.Uint64 // gaps in sequence numbers seen by subscribers
	Duplicates        atomic.Uint64 // sequenced messages seen twice (discarded)
	CallbackPanics    atomic.Uint64 // subscriber functions that panicked
}

// PubSub is one node's member of a cluster-wide publish/subscribe service.
// It is safe for concurrent use.
type PubSub struct {
	cfg    Config
	rt     *proc.Runtime
	nd     *node.Node
	log    *slog.Logger
	topics *topics
	peers  *peerset.Set
	server proc.PID
	stats  Stats

	seqMu sync.Mutex
	seqs  map[string]*seqState

	// procMu guards procs: the subscriptions of each process, and the
	// watch that ends them when it exits.
	procMu sync.Mutex
	procs  map[proc.PID]*procSubs

	// reap holds work for the reaper goroutine: processes that exited and
	// subscriptions to take out of their topics.
	reapMu   sync.Mutex
	reapPIDs []proc.PID
	reapSubs []*Subscription
	reapKick chan struct{}

	pumpMu  sync.Mutex
	pumpSet map[*Subscription]struct{}
	pumpOn  bool

	lastWarn atomic.Int64

	closed atomic.Bool
	stop   chan struct{}
	wgMu   sync.Mutex // guards wg.Add against Close's Wait
	wg     sync.WaitGroup
}

type procSubs struct {
	subs   map[*Subscription]struct{}
	cancel func()
}

type seqState struct {
	mu sync.Mutex
	n  uint64
}

// Start starts the PubSub of cfg.Name on nd: its server process, which
// receives broadcasts from the other nodes, and the discovery of the same
// PubSub on every node nd connects to. It registers the PubSub's message
// types in nd's codec.
func Start(nd *node.Node, cfg Config) (*PubSub, error) {
	if nd == nil {
		return nil, fmt.Errorf("%w: nil node", ErrInvalidConfig)
	}
	if err := RegisterTypes(nd.Codec()); err != nil {
		return nil, fmt.Errorf("pubsub: %w", err)
	}
	return start(nd.Runtime(), nd, cfg)
}

// StartLocal starts a PubSub that serves rt's processes alone, for a
// runtime without distribution: broadcasts reach local subscribers only.
func StartLocal(rt *proc.Runtime, cfg Config) (*PubSub, error) {
	if rt == nil {
		return nil, fmt.Errorf("%w: nil runtime", ErrInvalidConfig)
	}
	return start(rt, nil, cfg)
}

func start(rt *proc.Runtime, nd *node.Node, cfg Config) (*PubSub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = rt.Logger()
	}
	ps := &PubSub{
		cfg:      cfg,
		rt:       rt,
		nd:       nd,
		log:      log,
		topics:   newTopics(),
		peers:    peerset.New(nd, cfg.Name),
		seqs:     make(map[string]*seqState),
		procs:    make(map[proc.PID]*procSubs),
		reapKick: make(chan struct{}, 1),
		pumpSet:  make(map[*Subscription]struct{}),
		stop:     make(chan struct{}),
	}
	opts := []proc.SpawnOption{proc.WithName(cfg.Name)}
	if cfg.InboxBound > 0 {
		opts = append(opts, proc.WithMailboxBound(cfg.InboxBound))
	}
	pid, err := rt.Spawn(&server{ps: ps}, opts...)
	if err != nil {
		return nil, fmt.Errorf("pubsub: start server %q: %w", cfg.Name, err)
	}
	ps.server = pid
	ps.wg.Add(1)
	go func() { defer ps.wg.Done(); ps.reaper() }()
	return ps, nil
}

// Name returns the PubSub's name.
func (ps *PubSub) Name() string { return ps.cfg.Name }

// Stats returns the PubSub's counters.
func (ps *PubSub) Stats() *Stats { return &ps.stats }

// Nodes returns the other nodes where this PubSub is known to run, sorted:
// those a broadcast is sent to.
func (ps *PubSub) Nodes() []string {
	peers := ps.peers.Peers()
	out := make([]string, len(peers))
	for i, p := range peers {
		out[i] = p.Node
	}
	return out
}

// Subscribers returns the number of local subscriptions of topic.
func (ps *PubSub) Subscribers(topic string) int { return ps.topics.count(topic) }

// Topics returns the topics that have local subscribers, in no order.
func (ps *PubSub) Topics() []string { return ps.topics.names() }

func (ps *PubSub) newSub(topic string, kind subKind, opts []SubscribeOption) (*Subscription, error) {
	if ps.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	c := subConfig{bound: ps.cfg.Buffer, policy: ps.cfg.Policy}
	for _, o := range opts {
		o(&c)
	}
	if c.bound < 1 || c.policy < DropNewest || c.policy > Disconnect {
		return nil, fmt.Errorf("%w: buffer %d, policy %v", ErrInvalidConfig, c.bound, c.policy)
	}
	if c.inline {
		if kind != kindFunc {
			return nil, fmt.Errorf("%w: Inline is for SubscribeFunc", ErrInvalidConfig)
		}
		kind = kindInline
	}
	s := &Subscription{
		ps: ps, topic: topic, kind: kind, meta: c.meta, filter: c.filter,
		bound: c.bound, policy: c.policy, done: make(chan struct{}), index: -1,
	}
	s.mu.q = newQueue(c.bound, c.policy)
	return s, nil
}

// Subscribe subscribes the local process pid to topic: every message
// broadcast on topic anywhere in the cluster arrives in its mailbox as a
// *Message, handled by HandleInfo, until the subscription is cancelled,
// pid unsubscribes or exits. A process may subscribe to a topic several
// times; each subscription delivers its own copy.
//
// The subscription's buffer (WithBuffer, default Config.Buffer and Policy)
// bounds the process's mailbox as the PubSub sees it: a message that finds
// that many messages waiting there is dropped (DropNewest), waits in front
// of the mailbox in place of the oldest waiting one (DropOldest), or ends
// the subscription with a Disconnected message (Disconnect).
func (ps *PubSub) Subscribe(pid proc.PID, topic string, opts ...SubscribeOption) (*Subscription, error) {
	if !ps.rt.IsLocal(pid) {
		return nil, fmt.Errorf("%w: %v", ErrNotLocal, pid)
	}
	s, err := ps.newSub(topic, kindProc, opts)
	if err != nil {
		return nil, err
	}
	s.pid = pid
	if !ps.addProc(s) {
		return nil, fmt.Errorf("pubsub: subscribe %v: %w", pid, proc.ErrNotAlive)
	}
	ps.add(s)
	return s, nil
}

// SubscribeFunc subscribes a function to topic: fn is called with every
// message, one call at a time and in order, on a goroutine of the
// subscription that exists while messages wait (so a million idle function
// subscriptions hold no goroutine). Messages wait in the subscription's
// buffer (WithBuffer) while fn is busy.
func (ps *PubSub) SubscribeFunc(topic string, fn func(*Message), opts ...SubscribeOption) (*Subscription, error) {
	if fn == nil {
		return nil, fmt.Errorf("%w: nil function", ErrInvalidConfig)
	}
	s, err := ps.newSub(topic, kindFunc, opts)
	if err != nil {
		return nil, err
	}
	s.fn = fn
	ps.add(s)
	return s, nil
}

// SubscribeChan subscribes a channel to topic: messages arrive on
// Subscription.C in order; the channel is closed when the subscription
// ends. Messages wait in the subscription's buffer (WithBuffer) while
// nobody receives, besides the one the subscription's goroutine is handing
// over (which a disconnection counts as dropped).
func (ps *PubSub) SubscribeChan(topic string, opts ...SubscribeOption) (*Subscription, error) {
	s, err := ps.newSub(topic, kindChan, opts)
	if err != nil {
		return nil, err
	}
	s.ch = make(chan *Message)
	ps.add(s)
	return s, nil
}

// add puts s in its topic; if it ended meanwhile (its process exited, the
// PubSub closed), it is taken out again.
func (ps *PubSub) add(s *Subscription) {
	ps.topics.add(s)
	if s.ended.Load() || ps.closed.Load() {
		s.end(ErrClosed, false)
		ps.topics.remove(s)
	}
}

// addProc records a process subscription, watching the process on its
// first one. It reports false when the process is not alive.
func (ps *PubSub) addProc(s *Subscription) bool {
	ps.procMu.Lock()
	defer ps.procMu.Unlock()
	e := ps.procs[s.pid]
	if e == nil {
		if !ps.rt.Alive(s.pid) {
			return false
		}
		e = &procSubs{subs: make(map[*Subscription]struct{})}
		ps.procs[s.pid] = e
		pid := s.pid
		e.cancel = ps.rt.Watch(pid, func(proc.PID, error) { ps.processExited(pid) })
	}
	e.subs[s] = struct{}{}
	return true
}

// Unsubscribe ends every subscription of the local process pid to topic,
// and returns how many there were.
func (ps *PubSub) Unsubscribe(pid proc.PID, topic string) int {
	ps.procMu.Lock()
	var subs []*Subscription
	if e := ps.procs[pid]; e != nil {
		for s := range e.subs {
			if s.topic == topic {
				subs = append(subs, s)
			}
		}
	}
	ps.procMu.Unlock()
	for _, s := range subs {
		s.Cancel()
	}
	return len(subs)
}

// remove takes an ended subscription out of its topic and its process's
// set.
func (ps *PubSub) remove(s *Subscription) {
	ps.topics.remove(s)
	if s.kind != kindProc {
		return
	}
	ps.procMu.Lock()
	defer ps.procMu.Unlock()
	e := ps.procs[s.pid]
	if e == nil {
		return
	}
	delete(e.subs, s)
	if len(e.subs) == 0 {
		delete(ps.procs, s.pid)
		e.cancel()
	}
}

// removeLater hands an ended subscription to the reaper: it may be ended
// while a broadcast holds its topic's lock.
func (ps *PubSub) removeLater(s *Subscription) {
	ps.reapMu.Lock()
	ps.reapSubs = append(ps.reapSubs, s)
	ps.reapMu.Unlock()
	ps.kickReaper()
}

// processExited runs on the goroutine that ended the process, which may
// hold any lock: it only queues work for the reaper.
func (ps *PubSub) processExited(pid proc.PID) {
	ps.reapMu.Lock()
	ps.reapPIDs = append(ps.reapPIDs, pid)
	ps.reapMu.Unlock()
	ps.kickReaper()
}

func (ps *PubSub) kickReaper() {
	select {
	case ps.reapKick <- struct{}{}:
	default:
	}
}

// reaper ends the subscriptions of exited processes and removes ended
// subscriptions from their topics.
func (ps *PubSub) reaper() {
	for {
		select {
		case <-ps.stop:
			return
		case <-ps.reapKick:
		}
		ps.reapMu.Lock()
		pids, subs := ps.reapPIDs, ps.reapSubs
		ps.reapPIDs, ps.reapSubs = nil, nil
		ps.reapMu.Unlock()
		for _, pid := range pids {
			ps.procMu.Lock()
			e := ps.procs[pid]
			delete(ps.procs, pid)
			ps.procMu.Unlock()
			if e == nil {
				continue
			}
			for s := range e.subs {
				s.end(ErrCancelled, false)
				ps.topics.remove(s)
			}
		}
		for _, s := range subs {
			ps.remove(s)
		}
	}
}

// pump starts moving the waiting messages of a DropOldest process
// subscription into its mailbox as it empties.
func (ps *PubSub) pump(s *Subscription) {
	ps.pumpMu.Lock()
	ps.pumpSet[s] = struct{}{}
	start := !ps.pumpOn
	ps.pumpOn = true
	ps.pumpMu.Unlock()
	if start && !ps.goTracked(ps.pumpLoop) {
		ps.pumpMu.Lock()
		ps.pumpOn = false
		ps.pumpMu.Unlock()
	}
}

// pumpLoop runs while process subscriptions have messages waiting in front
// of their mailboxes, retrying them every PumpInterval.
func (ps *PubSub) pumpLoop() {
	t := time.NewTicker(ps.cfg.PumpInterval)
	defer t.Stop()
	for {
		ps.pumpMu.Lock()
		subs := make([]*Subscription, 0, len(ps.pumpSet))
		for s := range ps.pumpSet {
			subs = append(subs, s)
		}
		ps.pumpMu.Unlock()
		for _, s := range subs {
			if !s.pumpOnce() {
				ps.pumpMu.Lock()
				delete(ps.pumpSet, s)
				ps.pumpMu.Unlock()
			}
		}
		ps.pumpMu.Lock()
		if len(ps.pumpSet) == 0 {
			ps.pumpOn = false
			ps.pumpMu.Unlock()
			return
		}
		ps.pumpMu.Unlock()
		select {
		case <-ps.stop:
			ps.pumpMu.Lock()
			ps.pumpOn = false
			ps.pumpMu.Unlock()
			return
		case <-t.C:
		}
	}
}

// goTracked runs f on a goroutine Close waits for; false after Close.
func (ps *PubSub) goTracked(f func()) bool {
	ps.wgMu.Lock()
	defer ps.wgMu.Unlock()
	if ps.closed.Load() {
		return false
	}
	ps.wg.Add(1)
	go func() { defer ps.wg.Done(); f() }()
	return true
}

// warnDrops logs, at most once a second, that subscribers lose messages.
func (ps *PubSub) warnDrops() {
	now := time.Now().UnixNano()
	last := ps.lastWarn.Load()
	if now-last < int64(time.Second) || !ps.lastWarn.CompareAndSwap(last, now) {
		return
	}
	ps.log.Warn("pubsub: slow subscribers lose messages",
		slog.String("pubsub", ps.cfg.Name),
		slog.Uint64("dropped_newest_total", ps.stats.DroppedNewest.Load()),
		slog.Uint64("dropped_oldest_total", ps.stats.DroppedOldest.Load()),
		slog.Uint64("disconnects_total", ps.stats.Disconnects.Load()))
}

// BroadcastOption tunes one broadcast.
type BroadcastOption func(*broadcastConfig)

type broadcastConfig struct {
	dispatcher string
}

// Via delivers the broadcast with the dispatcher registered under name in
// Config.Dispatchers, on every node that receives it.
func Via(name string) BroadcastOption { return func(c *broadcastConfig) { c.dispatcher = name } }

type scope uint8

const (
	scopeCluster scope = iota
	scopeLocal
	scopeDirect
)

// Broadcast delivers msg to every subscriber of topic on every node where
// this PubSub runs: one frame per other node, encoded once, then fanned
// out there. It returns once the frames are queued on the links and the
// local subscribers have the message (in their mailbox, channel buffer or
// function queue); it never waits for a subscriber, only, like any send,
// while a receiving node's flow control holds its link back, and ctx
// bounds that wait: when ctx ends first, the nodes not reached yet are
// named in a *BroadcastError with ctx's error (nothing was sent to them),
// and local subscribers still get the message. A ctx already done sends
// nothing and returns its error.
//
// Messages from one sender (a goroutine, or a process) reach each
// subscriber in the order sent. Delivery to other nodes is at most once: a
// frame in flight on a link that breaks is lost (see the package
// documentation). msg must be encodable by the node's codec when other
// nodes run the PubSub; an encoding error is returned before anything is
// delivered. A *BroadcastError names the nodes the frame could not be
// queued for; the others, and local subscribers, got it.
func (ps *PubSub) Broadcast(ctx context.Context, topic string, msg any, opts ...BroadcastOption) error {
	return ps.publish(ctx, scopeCluster, "", proc.PID{}, topic, msg, opts)
}

// BroadcastFrom is Broadcast that skips the subscriptions of from, like
// Phoenix's broadcast_from: a process publishing to a topic it listens to.
func (ps *PubSub) BroadcastFrom(ctx context.Context, from proc.PID, topic string, msg any, opts ...BroadcastOption) error {
	return ps.publish(ctx, scopeCluster, "", from, topic, msg, opts)
}

// LocalBroadcast delivers msg to the subscribers of topic on this node
// only. It never waits, so it takes no context.
func (ps *PubSub) LocalBroadcast(topic string, msg any, opts ...BroadcastOption) error {
	return ps.publish(context.Background(), scopeLocal, "", proc.PID{}, topic, msg, opts)
}

// LocalBroadcastFrom is LocalBroadcast that skips the subscriptions of from.
func (ps *PubSub) LocalBroadcastFrom(from proc.PID, topic string, msg any, opts ...BroadcastOption) error {
	return ps.publish(context.Background(), scopeLocal, "", from, topic, msg, opts)
}

// DirectBroadcast delivers msg to the subscribers of topic on node only
// (this node included), like Phoenix's direct_broadcast. It fails with
// ErrNoPeer when the PubSub is not known to run there, and with ctx's
// error when ctx ends while the node's flow control holds the link back.
func (ps *PubSub) DirectBroadcast(ctx context.Context, node, topic string, msg any, opts ...BroadcastOption) error {
	return ps.publish(ctx, scopeDirect, node, proc.PID{}, topic, msg, opts)
}

// DirectBroadcastFrom is DirectBroadcast that skips the subscriptions of
// from.
func (ps *PubSub) DirectBroadcastFrom(ctx context.Context, from proc.PID, node, topic string, msg any, opts ...BroadcastOption) error {
	return ps.publish(ctx, scopeDirect, node, from, topic, msg, opts)
}

func (ps *PubSub) publish(ctx context.Context, sc scope, target string, from proc.PID, topic string, msg any, opts []BroadcastOption) error {
	if ps.closed.Load() {
		return ErrClosed
	}
	if err := checkTopic(topic); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var bc broadcastConfig
	for _, o := range opts {
		o(&bc)
	}
	var disp Dispatcher
	if bc.dispatcher != "" {
		if disp = ps.cfg.Dispatchers[bc.dispatcher]; disp == nil {
			return fmt.Errorf("%w: %q", ErrUnknownDispatcher, bc.dispatcher)
		}
	}
	ps.stats.Broadcasts.Add(1)
	m := &Message{Topic: topic, Payload: msg, From: from, Origin: ps.rt.Node(), epoch: ps.rt.Creation()}
	self := ps.rt.Node()
	if sc == scopeDirect && target != self {
		var peer *peerset.Peer
		for _, p := range ps.peers.Peers() {
			if p.Node == target {
				peer = &p
				break
			}
		}
		if peer == nil {
			return fmt.Errorf("%w: %s", ErrNoPeer, target)
		}
		f, err := ps.encode(m, bc.dispatcher)
		if err != nil {
			return err
		}
		return ps.sendFrame(ctx, target, f)
	}
	var sendErr error
	if sc == scopeCluster {
		var st *seqState
		if ps.cfg.Sequenced != nil && ps.cfg.Sequenced(topic) {
			// The number and the hand-over to every link and local
			// subscriber happen together, so that every node sees the
			// numbers of this origin in order.
			st = ps.seqState(topic)
			st.mu.Lock()
			defer st.mu.Unlock()
			st.n++
			m.Seq = st.n
		}
		if peers := ps.peers.Peers(); len(peers) > 0 {
			f, err := ps.encode(m, bc.dispatcher)
			if err != nil {
				if st != nil {
					st.n-- // nothing went out with this number
				}
				return err
			}
			sendErr = ps.sendAll(ctx, peers, f)
		}
	}
	ps.dispatch(m, disp)
	return sendErr
}

func (ps *PubSub) seqState(topic string) *seqState {
	ps.seqMu.Lock()
	defer ps.seqMu.Unlock()
	st := ps.seqs[topic]
	if st == nil {
		st = &seqState{}
		ps.seqs[topic] = st
	}
	return st
}

func (ps *PubSub) encode(m *Message, dispatcher string) (frame, error) {
	return encodeFrame(ps.nd.Codec(), frameHeader{
		origin: m.Origin, epoch: m.epoch, seq: m.Seq, from: m.From, topic: m.Topic, dispatcher: dispatcher,
	}, m.Payload)
}

// sendAll queues f to the PubSub of every peer that is connected.
func (ps *PubSub) sendAll(ctx context.Context, peers []peerset.Peer, f frame) error {
	connected := ps.nd.Nodes()
	var failed map[string]error
	for _, p := range peers {
		var err error
		if _, ok := slices.BinarySearch(connected, p.Node); !ok {
			// Lost since it was discovered: do not wait for a redial.
			err = fmt.Errorf("%w: %s", proc.ErrNoConnection, p.Node)
			ps.stats.SendFailures.Add(1)
		} else {
			err = ps.sendFrame(ctx, p.Node, f)
		}
		if err != nil {
			if failed == nil {
				failed = make(map[string]error)
			}
			failed[p.Node] = err
		}
	}
	if failed != nil {
		return &BroadcastError{Nodes: failed}
	}
	return nil
}

// sendFrame queues f to the PubSub of node. Every frame from this node to
// node travels on one lane, in order.
func (ps *PubSub) sendFrame(ctx context.Context, node string, f frame) error {
	if err := ps.nd.SendNameContext(ctx, proc.PID{}, node, ps.cfg.Name, f); err != nil {
		ps.stats.SendFailures.Add(1)
		return err
	}
	ps.stats.FramesSent.Add(1)
	return nil
}

// dispatch hands m to the local subscribers of its topic.
func (ps *PubSub) dispatch(m *Message, d Dispatcher) {
	tp := ps.topics.get(m.Topic)
	if tp == nil {
		return
	}
	tp.mu.RLock()
	defer tp.mu.RUnlock()
	if d != nil {
		d.Dispatch(m, tp.subs)
		return
	}
	deliverAll(m, tp.subs)
}

// deliverAll is the default dispatcher.
func deliverAll(m *Message, subs []*Subscription) {
	for _, s := range subs {
		if !m.From.IsZero() && s.pid == m.From {
			s.observeOnly(m)
			continue
		}
		s.Deliver(m)
	}
}

// receive fans a frame from another node out to the local subscribers.
func (ps *PubSub) receive(f frame) {
	ps.stats.FramesReceived.Add(1)
	h, payload, err := decodeFrame(f.b)
	if err != nil {
		ps.malformed(err)
		return
	}
	v, err := ps.nd.Codec().Decode(payload)
	if err != nil {
		ps.malformed(fmt.Errorf("pubsub: payload on %q from %s: %w", h.topic, h.origin, err))
		return
	}
	var d Dispatcher
	if h.dispatcher != "" {
		if d = ps.cfg.Dispatchers[h.dispatcher]; d == nil {
			ps.stats.UnknownDispatcher.Add(1)
		}
	}
	ps.dispatch(&Message{Topic: h.topic, Payload: v, From: h.from, Origin: h.origin, Seq: h.seq, epoch: h.epoch}, d)
}

func (ps *PubSub) malformed(err error) {
	n := ps.stats.Malformed.Add(1)
	now := time.Now().UnixNano()
	last := ps.lastWarn.Load()
	if n == 1 || now-last >= int64(time.Second) && ps.lastWarn.CompareAndSwap(last, now) {
		ps.log.Warn("pubsub: frame from another node dropped", slog.String("pubsub", ps.cfg.Name),
			slog.Uint64("malformed_total", n), slog.Any("err", err))
	}
}

// Close stops the PubSub on this node: its server stops (other nodes stop
// sending to it), every subscription ends with ErrClosed (process
// subscribers get Disconnected), and Close waits for the goroutines of
// function and channel subscriptions, including calls in progress.
// Idempotent.
func (ps *PubSub) Close() error {
	ps.wgMu.Lock()
	if !ps.closed.CompareAndSwap(false, true) {
		ps.wgMu.Unlock()
		return nil
	}
	ps.wgMu.Unlock()
	err := peerset.Stop(ps.rt, ps.server)
	for _, s := range ps.topics.all() {
		s.end(ErrClosed, true)
		ps.remove(s)
	}
	close(ps.stop)
	ps.wg.Wait()
	return err
}

// server is the PubSub's process on each node: it receives the frames of
// other nodes and keeps the set of peers.
type server struct {
	proc.Base
	ps *PubSub
}

func (s *server) Init(p *proc.Process) error {
	s.ps.peers.Start(p)
	return nil
}

func (s *server) HandleInfo(p *proc.Process, msg any) {
	if _, ok := s.ps.peers.Handle(p, msg); ok {
		return
	}
	if f, ok := msg.(frame); ok {
		s.ps.receive(f)
	}
}

func (s *server) HandleCast(p *proc.Process, msg any) { s.HandleInfo(p, msg) }

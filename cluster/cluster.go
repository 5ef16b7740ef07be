package cluster

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/grovedev/grove/internal/connlimit"
	"github.com/grovedev/grove/internal/ratelog"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/transport"
)

// Cluster is this node's membership in a cluster: a memberlist instance
// named after the node, its view of the members, and the wiring that keeps
// the node connected to the live ones. It is safe for concurrent use.
//
// Lock order: memberlist's internal lock, then Cluster.mu (memberlist calls
// the delegates with its lock held, so nothing here calls into memberlist
// or the node while holding mu).
type Cluster struct {
	node     *node.Node
	cfg      Config
	log      *slog.Logger
	ml       *memberlist.Memberlist
	gt       *gossipTransport
	ownTr    transport.Transport // closed by Close when the cluster made it
	bcast    *memberlist.TransmitLimitedQueue
	stats    Stats
	creation uint64

	localMeta atomic.Pointer[[]byte] // this member's encoded wireMeta
	metaMu    sync.Mutex             // serialises UpdateMeta

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  atomic.Bool
	leaving atomic.Bool
	// swimAlive counts the members the protocol holds alive.
	swimAlive atomic.Int64
	kick      chan struct{} // wakes the wiring loop
	mergeCh   chan mergeReq // linked nodes to merge state with
	kickMerge chan struct{} // wakes the merge loop for a sweep
	unsub     func()
	noisy     limitedLogger

	mu struct {
		sync.Mutex
		t       *table
		subs    map[int]*subscriber
		nextSub int
		cur     wireMeta
	}
}

// Start makes nd a member of a cluster: it starts gossip on cfg.Bind, joins
// cfg.Seeds (retrying in the background while none answers) and, unless
// cfg.DisableAutoConnect, keeps nd connected to every live member. The
// member's name is nd's name. ctx bounds the first join attempt only.
func Start(ctx context.Context, nd *node.Node, cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Cluster{node: nd, cfg: cfg, creation: nd.Runtime().Creation(), kick: make(chan struct{}, 1), mergeCh: make(chan mergeReq, 64), kickMerge: make(chan struct{}, 1)}
	c.log = cfg.Logger
	if c.log == nil {
		c.log = nd.Runtime().Logger()
	}
	c.log = c.log.With(slog.String("member", nd.Name()))
	c.mu.t = newTable(nd.Name())
	c.mu.subs = map[int]*subscriber{}
	// A new Cluster on the same runtime (after Leave) gets a higher
	// incarnation than the one that left.
	inc := max(c.creation, uint64(time.Now().UnixNano()))
	c.mu.cur = wireMeta{Creation: c.creation, Incarnation: inc, Addr: nd.Addr(), Meta: cfg.Meta.clone()}
	b, err := c.mu.cur.encode()
	if err != nil {
		return nil, err
	}
	c.localMeta.Store(&b)
	c.ctx, c.cancel = context.WithCancel(context.Background())

	tr := cfg.Transport
	if tr == nil {
		tr = transport.NewTCP(transport.TCPConfig{})
		c.ownTr = tr
	}
	c.noisy = ratelog.New(c.log, ratelog.Config{})
	c.gt, err = newGossipTransport(ctx, tr, transportConfig{
		bind: cfg.Bind, advertise: cfg.Advertise, maxPacket: cfg.MaxPacketSize,
		dialTimeout: cfg.StreamTimeout, authTimeout: cfg.AuthTimeout,
		limits: connlimit.Config{MaxTotal: cfg.MaxPendingConns, MaxPerHost: cfg.MaxPendingPerHost},
		auth:   nd, authenticated: c.authenticated,
		log: c.log, noisy: c.noisy, stats: &c.stats,
	})
	if err != nil {
		c.cancel()
		if c.ownTr != nil {
			c.ownTr.Close()
		}
		return nil, err
	}
	c.bcast = &memberlist.TransmitLimitedQueue{RetransmitMult: cfg.RetransmitMult, NumNodes: c.numNodes}

	mc := memberlist.DefaultLANConfig()
	mc.Name = nd.Name()
	mc.Transport = c.gt
	mc.AdvertiseAddr, mc.AdvertisePort = c.gt.advIP.String(), c.gt.advPort
	mc.BindAddr, mc.BindPort = c.gt.advIP.String(), c.gt.advPort
	mc.ProbeInterval, mc.ProbeTimeout = cfg.ProbeInterval, cfg.ProbeTimeout
	mc.IndirectChecks = cfg.IndirectChecks
	mc.SuspicionMult, mc.SuspicionMaxTimeoutMult = cfg.SuspicionMult, cfg.SuspicionMaxTimeoutMult
	mc.GossipInterval, mc.GossipNodes, mc.RetransmitMult = cfg.GossipInterval, cfg.GossipNodes, cfg.RetransmitMult
	mc.PushPullInterval, mc.GossipToTheDeadTime = cfg.PushPullInterval, cfg.GossipToTheDeadTime
	mc.TCPTimeout = cfg.StreamTimeout
	mc.UDPBufferSize = cfg.MaxPacketSize
	mc.SecretKey = cfg.SecretKey
	mc.DeadNodeReclaimTime = cfg.ProbeInterval // a restarted member may come back at a new address
	mc.Logger = log.New(logWriter{c.log, c.noisy}, "", 0)
	mc.Delegate = delegate{c}
	mc.Events = delegate{c}
	ml, err := memberlist.Create(mc)
	if err != nil {
		c.gt.Shutdown()
		c.cancel()
		if c.ownTr != nil {
			c.ownTr.Close()
		}
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c.ml = ml
	if err := nd.Register(GossipAddrFunc, c.gossipAddrRPC); err != nil {
		c.Close()
		return nil, err
	}
	c.unsub = nd.Subscribe(c.nodeEvent)
	// Links up before the subscription: their news is merged too.
	for _, name := range nd.Nodes() {
		c.nodeEvent(node.Event{Node: name, Up: true})
	}
	if !cfg.DisableAutoConnect {
		c.goFunc(c.wireLoop)
	}
	c.goFunc(c.mergeLoop)
	c.goFunc(c.maintain)
	if len(cfg.Seeds) > 0 {
		if _, err := c.Join(ctx, cfg.Seeds...); err != nil {
			c.log.Warn("no seed reachable yet; retrying", slog.Any("seeds", cfg.Seeds), slog.Any("err", err))
		}
	}
	return c, nil
}

func (c *Cluster) goFunc(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// numNodes returns how many members the protocol holds alive, this one
// included, from the table (not from memberlist, whose lock must not be
// taken under the broadcast queue's).
func (c *Cluster) numNodes() int { return max(1, int(c.swimAlive.Load())) }

// Name returns this member's name, the node's name.
func (c *Cluster) Name() string { return c.node.Name() }

// Node returns the node this member belongs to.
func (c *Cluster) Node() *node.Node { return c.node }

// GossipAddr returns the gossip address other members reach this one at;
// give it to others as a seed.
func (c *Cluster) GossipAddr() string { return c.gt.advertise }

// Stats returns the member's counters.
func (c *Cluster) Stats() *Stats { return &c.stats }

// PendingConns returns how many accepted gossip connections are waiting
// for their handshake.
func (c *Cluster) PendingConns() int { return c.gt.Pending() }

// joinFollowUp is how long after a join its state exchange is repeated.
const joinFollowUp = 500 * time.Millisecond

// Join contacts the members at addrs (gossip addresses) and merges state
// with them. It returns how many answered, and ErrNoSeedReachable (wrapping
// the last failure) when none did; ctx bounds the wait.
//
// A member that answered is asked once more joinFollowUp (500 ms) later,
// in the background: members that joined through the same seed at the
// same moment may each have missed the other in their first exchange, and
// the second one tells them (gossip would too, but only probably, and the
// periodic exchange only every PushPullInterval). Every member this one
// learns of, and connects to, learns of this one at once (see the package
// documentation), so five members joining through one seed all know each
// other within a second with the default configuration.
func (c *Cluster) Join(ctx context.Context, addrs ...string) (int, error) {
	n, err := c.join(ctx, addrs...)
	if err == nil {
		c.goFunc(func() {
			t := time.NewTimer(joinFollowUp)
			defer t.Stop()
			select {
			case <-c.ctx.Done():
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.StreamTimeout)
			defer cancel()
			c.join(ctx, addrs...)
		})
	}
	return n, err
}

// join is Join without the follow-up.
func (c *Cluster) join(ctx context.Context, addrs ...string) (int, error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	c.goFunc(func() {
		n, err := c.ml.Join(addrs)
		ch <- result{n, err}
	})
	select {
	case r := <-ch:
		if r.n == 0 {
			return 0, fmt.Errorf("%w: %w", ErrNoSeedReachable, r.err)
		}
		return r.n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Members returns every known member, this one included, sorted by name:
// alive, suspect, dead (until ReapDeadAfter or Forget) and left (until
// ReapLeftAfter).
func (c *Cluster) Members() []Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.t.list()
}

// Member returns the member called name.
func (c *Cluster) Member(name string) (Member, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.mu.t.members[name]
	if r == nil || !c.mu.t.visible(r) {
		return Member{}, false
	}
	return r.m, true
}

// LocalMember returns this member.
func (c *Cluster) LocalMember() Member {
	m, _ := c.Member(c.Name())
	return m
}

// Reachable returns the names of the alive members, this one included,
// sorted: those the membership protocol holds alive and this node has a
// link to.
func (c *Cluster) Reachable() []string {
	return c.names(func(s State) bool { return s == StateAlive })
}

// Voters returns the electorate of HasQuorum, sorted: the members that
// have not left (alive, suspect, and dead ones that still count, see
// HasQuorum), and the nodes linked to this one whose membership has not
// been heard yet. Give it to Quorum for a cluster-wide decision.
func (c *Cluster) Voters() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.t.voters()
}

func (c *Cluster) names(keep func(State) bool) []string {
	var out []string
	for _, m := range c.Members() {
		if keep(m.State) {
			out = append(out, m.Name)
		}
	}
	return out
}

// HasQuorum reports whether this member sits in a majority of the cluster:
// whether the alive members (this one included) are more than half of the
// voters (Voters) — alive, suspect and dead members, and the nodes linked
// to this one that it has not heard the membership of yet (a node that
// restarted and knows only itself does not claim a majority over the
// members already linked to it). A member that left does not count.
//
// A dead member keeps counting for DeadVoteTimeout (5 min) after it was
// declared dead, and after that until a moment this node holds a quorum;
// then it stops counting (Forget drops it at once). So the smaller side of
// a partition, which sees the other side dead, never believes itself a
// majority, however long the partition lasts; while a majority whose
// member died for good stops counting it within minutes, and tolerates
// further failures as a smaller cluster would. HasQuorum is this node's
// view, not an agreement: after several partitions in a row, each lasting
// longer than DeadVoteTimeout, two sides may each count themselves a
// majority of what they still count. Decisions that must never diverge
// need consensus (Raft), not HasQuorum.
func (c *Cluster) HasQuorum() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return hasQuorum(c.mu.t.counts())
}

// Forget removes a dead member from the known members at once, for a node
// that is gone for good (it stops counting in HasQuorum). It returns false
// if the member is not dead. A member forgotten that is in fact alive comes
// back with its next state exchange.
func (c *Cluster) Forget(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.t.forget(name)
}

// UpdateMeta replaces this member's metadata and gossips it with a higher
// incarnation; it returns once the news has been sent to the cluster, or
// with ctx's error (the update still spreads).
func (c *Cluster) UpdateMeta(ctx context.Context, m Meta) error {
	if c.closed.Load() || c.leaving.Load() {
		return ErrClosed
	}
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	c.mu.Lock()
	w := c.mu.cur
	c.mu.Unlock()
	w.Meta = m.clone()
	w.Incarnation = max(w.Incarnation+1, uint64(time.Now().UnixNano()))
	b, err := w.encode()
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.mu.cur = w
	c.mu.Unlock()
	c.localMeta.Store(&b)
	return c.waitFor(ctx, func(timeout time.Duration) error { return c.ml.UpdateNode(timeout) })
}

// waitFor runs a memberlist call bounded by a timeout derived from ctx.
func (c *Cluster) waitFor(ctx context.Context, f func(time.Duration) error) error {
	timeout := c.cfg.StreamTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
		if timeout <= 0 {
			return context.DeadlineExceeded
		}
	}
	ch := make(chan error, 1)
	c.goFunc(func() { ch <- f(timeout) }) // bounded by timeout
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Leave leaves the cluster gracefully: it announces the departure, so that
// the others see this member left rather than dead, waits until the
// announcement has been gossiped (or ctx is done), disconnects the node from
// the members and closes the Cluster. The node itself stays up. A node that
// starts again under the same name joins as a new incarnation.
func (c *Cluster) Leave(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if c.leaving.Swap(true) {
		return ErrClosed
	}
	c.metaMu.Lock() // no UpdateMeta in progress: the incarnation is final
	c.mu.Lock()
	inc := c.mu.cur.Incarnation
	c.mu.t.leaveIntent(c.Name(), inc, time.Now())
	c.mu.Unlock()
	c.metaMu.Unlock()
	msg := encodeIntent(c.Name(), inc)
	gossiped := make(chan struct{})
	c.bcast.QueueBroadcast(&intentBroadcast{msg: msg, done: gossiped})
	// Gossip reaches every member only probably (each notice is sent a
	// few times to members at random): tell each live member directly
	// too, and wait for whichever is first.
	told := make(chan struct{})
	c.goFunc(func() {
		defer close(told)
		c.tellEach(msg)
	})
	done := make(chan struct{})
	c.goFunc(func() {
		select {
		case <-gossiped:
		case <-told:
		}
		close(done)
	})
	err := c.awaitNotice(ctx, done)
	if err == nil && c.listeners() > 0 {
		err = c.waitFor(ctx, func(timeout time.Duration) error { return c.ml.Leave(timeout) })
	}
	return errors.Join(err, c.Close())
}

// tellEach sends msg reliably (a stream) to every other member the
// protocol holds alive, at once, and returns when every send has ended,
// each bounded by StreamTimeout.
func (c *Cluster) tellEach(msg []byte) {
	var wg sync.WaitGroup
	for _, n := range c.ml.Members() {
		if n.Name == c.Name() {
			continue
		}
		wg.Go(func() {
			if err := c.ml.SendReliable(n, msg); err != nil {
				c.log.Debug("leave notice not delivered", slog.String("peer", n.Name), slog.Any("err", err))
			}
		})
	}
	wg.Wait()
}

// awaitNotice waits until the leave notice has been gossiped (done), no
// member is left to hear it (the others are gone or leave too), or ctx is
// done.
func (c *Cluster) awaitNotice(ctx context.Context, done <-chan struct{}) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for c.listeners() > 0 {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("cluster: leave notice not confirmed: %w", ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// listeners counts the other members that could still hear a leave
// notice: held alive by the protocol, in their current life, not leaving.
func (c *Cluster) listeners() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for name, r := range c.mu.t.members {
		if !r.m.Local && r.swimAlive && !r.leaving && r.m.State != StateDead && c.mu.t.intents[name] < r.m.Incarnation {
			n++
		}
	}
	return n
}

// Close stops this member without a leave announcement (the others will
// declare it dead), disconnects the node from the members it connected,
// and waits for the cluster's goroutines. It does not close the node.
// Close is idempotent.
func (c *Cluster) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	if c.unsub != nil {
		c.unsub()
	}
	c.cancel()
	err := c.ml.Shutdown()
	c.mu.Lock()
	subs := c.mu.subs
	c.mu.subs = map[int]*subscriber{}
	c.mu.Unlock()
	for _, s := range subs {
		s.stop()
	}
	c.wg.Wait()
	if c.ownTr != nil {
		c.ownTr.Close()
	}
	return err
}

// step runs f on the table under mu and queues the events it returns for
// the subscribers, in order.
func (c *Cluster) step(f func(t *table, now time.Time) []Event) {
	c.mu.Lock()
	evs := f(c.mu.t, time.Now())
	if len(evs) > 0 {
		n := 0
		for _, r := range c.mu.t.members {
			if r.swimAlive {
				n++
			}
		}
		c.swimAlive.Store(int64(n))
	}
	for _, e := range evs {
		c.log.Debug("member "+e.Kind.String(), slog.String("peer", e.Member.Name), slog.String("state", e.Member.State.String()))
		for _, s := range c.mu.subs {
			s.push(e)
		}
	}
	c.mu.Unlock()
	if len(evs) > 0 {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// maintain retries the seeds while alone, reaps old members and tries to
// rejoin one dead member at random every RejoinInterval.
func (c *Cluster) maintain() {
	t := time.NewTicker(c.cfg.RejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		if c.leaving.Load() {
			continue
		}
		var dead []string
		c.step(func(tb *table, now time.Time) []Event {
			tb.dropVotes(now, c.cfg.DeadVoteTimeout)
			tb.reap(now, c.cfg.ReapDeadAfter, c.cfg.ReapLeftAfter)
			for _, r := range tb.members {
				if r.m.State == StateDead && r.m.GossipAddr != "" {
					dead = append(dead, r.m.GossipAddr)
				}
			}
			return nil
		})
		var addrs []string
		if c.numNodes() <= 1 {
			addrs = append(addrs, c.cfg.Seeds...)
		}
		if len(dead) > 0 {
			addrs = append(addrs, dead[rand.IntN(len(dead))])
		}
		if len(addrs) > 0 {
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.StreamTimeout)
			c.join(ctx, addrs...)
			cancel()
		}
	}
}

// logWriter turns memberlist's log lines ("[LEVEL] memberlist: ...") into
// slog records; its warnings and errors, which peers can provoke, at a
// bounded rate.
type logWriter struct {
	log   *slog.Logger
	noisy limitedLogger
}

func (w logWriter) Write(p []byte) (int, error) {
	s := strings.TrimSpace(string(p))
	// memberlist's warnings are routine in a cluster with failures: they
	// are logged at Info, its errors at Warn, both at a bounded rate.
	level, limited := slog.LevelInfo, ""
	for _, l := range []struct {
		prefix  string
		level   slog.Level
		limited bool
	}{{"[DEBUG]", slog.LevelDebug, false}, {"[INFO]", slog.LevelInfo, false}, {"[WARN]", slog.LevelInfo, true}, {"[ERR]", slog.LevelWarn, true}} {
		if rest, ok := strings.CutPrefix(s, l.prefix); ok {
			s, level = strings.TrimSpace(rest), l.level
			if l.limited {
				limited = l.prefix
			}
			break
		}
	}
	if limited != "" {
		w.noisy.Log(level, "memberlist "+limited, s)
		return len(p), nil
	}
	w.log.Log(context.Background(), level, s)
	return len(p), nil
}

package replica

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/crdt"
	"github.com/grovedev/grove/node"
)

// maxName bounds a replica's name, so that its node function name fits.
const maxName = 200

// Stats counts a replica's sync traffic. Bytes are those of the encoded
// sync messages as the node's codec writes them, without link framing,
// counted for the messages handed to the node.
type Stats struct {
	// MessagesSent and BytesSent count the sync messages handed to the
	// node and their encoded size.
	MessagesSent, BytesSent atomic.Uint64
	// DeltaBytesSent and FullStateBytesSent split the CRDT payload sent
	// between delta groups and full states.
	DeltaBytesSent, FullStateBytesSent atomic.Uint64
	// FullStatesSent counts the full states sent.
	FullStatesSent atomic.Uint64
	// SendFailures counts messages not sent: the member was not connected
	// or the cast failed. Their content is sent again later.
	SendFailures atomic.Uint64
	// MessagesReceived counts the sync messages applied.
	MessagesReceived atomic.Uint64
	// Dropped counts messages that found the inbox full.
	Dropped atomic.Uint64
	// Malformed counts messages, states and deltas that did not decode or
	// join.
	Malformed atomic.Uint64
}

// Replica is one node's copy of a named replicated CRDT. It is safe for
// concurrent use.
type Replica struct {
	n      *node.Node
	name   string
	fn     string
	cfg    Config
	stats  Stats
	inbox  chan *syncMsg
	kick   chan struct{}
	events *dispatcher

	// mu guards core (and so the state) and diff. Reads of the state take
	// it shared. A sync round only reads the state, so it holds mu shared
	// and syncMu for the core's bookkeeping (peers, log truncation,
	// progress); holding mu exclusively also covers the bookkeeping. Lock
	// order: the store's lock, mu, syncMu, then the dispatcher's lock.
	mu     sync.RWMutex
	syncMu sync.Mutex
	core   *core
	diff   differ
	// progress is closed and replaced whenever a message was applied or
	// a round ran, waking WaitAcked.
	progress chan struct{}
	// version counts the changes of the state (guarded by mu), so that
	// the store is written only when something changed.
	version uint64

	// store is the replica's pebble database, nil without Config.DataDir.
	store *store

	closed  atomic.Bool
	stop    chan struct{}
	wg      sync.WaitGroup
	cancelM func()
}

// New starts replicating initial on n under name and returns the local
// replica. initial is the starting state on this node (normally empty; each
// node passes its own) and belongs to the replica from now on. Every node
// that holds the replica must use the same name and CRDT type, and have
// registered the message types with RegisterTypes.
func New(n *node.Node, name string, initial crdt.State, cfg Config) (*Replica, error) {
	return newReplica(n, name, initial, cfg, nil)
}

func newReplica(n *node.Node, name string, initial crdt.State, cfg Config, mkDiff func(r *Replica) differ) (*Replica, error) {
	if n == nil {
		return nil, fmt.Errorf("%w: nil node", ErrInvalidConfig)
	}
	if name == "" || len(name) > maxName {
		return nil, fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	if initial == nil || reflect.ValueOf(initial).Kind() != reflect.Pointer || reflect.ValueOf(initial).IsNil() {
		return nil, ErrNilState
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Members == nil {
		cfg.Members = NodeMembers(n)
	}
	typ := reflect.TypeOf(initial).Elem()
	newState := func() crdt.State { return reflect.New(typ).Interface().(crdt.State) }
	ticks := func(d time.Duration) uint64 { return uint64(max(1, d/cfg.Interval)) }
	origin := n.Name() + "#" + strconv.FormatUint(rand.Uint64(), 36)
	r := &Replica{
		n:        n,
		name:     name,
		fn:       funcPrefix + name,
		cfg:      cfg,
		inbox:    make(chan *syncMsg, cfg.InboxSize),
		kick:     make(chan struct{}, 1),
		events:   newDispatcher(),
		stop:     make(chan struct{}),
		progress: make(chan struct{}),
		core: newCore(n.Name(), origin, initial, newState, coreConfig{
			retransmitTicks: uint64(cfg.RetransmitTicks),
			relayTicks:      uint64(cfg.RelayTicks),
			digestTicks:     uint64(cfg.DigestTicks),
			forgetTicks:     ticks(cfg.ForgetAfter),
			maxMessageBytes: cfg.MaxMessageBytes,
			maxLogBytes:     cfg.MaxLogBytes,
		}),
	}
	if cfg.DataDir != "" {
		if err := r.openStore(initial); err != nil {
			return nil, err
		}
	}
	if mkDiff != nil {
		r.diff = mkDiff(r)
	} else {
		r.diff = &bytesDiffer{r: r}
	}
	if err := n.Register(r.fn, r.handle); err != nil {
		if r.store != nil {
			_ = r.store.closeDB()
		}
		return nil, fmt.Errorf("replica: %w", err)
	}
	r.cancelM = cfg.Members.OnChange(func() {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	})
	r.wg.Add(2)
	go func() { defer r.wg.Done(); r.events.run(r.stop) }()
	go func() { defer r.wg.Done(); r.loop() }()
	return r, nil
}

// Name returns the replica's name.
func (r *Replica) Name() string { return r.name }

// ID returns this replica's incarnation id, the node id to give CRDT
// mutators in Update: the node name, '#' and a random suffix.
func (r *Replica) ID() string { return r.core.origin }

// Stats returns the replica's counters.
func (r *Replica) Stats() *Stats { return &r.stats }

// Update applies a delta mutator: fn changes s (the replica's state) through
// its mutators, with ID as the node id, and returns the delta they return
// (several deltas joined, or nil for no change). The change is local and
// acknowledged at once; peers learn it within a sync round or two. fn runs
// with the replica locked and must not call the replica.
//
// With Config.SyncEveryWrite, Update returns once the change is synced to
// the store; if that fails it returns an error wrapping ErrNotPersisted
// (or ErrClosed if the replica closed meanwhile), and the change stays
// applied.
func (r *Replica) Update(fn func(s crdt.State) (delta crdt.State)) error {
	if r.closed.Load() {
		return ErrClosed
	}
	changed, err := r.update(fn)
	if err != nil || !changed || r.store == nil || !r.cfg.SyncEveryWrite {
		return err
	}
	if err := r.persist(); err != nil {
		if errors.Is(err, ErrClosed) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrNotPersisted, err)
	}
	return nil
}

// update applies fn under the lock and reports whether it changed the state.
func (r *Replica) update(fn func(s crdt.State) (delta crdt.State)) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delta := fn(r.core.state)
	if v := reflect.ValueOf(delta); delta == nil || v.Kind() == reflect.Pointer && v.IsNil() {
		return false, nil
	}
	if reflect.TypeOf(delta) != reflect.TypeOf(r.core.state) {
		return false, fmt.Errorf("%w: %T for a %T", ErrWrongType, delta, r.core.state)
	}
	if err := r.core.local(delta); err != nil {
		return false, err
	}
	r.changedLocked()
	return true, nil
}

// Read calls fn with the current state under a read lock: fn must only
// read it, must not keep it, and must not call the replica. Read never
// waits for the network.
func (r *Replica) Read(fn func(s crdt.State)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn(r.core.state)
}

// Snapshot returns the encoded current state.
func (r *Replica) Snapshot() ([]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.core.state.MarshalBinary()
}

// Digest returns, per origin, the sequence number up to which this replica
// has applied every delta.
func (r *Replica) Digest() map[string]uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.core.digest()
}

// Subscribe calls fn for every change event, in order, on the replica's
// event goroutine, until cancel is called or the replica closes. fn must
// not block for long: later events wait for it. Events are computed by
// comparing the value before and after each change, which for Map and Set
// costs a pass over the keys per applied message while somebody is
// subscribed. fn may read and update the replica but must not Close it.
func (r *Replica) Subscribe(fn func(Event)) (cancel func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cancel, first := r.events.add(fn)
	if first {
		r.diff.reset()
	}
	return cancel
}

// Sync runs a sync round now instead of waiting for the next interval.
func (r *Replica) Sync() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Close stops replicating: the replica's goroutines end and messages for
// it are refused. The local state stays readable. Close is idempotent.
// Closing the node does not close its replicas: close them too, before or
// after the node. Without Config.DataDir, local writes not yet shipped to a
// peer are lost with the replica. With it, Close writes and syncs the
// state a last time and closes the store; it returns the error of that
// write or of closing the store (only the first Close does).
func (r *Replica) Close() error { return r.close(true) }

// close is Close; flush false skips the last write of the store, as a crash
// would.
func (r *Replica) close(flush bool) error {
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	r.cancelM()
	_ = r.n.Register(r.fn, func(context.Context, any) (any, error) { return nil, ErrClosed })
	close(r.stop)
	r.wg.Wait()
	if r.store == nil {
		return nil
	}
	var err error
	if flush {
		err = r.persist()
	}
	return errors.Join(err, r.store.close())
}

// handle is the node function peers cast sync messages to. It only queues.
func (r *Replica) handle(_ context.Context, arg any) (any, error) {
	var m *syncMsg
	switch v := arg.(type) {
	case syncMsg:
		m = &v
	case *syncMsg:
		m = v
	default:
		r.stats.Malformed.Add(1)
		return nil, fmt.Errorf("replica: unexpected message %T", arg)
	}
	if r.closed.Load() {
		return nil, ErrClosed
	}
	select {
	case r.inbox <- m:
	default:
		r.stats.Dropped.Add(1)
	}
	return nil, nil
}

// loop applies received messages and runs the sync rounds.
func (r *Replica) loop() {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case m := <-r.inbox:
			r.receive(m)
		case <-t.C:
			r.round()
			if r.store != nil {
				if err := r.persist(); err != nil {
					r.cfg.Logger.Warn("replica: persisting", "replica", r.name, "err", err)
				}
			}
		case <-r.kick:
			r.round()
		}
	}
}

// maxBatch bounds the messages applied under one lock and one change diff.
const maxBatch = 16

// receive applies m and the messages queued behind it (up to maxBatch),
// then computes the change events of them all at once.
func (r *Replica) receive(m *syncMsg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for i := 0; ; i++ {
		r.stats.MessagesReceived.Add(1)
		ch, err := r.core.receive(m)
		if err != nil {
			r.stats.Malformed.Add(1)
			r.cfg.Logger.Warn("replica: bad sync message", "replica", r.name, "from", m.From, "err", err)
		}
		changed = changed || ch
		if i+1 == maxBatch {
			break
		}
		select {
		case m = <-r.inbox:
			continue
		default:
		}
		break
	}
	if changed {
		r.changedLocked()
	}
	r.progressedLocked()
}

// progressedLocked wakes WaitAcked callers.
func (r *Replica) progressedLocked() {
	close(r.progress)
	r.progress = make(chan struct{})
}

// WaitAcked waits until every member has acknowledged every delta this
// replica had applied when WaitAcked was called (its own writes included),
// or ctx is done, or the replica closes. Members are read again as they
// change; with none it returns at once.
func (r *Replica) WaitAcked(ctx context.Context) error {
	r.mu.RLock()
	target := r.core.digest()
	r.mu.RUnlock()
	for {
		members := r.cfg.Members.Members()
		r.mu.RLock()
		r.syncMu.Lock()
		who, ok := r.core.ackedBy(members, target)
		wake := r.progress
		r.syncMu.Unlock()
		r.mu.RUnlock()
		if ok {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("replica: %s has not acknowledged: %w", who, context.Cause(ctx))
		case <-r.stop:
			return ErrClosed
		}
	}
}

// changedLocked computes and queues the events of a change.
func (r *Replica) changedLocked() {
	r.version++
	if r.events.subscribed() {
		r.events.push(r.diff.diff())
	}
}

// round runs one sync round and sends its messages.
func (r *Replica) round() {
	members := r.cfg.Members.Members()
	r.mu.RLock()
	r.syncMu.Lock()
	out, err := r.core.step(members)
	r.progressedLocked()
	r.syncMu.Unlock()
	r.mu.RUnlock()
	if err != nil {
		r.cfg.Logger.Warn("replica: sync round", "replica", r.name, "err", err)
	}
	codec := r.n.Codec()
	connected := map[string]bool{}
	for _, n := range r.n.Nodes() {
		connected[n] = true
	}
	var buf []byte
	for _, o := range out {
		if !connected[o.to] {
			// Never dial from the sync loop: a dial to an unreachable
			// member would hold up every other peer. What is not sent
			// is sent again once the member is connected.
			r.stats.SendFailures.Add(1)
			continue
		}
		if err := r.cast(o.to, o.msg); err != nil {
			r.stats.SendFailures.Add(1)
			continue
		}
		r.stats.MessagesSent.Add(1)
		if b, err := codec.AppendEncode(buf[:0], *o.msg); err == nil {
			buf = b
			r.stats.BytesSent.Add(uint64(len(b)))
		}
		for _, g := range o.msg.Groups {
			r.stats.DeltaBytesSent.Add(uint64(len(g.Data)))
		}
		if o.msg.Full != nil {
			r.stats.FullStatesSent.Add(1)
			r.stats.FullStateBytesSent.Add(uint64(len(o.msg.Full)))
		}
	}
}

// cast sends m to node to. A panic inside the node layer (a nil link
// returned by a dial that raced with the link's failure) is turned into an
// error: the message is lost and retransmitted later, as on any failure.
func (r *Replica) cast(to string, m *syncMsg) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("replica: sending to %s: %v", to, p)
		}
	}()
	return r.n.Cast(to, r.fn, *m)
}

// bytesDiffer reports Changed when the encoded state differs.
type bytesDiffer struct {
	r    *Replica
	last []byte
}

func (d *bytesDiffer) reset() { d.last, _ = d.r.core.state.MarshalBinary() }

func (d *bytesDiffer) diff() []Event {
	b, err := d.r.core.state.MarshalBinary()
	if err != nil || string(b) == string(d.last) {
		return nil
	}
	d.last = b
	return []Event{{Replica: d.r.name, Kind: Changed}}
}

package raft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/raft/internal/logstore"
	"github.com/grovedev/grove/raft/internal/wire"
)

// Stats counts what a host did. Every field is safe to read at any time.
type Stats struct {
	// Rounds counts engine rounds that persisted or sent something, and
	// Syncs the synced writes of the shared log (at most one per round).
	Rounds, Syncs atomic.Uint64
	// BatchesSent counts node messages sent to peers (one per peer per
	// round at most, carrying every group's Raft messages), MessagesSent
	// the Raft messages in them, BytesSent their encoded size.
	BatchesSent, MessagesSent, BytesSent atomic.Uint64
	// SendFailures counts batches a peer could not be handed (not
	// connected, mailbox full); Raft retransmits what they held.
	SendFailures atomic.Uint64
	// MessagesReceived counts Raft messages stepped into groups.
	MessagesReceived atomic.Uint64
	// Dropped counts received messages for a group not running here, of
	// unknown senders or that failed to decode.
	Dropped atomic.Uint64
	// Quiesced counts groups going idle; Active is how many groups tick.
	Quiesced atomic.Uint64
	Active   atomic.Int64
	// SnapshotsSent and SnapshotsReceived count snapshot transfers,
	// SnapshotsTaken the machine snapshots taken to truncate logs.
	SnapshotsSent, SnapshotsReceived, SnapshotsTaken atomic.Uint64
	// EffectFailures counts effects that could not run (a failed send).
	EffectFailures atomic.Uint64
	// Overloaded counts pipelined commands refused with ErrOverloaded.
	Overloaded atomic.Uint64
}

// Names of the processes a host registers on its node's runtime.
const (
	transportName = "grove.raft"
	snapshotName  = "grove.raft.snapshot"
	watcherName   = "grove.raft.watch"
)

// Host runs every Raft group of one node on one engine goroutine, with one
// shared log. Create it with Start; it is safe for concurrent use.
type Host struct {
	n      *node.Node
	rt     *proc.Runtime
	self   string
	selfID uint64
	cfg    Config
	log    *slog.Logger
	store  *logstore.Store
	nonce  uint64
	seq    atomic.Uint64
	stats  Stats
	admit  admission

	inbox struct {
		sync.Mutex
		ops    []func()
		closed bool
	}
	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	handles struct {
		sync.RWMutex
		m map[string]*Group
	}

	// Owned by the engine goroutine.
	groups    map[uint64]*group
	active    map[*group]struct{}
	dirty     map[*group]struct{}
	tickers   map[*group]struct{}
	connected map[string]bool
	ticks     uint64
	failed    error
	outbox    map[string]*wire.Batch
	snapOut   []snapSend
	assembly  map[assemblyKey]*assembly
	notes     []note
	open      *writeJob       // the batch collecting this round's appends
	writing   bool            // a batch is with the writer
	deleting  map[uint64]bool // groups whose deletion is not written yet

	writes     chan *writeJob
	writerDone chan struct{}

	pids      []proc.PID
	watcher   proc.PID
	cancelSub func()
	running   bool
	closeOnce sync.Once
}

// Start opens the node's Raft log under cfg.DataDir and starts the engine.
// Groups are then started (or restarted from the log) with StartGroup.
// The message types must have been registered in the node's codec with
// RegisterTypes on every node.
func Start(n *node.Node, cfg Config) (*Host, error) {
	if n == nil {
		return nil, fmt.Errorf("%w: nil node", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Logger == nil {
		cfg.Logger = n.Runtime().Logger()
	}
	store, err := logstore.Open(filepath.Join(cfg.DataDir, "raft"), logstore.Options{FS: cfg.FS, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	h := &Host{
		n: n, rt: n.Runtime(), self: n.Name(), selfID: nodeID(n.Name()),
		cfg: cfg, log: cfg.Logger.With(slog.String("component", "raft")), store: store,
		nonce: rand.Uint64(),
		wake:  make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		groups: map[uint64]*group{}, active: map[*group]struct{}{}, dirty: map[*group]struct{}{},
		tickers: map[*group]struct{}{}, connected: map[string]bool{}, outbox: map[string]*wire.Batch{},
		assembly: map[assemblyKey]*assembly{}, deleting: map[uint64]bool{},
	}
	h.admit.maxCount, h.admit.maxBytes = int64(cfg.MaxPendingCommands), cfg.MaxPendingBytes
	h.handles.m = map[string]*Group{}
	for _, name := range n.Nodes() {
		h.connected[name] = true
	}
	h.cancelSub = n.Subscribe(func(e node.Event) {
		_ = h.submit(func() { h.nodeEvent(e) })
	})
	for _, spec := range []struct {
		name string
		beh  proc.Behavior
	}{{transportName, &inbound{h: h}}, {snapshotName, &inbound{h: h}}, {watcherName, &watcher{h: h}}} {
		pid, err := h.rt.Spawn(spec.beh, proc.WithName(spec.name))
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("raft: register %s: %w", spec.name, err)
		}
		h.pids = append(h.pids, pid)
		if spec.name == watcherName {
			h.watcher = pid
		}
	}
	h.running = true
	h.writes, h.writerDone = make(chan *writeJob, 1), make(chan struct{})
	go h.writer()
	go h.run()
	return h, nil
}

// Node returns the host's node.
func (h *Host) Node() *node.Node { return h.n }

// Stats returns the host's counters.
func (h *Host) Stats() *Stats { return &h.stats }

// StoreStats returns the shared log's write counters.
func (h *Host) StoreStats() *logstore.Stats { return h.store.Stats() }

// Close stops every group and the engine and closes the log. Pending
// commands end with ErrUnknownOutcome, queries with ErrStopped. Close is
// idempotent.
func (h *Host) Close() error {
	var err error
	h.closeOnce.Do(func() {
		if h.cancelSub != nil {
			h.cancelSub()
		}
		h.inbox.Lock()
		h.inbox.closed = true
		h.inbox.Unlock()
		close(h.stop)
		if h.running {
			<-h.done
			close(h.writes)
			<-h.writerDone
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, pid := range h.pids {
			_ = h.rt.Stop(ctx, pid, proc.ErrShutdown)
		}
		err = h.store.Close()
	})
	return err
}

// submit queues op to run on the engine goroutine.
func (h *Host) submit(op func()) error {
	h.inbox.Lock()
	if h.inbox.closed {
		h.inbox.Unlock()
		return ErrStopped
	}
	h.inbox.ops = append(h.inbox.ops, op)
	h.inbox.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
	return nil
}

// Groups returns the names of the groups stored in this host's log: those
// to restart with StartGroup after a node restart.
func (h *Host) Groups() ([]string, error) {
	ids, err := h.store.Groups()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, id := range ids {
		l, err := h.store.Log(id)
		if err != nil {
			return nil, err
		}
		name, err := decodeMeta(l.Meta())
		if err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// Group returns the running group name, nil if none.
func (h *Host) Group(name string) *Group {
	h.handles.RLock()
	defer h.handles.RUnlock()
	return h.handles.m[name]
}

// StartGroup starts this node's member of a group: restarted from the log
// when the log has the group, bootstrapped on cfg.Members otherwise (or
// waiting to be added, with cfg.Join).
func (h *Host) StartGroup(ctx context.Context, cfg GroupConfig) (*Group, error) {
	gs, err := h.StartGroups(ctx, []GroupConfig{cfg})
	if err != nil {
		return nil, err
	}
	return gs[0], nil
}

// StartGroups starts many groups as StartGroup does, with one synced
// write for all the new ones: the way to create thousands of groups.
func (h *Host) StartGroups(ctx context.Context, cfgs []GroupConfig) ([]*Group, error) {
	cfgs = slices.Clone(cfgs)
	for i := range cfgs {
		if err := h.checkGroupConfig(&cfgs[i]); err != nil {
			return nil, err
		}
	}
	type res struct {
		gs  []*Group
		err error
	}
	ch := make(chan res, 1)
	if err := h.submit(func() {
		gs, err := h.startGroups(cfgs)
		ch <- res{gs, err}
	}); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.gs, r.err
	case <-ctx.Done():
		// The groups may still start: stop them if they do.
		go func() {
			for _, g := range (<-ch).gs {
				_ = g.Stop()
			}
		}()
		return nil, ctx.Err()
	}
}

// checkGroupConfig validates cfg and fills in its defaults.
func (h *Host) checkGroupConfig(cfg *GroupConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.MachineTick == 0 {
		cfg.MachineTick = time.Second
	}
	if !cfg.Join && len(cfg.Members) == 0 {
		l, err := h.store.Log(groupID(cfg.Name))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrStorage, err)
		}
		if l.Meta() == nil {
			return fmt.Errorf("%w: group %s is new: it needs Members or Join", ErrInvalidConfig, cfg.Name)
		}
	}
	if len(cfg.Members) > 0 && !slices.Contains(cfg.Members, h.self) {
		return fmt.Errorf("%w: Members %v do not include this node %s", ErrInvalidConfig, cfg.Members, h.self)
	}
	return nil
}

// run is the engine goroutine. It ticks only while some group is active
// (or has a machine ticker): a host whose groups are all quiescent sleeps
// until a message or a call wakes it.
func (h *Host) run() {
	defer close(h.done)
	ticker := time.NewTicker(h.cfg.TickInterval)
	defer ticker.Stop()
	ticking := true
	again := false
	for {
		if busy := len(h.active) > 0 || len(h.tickers) > 0; busy != ticking {
			ticking = busy
			if busy {
				ticker.Reset(h.cfg.TickInterval)
			} else {
				ticker.Stop()
			}
		}
		tick := false
		if !again {
			select {
			case <-h.stop:
				h.shutdown()
				return
			case <-h.wake:
			case <-ticker.C:
				tick = true
			}
		} else {
			select {
			case <-h.stop:
				h.shutdown()
				return
			case <-ticker.C:
				tick = true
			default:
			}
		}
		h.inbox.Lock()
		ops := h.inbox.ops
		h.inbox.ops = nil
		h.inbox.Unlock()
		for _, op := range ops {
			op()
		}
		if tick {
			h.tick()
		}
		again = h.round()
	}
}

// shutdown ends every group, on the engine goroutine.
func (h *Host) shutdown() {
	h.inbox.Lock()
	ops := h.inbox.ops
	h.inbox.ops = nil
	h.inbox.Unlock()
	for _, op := range ops {
		op() // lets waiters learn the host stopped
	}
	for _, g := range h.groups {
		g.stopLocked(ErrStopped)
	}
	if j := h.open; j != nil {
		// Nothing acknowledged waits for it: drop it.
		h.open = nil
		j.b.Discard()
		for _, d := range j.deletes {
			d.done(ErrStopped)
		}
	}
}

// tick advances every active group by one tick.
func (h *Host) tick() {
	h.ticks++
	for g := range h.active {
		g.rn.Tick()
		g.idle++
		h.dirty[g] = struct{}{}
		if g.notice != nil {
			// A quiesce notice refused earlier (a write was in flight):
			// look at it again, while it still matches.
			h.notes = append(h.notes, *g.notice)
		}
	}
	for g := range h.tickers {
		if g.role == Leader && g.machineTicks > 0 && h.ticks%g.machineTicks == 0 {
			g.runEffects(g.cfg.Machine.(Ticker).Tick(h.rt.Clock().Now()))
		}
	}
	h.expirePending()
}

// round handles what every dirty group has ready. Raft runs with
// asynchronous storage writes: a round sends the groups' messages, applies
// what is committed, and adds what must be persisted to the open batch;
// the writer goroutine commits batches one at a time, each with one fsync
// for every group, while the engine goes on. Answers that may leave only
// once an entry is durable (a follower's acknowledgement, a vote) are
// released when the batch that holds it is committed. It reports whether a
// group has more to do.
func (h *Host) round() (more bool) {
	if h.failed != nil {
		clear(h.dirty)
		return false
	}
	worked := false
	for g := range h.dirty {
		delete(h.dirty, g)
		if g.stopped || !g.rn.HasReady() {
			continue
		}
		worked = true
		g.handleReady(g.rn.Ready())
		if g.stopped {
			continue
		}
		g.maybeSnapshot()
		if h.cfg.QuiesceTicks > 0 && g.role == Leader && g.idle >= h.cfg.QuiesceTicks {
			g.maybeQuiesce()
		}
		g.publish()
		if g.rn.HasReady() {
			more = true
			h.dirty[g] = struct{}{}
		}
	}
	if worked || len(h.outbox) > 0 {
		h.stats.Rounds.Add(1)
	}
	h.flush()
	h.startWrite()
	for _, n := range h.notes {
		if !n.g.stopped {
			n.g.quiesceFollower(n.q, n.from)
		}
	}
	clear(h.notes)
	h.notes = h.notes[:0]
	return more || len(h.dirty) > 0
}

// handleReady dispatches one Ready: messages to peers go to the outbox,
// the append to the open batch, the committed entries to the machine.
func (g *group) handleReady(rd raft.Ready) {
	h := g.h
	if rd.SoftState != nil {
		g.softState(rd.SoftState)
	}
	if len(rd.ReadStates) > 0 {
		g.idle = 0
		g.readStates(rd.ReadStates)
	}
	for _, m := range rd.Messages {
		switch m.GetTo() {
		case raft.LocalAppendThread:
			h.appendToBatch(g, m)
		case raft.LocalApplyThread:
			g.applyEntries(m.GetEntries())
			if g.stopped {
				return
			}
			for _, r := range m.GetResponses() {
				g.step(r)
			}
		default:
			g.queue([]*pb.Message{m})
		}
	}
	g.runReads()
}

// step hands a local response back to the group's Raft node.
func (g *group) step(m *pb.Message) {
	if err := g.rn.Step(m); err != nil {
		g.h.log.Debug("local step failed", slog.String("group", g.name), slog.Any("err", err))
	}
	g.h.dirty[g] = struct{}{}
}

// appendToBatch adds a storage append to the open batch.
func (h *Host) appendToBatch(g *group, m *pb.Message) {
	if h.open == nil {
		h.open = &writeJob{b: h.store.NewBatch()}
	}
	j := h.open
	if snap := m.GetSnapshot(); snap != nil && !raft.IsEmptySnap(snap) {
		j.b.ApplySnapshot(g.log, snap)
		j.snaps = append(j.snaps, snapApply{g, snap})
		j.sync = true
	}
	if len(m.GetEntries()) > 0 {
		j.b.Append(g.log, m.GetEntries())
		j.sync = true
		g.idle = 0
	}
	if m.Term != nil {
		hs := &pb.HardState{Term: proto.Uint64(m.GetTerm()), Vote: proto.Uint64(m.GetVote()), Commit: proto.Uint64(m.GetCommit())}
		if hs.GetTerm() != g.savedHS.GetTerm() || hs.GetVote() != g.savedHS.GetVote() {
			j.sync = true
		}
		j.b.SetHardState(g.log, hs)
		g.savedHS = hs
	}
	j.after = append(j.after, afterWrite{g, m.GetResponses()})
	g.inflight++
}

// writeJob is a batch on its way to the disk and what waits for it.
type writeJob struct {
	b       *logstore.Batch
	sync    bool
	after   []afterWrite
	snaps   []snapApply
	deletes []deletion
	err     error
}

// deletion is a group's log deletion and who waits for it.
type deletion struct {
	id   uint64
	done func(error)
}

// deleteLog adds the deletion of a stopped group's log to the open batch:
// it is written after every batch that may still hold the group's writes.
func (h *Host) deleteLog(l *logstore.Log, done func(error)) {
	if h.open == nil {
		h.open = &writeJob{b: h.store.NewBatch()}
	}
	h.open.b.DeleteGroup(l)
	h.open.sync = true
	h.open.deletes = append(h.open.deletes, deletion{l.ID(), done})
	h.deleting[l.ID()] = true
}

// afterWrite holds a group's messages released by a committed batch.
type afterWrite struct {
	g    *group
	msgs []*pb.Message
}

// snapApply is a leader's snapshot to install in the machine once it is
// on disk.
type snapApply struct {
	g    *group
	snap *pb.Snapshot
}

// startWrite hands the open batch to the writer when the writer is idle:
// while one batch is being written, the next collects every round's
// appends, so the fsyncs follow each other back to back.
func (h *Host) startWrite() {
	if h.writing || h.open == nil {
		return
	}
	j := h.open
	h.open = nil
	h.writing = true
	h.writes <- j
}

// writer commits batches, in order, on its own goroutine.
func (h *Host) writer() {
	defer close(h.writerDone)
	for j := range h.writes {
		j.err = j.b.Commit(j.sync)
		if h.submit(func() { h.written(j) }) != nil {
			// The host is closing: tell the deletions how they went.
			for _, d := range j.deletes {
				if j.err != nil {
					d.done(fmt.Errorf("%w: %v", ErrStorage, j.err))
				} else {
					d.done(nil)
				}
			}
		}
	}
}

// written releases what waited for a committed batch.
func (h *Host) written(j *writeJob) {
	h.writing = false
	for _, d := range j.deletes {
		delete(h.deleting, d.id)
		if j.err != nil {
			d.done(fmt.Errorf("%w: %v", ErrStorage, j.err))
		} else {
			d.done(nil)
		}
	}
	if j.err != nil {
		h.storageFailed(j.err)
		return
	}
	if j.sync {
		h.stats.Syncs.Add(1)
	}
	for _, s := range j.snaps {
		if !s.g.stopped {
			s.g.installSnapshot(s.snap)
		}
	}
	for _, a := range j.after {
		a.g.inflight--
		if a.g.stopped {
			continue
		}
		for _, m := range a.msgs {
			if m.GetTo() == h.selfID {
				a.g.step(m)
			} else {
				a.g.queue([]*pb.Message{m})
			}
		}
	}
	h.flush()
	h.startWrite()
}

// note is a quiesce notice, checked at the end of the round that received
// it.
type note struct {
	g    *group
	q    wire.Quiesce
	from uint64
}

// storageFailed stops every group after the shared log failed: nothing
// more is acknowledged.
func (h *Host) storageFailed(err error) {
	h.failed = fmt.Errorf("%w: %v", ErrStorage, err)
	h.log.Error("raft log write failed; every group stops", slog.Any("err", err))
	for _, g := range h.groups {
		g.stopLocked(h.failed)
	}
}

// nodeEvent handles a node link going up or down.
func (h *Host) nodeEvent(e node.Event) {
	h.connected[e.Node] = e.Up
	id := nodeID(e.Node)
	for _, g := range h.groups {
		if _, member := g.members[id]; !member {
			continue
		}
		g.wakeUp()
		if !e.Up {
			if g.role == Leader {
				g.rn.ReportUnreachable(id)
			} else if g.leader == id {
				_ = g.rn.ForgetLeader()
			}
			g.nodeDown(e.Node)
		}
		h.dirty[g] = struct{}{}
	}
}

// nextTag returns a fresh proposal tag.
func (h *Host) nextTag() proposalTag { return proposalTag{nonce: h.nonce, seq: h.seq.Add(1)} }

// deliver steps a received batch into its groups.
func (h *Host) deliver(b wire.Batch) {
	fromID := nodeID(b.From)
	for _, m := range b.Msgs {
		g := h.groups[m.Group]
		if g == nil || g.stopped {
			h.stats.Dropped.Add(1)
			continue
		}
		msg := &pb.Message{}
		if err := unmarshalMessage(m.Raw, msg); err != nil || msg.GetFrom() != fromID {
			h.stats.Dropped.Add(1)
			continue
		}
		g.learn(fromID, b.From)
		if g.quiesced && msg.GetType() == pb.MsgHeartbeatResp && len(msg.GetContext()) == 0 {
			// The answer to the heartbeat sent with the quiesce notice:
			// nothing to act on, and stepping it would not change the
			// leader's state.
			h.stats.MessagesReceived.Add(1)
			continue
		}
		g.wakeUp()
		if err := g.rn.Step(msg); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) {
			h.stats.Dropped.Add(1)
			continue
		}
		h.stats.MessagesReceived.Add(1)
		h.dirty[g] = struct{}{}
	}
	for _, q := range b.Quiesce {
		if g := h.groups[q.Group]; g != nil && !g.stopped {
			g.notice = &note{g, q, fromID}
			h.notes = append(h.notes, *g.notice)
		}
	}
}

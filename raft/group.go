package raft

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"

	"github.com/grovedev/grove/clock"
	"github.com/grovedev/grove/raft/internal/logstore"
	"github.com/grovedev/grove/raft/internal/wire"
)

// group is one member of a group on this host. Every field is owned by the
// engine goroutine.
type group struct {
	h      *Host
	name   string
	id     uint64
	cfg    GroupConfig
	handle *Group
	rn     *raft.RawNode
	log    *logstore.Log

	members     map[uint64]string // current voters and learners
	known       map[uint64]string // every node name ever heard of, by id
	confState   *pb.ConfState
	applied     uint64
	appliedTerm uint64
	snapIndex   uint64
	savedHS     *pb.HardState // the last hard state handed to a batch
	role        Role
	leader      uint64
	term        uint64

	forceSnap    bool  // snapshot at the next chance: a member was added
	bootstrapped bool  // created by this start, not restarted
	inflight     int   // appends of this group in batches not yet written
	notice       *note // the leader's last quiesce notice, until followed
	quiesced     bool
	idle         int
	machineTicks uint64

	pending map[proposalTag]*pending
	reads   map[proposalTag]*readReq
	waiting []*readReq // reads whose index is known, waiting for applied

	timers  map[string]clock.Timer
	nodeMon map[string][][]byte

	stopped bool
	err     error
}

// pending is a proposal waiting for its entry to be applied.
type pending struct {
	done     func(Result, error)
	deadline time.Time // zero: until the caller gives up
	cost     int64     // its share of the host's admission bound
}

// finish removes a pending proposal and returns its room to the host.
func (g *group) finish(t proposalTag) (*pending, bool) {
	p, ok := g.pending[t]
	if !ok {
		return nil, false
	}
	delete(g.pending, t)
	if p.cost > 0 {
		g.h.admit.release(p.cost)
	}
	return p, true
}

// readReq is a consistent query waiting for its read index.
type readReq struct {
	fn    func(Machine) (any, error)
	done  func(any, error)
	index uint64
	ready bool
}

// startGroups creates or restarts groups, on the engine goroutine, with
// one synced write for all the new ones.
func (h *Host) startGroups(cfgs []GroupConfig) ([]*Group, error) {
	if h.failed != nil {
		return nil, h.failed
	}
	b := h.store.NewBatch()
	gs := make([]*group, 0, len(cfgs))
	seen := map[uint64]bool{}
	for _, cfg := range cfgs {
		g, err := h.prepareGroup(cfg, b)
		if err == nil && seen[g.id] {
			err = fmt.Errorf("%w: %s given twice", ErrGroupExists, cfg.Name)
		}
		if err != nil {
			b.Discard()
			return nil, err
		}
		seen[g.id] = true
		gs = append(gs, g)
	}
	if err := b.Commit(true); err != nil {
		h.storageFailed(err)
		return nil, h.failed
	}
	out := make([]*Group, 0, len(gs))
	for _, g := range gs {
		if err := h.finishGroup(g); err != nil {
			return out, err
		}
		out = append(out, g.handle)
	}
	return out, nil
}

// prepareGroup builds a group from its log, or adds its bootstrap to b.
func (h *Host) prepareGroup(cfg GroupConfig, b *logstore.Batch) (*group, error) {
	id := groupID(cfg.Name)
	if _, ok := h.groups[id]; ok {
		return nil, fmt.Errorf("%w: %s", ErrGroupExists, cfg.Name)
	}
	if h.deleting[id] {
		return nil, fmt.Errorf("%w: %s is being deleted", ErrGroupExists, cfg.Name)
	}
	l, err := h.store.Log(id)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	g := &group{
		h: h, name: cfg.Name, id: id, cfg: cfg, log: l,
		members: map[uint64]string{}, known: map[uint64]string{h.selfID: h.self},
		pending: map[proposalTag]*pending{}, reads: map[proposalTag]*readReq{},
		timers: map[string]clock.Timer{}, nodeMon: map[string][][]byte{},
	}
	if meta := l.Meta(); meta != nil {
		name, err := decodeMeta(meta)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrStorage, err)
		}
		if name != cfg.Name {
			return nil, fmt.Errorf("%w: log of group %d belongs to %q", ErrStorage, id, name)
		}
		if err := g.restore(); err != nil {
			return nil, err
		}
		return g, nil
	}
	b.SetMeta(l, encodeMeta(cfg.Name))
	if !cfg.Join {
		voters := make([]uint64, 0, len(cfg.Members))
		for _, m := range cfg.Members {
			mid := nodeID(m)
			g.members[mid], g.known[mid] = m, m
			voters = append(voters, mid)
		}
		sd := snapshotData{flags: snapshotFlagInitial, members: g.members, machineVersion: machineVersion(cfg.Machine)}
		b.ApplySnapshot(l, &pb.Snapshot{Data: sd.encode(), Metadata: &pb.SnapshotMetadata{
			Index: proto.Uint64(1), Term: proto.Uint64(1), ConfState: &pb.ConfState{Voters: voters},
		}})
		b.SetHardState(l, &pb.HardState{Term: proto.Uint64(1), Commit: proto.Uint64(1)})
		g.applied, g.appliedTerm, g.snapIndex = 1, 1, 1
		g.bootstrapped = true
	}
	return g, nil
}

// finishGroup starts a prepared group's Raft node, once its log is
// written.
func (h *Host) finishGroup(g *group) error {
	cfg, l := g.cfg, g.log
	_, cs, _ := l.InitialState()
	g.confState = cs
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        h.selfID,
		ElectionTick:              h.cfg.ElectionTicks,
		HeartbeatTick:             h.cfg.HeartbeatTicks,
		Storage:                   l,
		Applied:                   g.applied,
		MaxSizePerMsg:             h.cfg.MaxSizePerMsg,
		MaxInflightMsgs:           h.cfg.MaxInflightMsgs,
		MaxUncommittedEntriesSize: 64 << 20,
		CheckQuorum:               true,
		PreVote:                   true,
		StepDownOnRemoval:         true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		AsyncStorageWrites:        true,
		Logger:                    raftLogger{h.log, cfg.Name},
	})
	if err != nil {
		return fmt.Errorf("raft: group %s: %w", cfg.Name, err)
	}
	g.rn = rn
	if t, ok := cfg.Machine.(Ticker); ok && t != nil {
		g.machineTicks = uint64(max(1, cfg.MachineTick/h.cfg.TickInterval))
		h.tickers[g] = struct{}{}
	}
	g.handle = &Group{h: h, name: cfg.Name}
	h.groups[g.id] = g
	h.active[g] = struct{}{}
	h.stats.Active.Add(1)
	h.dirty[g] = struct{}{}
	if g.bootstrapped && slices.Min(g.voterNames()) == h.self {
		// A new group: its first member by name campaigns at once rather
		// than after a random election timeout, so that thousands of new
		// groups elect without a storm of split votes. If the others have
		// not started the group yet, the usual timeouts take over.
		_ = rn.Campaign()
	}
	g.publish()
	h.handles.Lock()
	h.handles.m[cfg.Name] = g.handle
	h.handles.Unlock()
	return nil
}

func machineVersion(m Machine) uint32 {
	if v, ok := m.(Versioned); ok {
		return v.Version()
	}
	return 0
}

// restore loads the machine from the stored snapshot.
func (g *group) restore() error {
	snap, err := g.log.Snapshot()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	idx := snap.GetMetadata().GetIndex()
	if idx == 0 {
		return nil // joined, never received a snapshot
	}
	if err := g.restoreFrom(snap); err != nil {
		return err
	}
	g.applied, g.appliedTerm, g.snapIndex = idx, snap.GetMetadata().GetTerm(), idx
	return nil
}

// restoreFrom installs a snapshot's members and machine state.
func (g *group) restoreFrom(snap *pb.Snapshot) error {
	sd, err := decodeSnapshotData(snap.GetData())
	if err != nil {
		return fmt.Errorf("%w: group %s snapshot: %v", ErrStorage, g.name, err)
	}
	if sd.flags&snapshotFlagInitial == 0 {
		own := machineVersion(g.cfg.Machine)
		switch v, versioned := g.cfg.Machine.(Versioned); {
		case sd.machineVersion > own:
			return fmt.Errorf("%w: snapshot version %d, machine version %d", ErrMachineVersion, sd.machineVersion, own)
		case versioned:
			err = v.RestoreVersion(sd.machineVersion, sd.machine)
		default:
			err = g.cfg.Machine.Restore(sd.machine)
		}
		if err != nil {
			return fmt.Errorf("raft: group %s: restore: %w", g.name, err)
		}
	}
	g.members = sd.members
	for id, n := range sd.members {
		g.known[id] = n
	}
	return nil
}

// stopLocked ends the group: waiters learn err.
func (g *group) stopLocked(err error) {
	if g.stopped {
		return
	}
	g.stopped, g.err = true, err
	outcome := ErrUnknownOutcome
	if errors.Is(err, ErrStorage) {
		outcome = fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
	}
	for t := range g.pending {
		p, _ := g.finish(t)
		p.done(Result{}, outcome)
	}
	for t, r := range g.reads {
		delete(g.reads, t)
		r.done(nil, err)
	}
	for _, r := range g.waiting {
		r.done(nil, err)
	}
	g.waiting = nil
	for _, t := range g.timers {
		t.Stop()
	}
	h := g.h
	delete(h.groups, g.id)
	if _, ok := h.active[g]; ok {
		delete(h.active, g)
		h.stats.Active.Add(-1)
	}
	delete(h.tickers, g)
	delete(h.dirty, g)
	h.handles.Lock()
	if h.handles.m[g.name] == g.handle {
		delete(h.handles.m, g.name)
	}
	h.handles.Unlock()
	st := *g.handle.status.Load()
	st.Stopped, st.Role, st.Leader = true, Follower, ""
	g.handle.status.Store(&st)
}

// learn records a node name heard for id.
func (g *group) learn(id uint64, name string) {
	if _, ok := g.known[id]; !ok {
		g.known[id] = name
	}
}

// touch marks local activity: the group stays awake.
func (g *group) touch() {
	g.idle = 0
	g.wakeUp()
}

// wakeUp makes a quiesced group tick again.
func (g *group) wakeUp() {
	if !g.quiesced {
		return
	}
	g.quiesced = false
	g.idle = 0
	g.notice = nil
	g.h.active[g] = struct{}{}
	g.h.stats.Active.Add(1)
}

// softState records a role or leader change.
func (g *group) softState(ss *raft.SoftState) {
	role := Role(ss.RaftState)
	if ss.RaftState == raft.StatePreCandidate {
		role = PreCandidate
	}
	changed := role != g.role
	g.role, g.leader = role, ss.Lead
	g.idle = 0
	if changed {
		if role != Leader {
			for _, t := range g.timers {
				t.Stop()
			}
			clear(g.timers)
			clear(g.nodeMon)
		}
		if se, ok := g.cfg.Machine.(StateEnterer); ok {
			g.runEffects(se.StateEnter(role))
		}
	}
}

// queue adds msgs to the host's outbox, batched per peer.
func (g *group) queue(msgs []*pb.Message) {
	h := g.h
	for _, m := range msgs {
		to, ok := g.known[m.GetTo()]
		if !ok {
			h.stats.Dropped.Add(1)
			continue
		}
		if m.GetType() == pb.MsgSnap {
			if !confHas(m.GetSnapshot().GetMetadata().GetConfState(), m.GetTo()) {
				g.rn.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
				g.forceSnap = true
				continue
			}
			h.snapOut = append(h.snapOut, snapSend{g: g, to: to, msg: m})
			continue
		}
		raw, err := proto.Marshal(m)
		if err != nil {
			h.stats.Dropped.Add(1)
			continue
		}
		b := h.outbox[to]
		if b == nil {
			b = &wire.Batch{From: h.self}
			h.outbox[to] = b
		}
		b.Msgs = append(b.Msgs, wire.Msg{Group: g.id, Raw: raw})
	}
}

// installSnapshot installs a leader's snapshot, now on disk, in the
// machine.
func (g *group) installSnapshot(snap *pb.Snapshot) {
	if err := g.restoreFrom(snap); err != nil {
		g.h.log.Error("snapshot from the leader could not be restored; group stops", slog.String("group", g.name), slog.Any("err", err))
		g.stopLocked(err)
		return
	}
	md := snap.GetMetadata()
	g.applied, g.appliedTerm = md.GetIndex(), md.GetTerm()
	g.snapIndex = g.applied
	g.confState = proto.Clone(md.GetConfState()).(*pb.ConfState)
	g.h.stats.SnapshotsReceived.Add(1)
	g.runReads()
}

// applyEntries applies committed entries to the machine.
func (g *group) applyEntries(ents []*pb.Entry) {
	if len(ents) > 0 {
		g.idle = 0
	}
	for _, e := range ents {
		if e.GetIndex() <= g.applied {
			continue
		}
		switch e.GetType() {
		case pb.EntryNormal:
			g.applyCommand(e)
		case pb.EntryConfChange, pb.EntryConfChangeV2:
			g.applyConfChange(e)
		}
		g.applied, g.appliedTerm = e.GetIndex(), e.GetTerm()
		if g.stopped {
			return
		}
	}
}

// readStates records the read indexes the leader confirmed.
func (g *group) readStates(rss []raft.ReadState) {
	for _, rs := range rss {
		t, _, err := readTag(rs.RequestCtx)
		if err != nil {
			continue
		}
		if r, ok := g.reads[t]; ok {
			delete(g.reads, t)
			r.index, r.ready = rs.Index, true
			g.waiting = append(g.waiting, r)
		}
	}
}

func (g *group) applyCommand(e *pb.Entry) {
	if len(e.GetData()) == 0 {
		return // the empty entry of a new leader
	}
	t, cmd, err := decodeCommand(e.GetData())
	if err != nil {
		g.h.log.Error("undecodable entry skipped", slog.String("group", g.name), slog.Uint64("index", e.GetIndex()), slog.Any("err", err))
		return
	}
	reply, effects := g.cfg.Machine.Apply(e.GetIndex(), cmd)
	if t.nonce == g.h.nonce {
		if p, ok := g.finish(t); ok {
			res := Result{Reply: reply, Index: e.GetIndex(), Leader: g.known[g.leader]}
			if rerr, isErr := reply.(error); isErr {
				p.done(res, &RejectedError{Err: rerr})
			} else {
				p.done(res, nil)
			}
		}
	}
	if g.role == Leader {
		g.runEffects(effects)
	}
}

func (g *group) applyConfChange(e *pb.Entry) {
	var cc pb.ConfChangeI
	var ctxb []byte
	if e.GetType() == pb.EntryConfChange {
		var c pb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &c); err != nil {
			g.h.log.Error("undecodable conf change skipped", slog.String("group", g.name), slog.Any("err", err))
			return
		}
		cc, ctxb = &c, c.GetContext()
	} else {
		var c pb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &c); err != nil {
			g.h.log.Error("undecodable conf change skipped", slog.String("group", g.name), slog.Any("err", err))
			return
		}
		cc, ctxb = &c, c.GetContext()
	}
	tag, name, err := decodeChangeContext(ctxb)
	if err == nil && name != "" {
		g.known[nodeID(name)] = name
	}
	g.confState = g.rn.ApplyConfChange(cc)
	members := map[uint64]string{}
	for _, ids := range [][]uint64{g.confState.GetVoters(), g.confState.GetLearners(), g.confState.GetVotersOutgoing(), g.confState.GetLearnersNext()} {
		for _, id := range ids {
			members[id] = g.known[id]
		}
	}
	for id := range members {
		if _, was := g.members[id]; !was {
			// A snapshot taken before the change does not name the new
			// member, and a member refuses a snapshot that does not
			// name it: take one that does.
			g.forceSnap = true
		}
	}
	g.members = members
	if err == nil && tag.nonce == g.h.nonce {
		if p, ok := g.finish(tag); ok {
			p.done(Result{Index: e.GetIndex(), Leader: g.known[g.leader]}, nil)
		}
	}
}

// runReads answers the consistent queries whose index is applied.
func (g *group) runReads() {
	if len(g.waiting) == 0 {
		return
	}
	keep := g.waiting[:0]
	for _, r := range g.waiting {
		if r.index <= g.applied {
			r.done(r.fn(g.cfg.Machine))
		} else {
			keep = append(keep, r)
		}
	}
	clear(g.waiting[len(keep):])
	g.waiting = keep
}

// maybeSnapshot snapshots the machine and truncates the log once enough
// entries were applied since the last snapshot.
func (g *group) maybeSnapshot() {
	h := g.h
	if g.stopped || (!g.forceSnap && g.applied < g.snapIndex+h.cfg.SnapshotEntries) || g.applied <= g.snapIndex {
		return
	}
	g.forceSnap = false
	data, err := g.cfg.Machine.Snapshot()
	if err != nil {
		h.log.Warn("machine snapshot failed; the log keeps growing", slog.String("group", g.name), slog.Any("err", err))
		g.snapIndex = g.applied // retry after as many entries again
		return
	}
	members := map[uint64]string{}
	for id, n := range g.members {
		members[id] = n
	}
	sd := snapshotData{machineVersion: machineVersion(g.cfg.Machine), members: members, machine: data}
	snap := &pb.Snapshot{Data: sd.encode(), Metadata: &pb.SnapshotMetadata{
		Index: proto.Uint64(g.applied), Term: proto.Uint64(g.appliedTerm), ConfState: proto.Clone(g.confState).(*pb.ConfState),
	}}
	// The snapshot goes in the open batch, after the appends it covers.
	if h.open == nil {
		h.open = &writeJob{b: h.store.NewBatch()}
	}
	b := h.open.b
	b.SaveSnapshot(g.log, snap)
	h.open.sync = true
	if g.applied > h.cfg.KeepEntries {
		cut := g.applied - h.cfg.KeepEntries
		if fi, _ := g.log.FirstIndex(); cut >= fi {
			if t, err := g.log.Term(cut); err == nil {
				b.Truncate(g.log, cut, t)
			}
		}
	}
	g.snapIndex = g.applied
	h.stats.SnapshotsTaken.Add(1)
}

// maybeQuiesce stops an idle leader's ticking, telling its followers.
func (g *group) maybeQuiesce() {
	if len(g.pending) > 0 || len(g.reads) > 0 || len(g.waiting) > 0 || g.rn.HasReady() || g.inflight > 0 {
		return
	}
	st := g.rn.BasicStatus()
	last, _ := g.log.LastIndex()
	if st.LeadTransferee != 0 || st.GetCommit() != g.applied || last != st.GetCommit() {
		return
	}
	ok := true
	g.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if id == g.h.selfID {
			return
		}
		if pr.Match != last || !g.h.connected[g.known[id]] {
			ok = false
		}
	})
	if !ok {
		return
	}
	for id := range g.members {
		if id == g.h.selfID {
			continue
		}
		to := g.known[id]
		b := g.h.outbox[to]
		if b == nil {
			b = &wire.Batch{From: g.h.self}
			g.h.outbox[to] = b
		}
		b.Quiesce = append(b.Quiesce, wire.Quiesce{Group: g.id, Term: st.GetTerm(), Commit: st.GetCommit()})
	}
	g.quiesce()
}

func (g *group) quiesce() {
	if g.quiesced {
		return
	}
	g.quiesced = true
	delete(g.h.active, g)
	g.h.stats.Active.Add(-1)
	g.h.stats.Quiesced.Add(1)
	g.publish()
}

// quiesceFollower follows the leader into quiescence when it is as up to
// date as the leader says.
func (g *group) quiesceFollower(q wire.Quiesce, from uint64) {
	st := g.rn.BasicStatus()
	if st.RaftState != raft.StateFollower || st.GetTerm() != q.Term || st.Lead != from {
		g.notice = nil // stale: a new term or leader
		return
	}
	if len(g.pending) > 0 || len(g.reads) > 0 || len(g.waiting) > 0 || g.rn.HasReady() || g.inflight > 0 {
		return // try again at the next tick
	}
	last, _ := g.log.LastIndex()
	if st.GetCommit() != q.Commit || g.applied != q.Commit || last != q.Commit {
		if st.GetCommit() > q.Commit {
			g.notice = nil
		}
		return
	}
	g.notice = nil
	g.quiesce()
}

// Status is a snapshot of a member's view of its group.
type Status struct {
	Name     string
	Role     Role
	Leader   string // "" when unknown
	Term     uint64
	Commit   uint64
	Applied  uint64
	Voters   []string
	Learners []string
	Quiesced bool
	Stopped  bool
}

// publish stores the group's status for its handle.
func (g *group) publish() {
	st := &Status{Name: g.name, Role: g.role, Leader: g.known[g.leader], Applied: g.applied, Quiesced: g.quiesced}
	if g.rn != nil {
		bs := g.rn.BasicStatus()
		st.Term, st.Commit = bs.GetTerm(), bs.GetCommit()
	}
	g.term = st.Term
	for _, id := range g.confState.GetVoters() {
		st.Voters = append(st.Voters, g.known[id])
	}
	for _, id := range g.confState.GetLearners() {
		st.Learners = append(st.Learners, g.known[id])
	}
	if old := g.handle.status.Load(); old != nil && old.Role == st.Role && old.Leader == st.Leader && old.Term == st.Term &&
		old.Commit == st.Commit && old.Applied == st.Applied && old.Quiesced == st.Quiesced && len(old.Voters) == len(st.Voters) && len(old.Learners) == len(st.Learners) {
		return
	}
	g.handle.status.Store(st)
}

// confHas tells whether cs names id.
func confHas(cs *pb.ConfState, id uint64) bool {
	for _, ids := range [][]uint64{cs.GetVoters(), cs.GetLearners(), cs.GetVotersOutgoing(), cs.GetLearnersNext()} {
		if slices.Contains(ids, id) {
			return true
		}
	}
	return false
}

// voterNames returns the names of the voters ("" when there is none).
func (g *group) voterNames() []string {
	var out []string
	for _, id := range g.confState.GetVoters() {
		out = append(out, g.known[id])
	}
	if len(out) == 0 {
		return []string{""}
	}
	return out
}

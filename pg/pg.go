package pg

import (
	"errors"
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

// DefaultScope is the scope name of a Config without one, like Erlang's
// default scope pg.
const DefaultScope = "grove.pg"

// MaxGroupLen bounds a group name, in bytes.
const MaxGroupLen = 1024

// Errors of the package.
var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("pg: closed")
	// ErrNotJoined is returned by Leave when none of the processes is a
	// member of the group.
	ErrNotJoined = errors.New("pg: not joined")
	// ErrNotLocal is returned when joining, leaving or monitoring with a
	// process of another node: each node manages its own processes.
	ErrNotLocal = errors.New("pg: process is not local")
	// ErrInvalidGroup is returned for an empty group name or one longer
	// than MaxGroupLen.
	ErrInvalidGroup = errors.New("pg: invalid group")
	// ErrInvalidConfig is returned for a configuration that cannot work.
	ErrInvalidConfig = errors.New("pg: invalid configuration")
)

// Config tunes a scope. The zero value is usable.
type Config struct {
	// Name is the scope: scopes of the same name on different nodes share
	// their groups; scopes of different names are independent. Its server
	// process is registered under it. Default DefaultScope.
	Name string
	// Logger receives warnings. Default the runtime's.
	Logger *slog.Logger
	// AntiEntropyInterval is how often a node sends each other node a
	// digest of its members (the number of its changes and a sum over its
	// memberships, a few bytes): a node whose copy disagrees asks for a
	// full report, so a lost report or a lost last change is repaired
	// within an interval or two. Default 1 s.
	AntiEntropyInterval time.Duration
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if len(c.Name) > 200 {
		return fmt.Errorf("%w: name of %d bytes", ErrInvalidConfig, len(c.Name))
	}
	if c.AntiEntropyInterval < 0 {
		return fmt.Errorf("%w: anti-entropy interval %v", ErrInvalidConfig, c.AntiEntropyInterval)
	}
	return nil
}

// Stats counts what a scope did on this node.
type Stats struct {
	Joins, Leaves  atomic.Uint64 // local memberships added and removed (exits included)
	SyncsSent      atomic.Uint64 // full reports of this node's members sent to other nodes
	DeltasSent     atomic.Uint64 // batches of changes sent to other nodes
	SyncsReceived  atomic.Uint64
	DeltasReceived atomic.Uint64
	DigestsSent    atomic.Uint64 // anti-entropy digests sent to other nodes
	Resyncs        atomic.Uint64 // gaps or disagreements with another node's digest, repaired by a full report
	Stale          atomic.Uint64 // messages from a server that is no longer current, ignored
	EventsRefused  atomic.Uint64 // events a monitoring process's full mailbox refused
}

// Scope is one node's member of a process-group scope. It is safe for
// concurrent use.
type Scope struct {
	cfg   Config
	rt    *proc.Runtime
	nd    *node.Node
	log   *slog.Logger
	peers *peerset.Set
	stats Stats

	// testDrop, when set, discards the messages from other nodes it
	// matches before the server sees them: tests lose messages with it.
	testDrop atomic.Pointer[func(any) bool]

	// mu guards everything below. Lock order: mu, then a watcher's lock.
	mu struct {
		sync.Mutex
		server   proc.PID // set by the server's Init
		st       *state
		version  uint64 // local changes so far
		outbox   []op   // changes not yet sent, numbered outFirst...
		outFirst uint64
		// sealed is how many outbox changes a full report has covered
		// since the last flush: later changes must not be merged into them.
		sealed   int
		flushing bool // a flush request is on its way to the server
		// remote is, per node, the number of its last change applied;
		// absent until its first full report.
		remote map[string]uint64
		// requested is, per node, when a full report was last asked of
		// it, until the report arrives.
		requested map[string]time.Time
		// watches are the exit watches of local members and of monitoring
		// processes.
		watches  map[proc.PID]func()
		monitors map[proc.Ref]*monitor
		byGroup  map[string]map[*monitor]struct{}
		scopeMon map[*monitor]struct{}
		closed   bool
	}
	wg sync.WaitGroup
}

// monitor is a process or function that receives a group's or the scope's
// events.
type monitor struct {
	ref   proc.Ref
	group string // "" for the whole scope
	pid   proc.PID
	w     *watcher
}

// Start starts the scope cfg.Name on nd: its server process, registered
// under the name, and the discovery of the same scope on the other nodes.
// It registers the scope's message types in nd's codec.
func Start(nd *node.Node, cfg Config) (*Scope, error) {
	if nd == nil {
		return nil, fmt.Errorf("%w: nil node", ErrInvalidConfig)
	}
	if err := RegisterTypes(nd.Codec()); err != nil {
		return nil, fmt.Errorf("pg: %w", err)
	}
	return start(nd.Runtime(), nd, cfg)
}

// StartLocal starts a scope for rt's processes alone.
func StartLocal(rt *proc.Runtime, cfg Config) (*Scope, error) {
	if rt == nil {
		return nil, fmt.Errorf("%w: nil runtime", ErrInvalidConfig)
	}
	return start(rt, nil, cfg)
}

func start(rt *proc.Runtime, nd *node.Node, cfg Config) (*Scope, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = DefaultScope
	}
	if cfg.AntiEntropyInterval == 0 {
		cfg.AntiEntropyInterval = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = rt.Logger()
	}
	s := &Scope{cfg: cfg, rt: rt, nd: nd, log: log, peers: peerset.New(nd, cfg.Name)}
	s.mu.st = newState()
	s.mu.outFirst = 1
	s.mu.remote = make(map[string]uint64)
	s.mu.requested = make(map[string]time.Time)
	s.mu.watches = make(map[proc.PID]func())
	s.mu.monitors = make(map[proc.Ref]*monitor)
	s.mu.byGroup = make(map[string]map[*monitor]struct{})
	s.mu.scopeMon = make(map[*monitor]struct{})
	if _, err := rt.Spawn(&server{s: s}, proc.WithName(cfg.Name)); err != nil {
		return nil, fmt.Errorf("pg: start scope %q: %w", cfg.Name, err)
	}
	return s, nil
}

// Name returns the scope's name.
func (s *Scope) Name() string { return s.cfg.Name }

// Stats returns the scope's counters.
func (s *Scope) Stats() *Stats { return &s.stats }

// Nodes returns the other nodes where the scope is known to run, sorted.
func (s *Scope) Nodes() []string {
	peers := s.peers.Peers()
	out := make([]string, len(peers))
	for i, p := range peers {
		out[i] = p.Node
	}
	return out
}

func checkGroup(g string) error {
	if g == "" || len(g) > MaxGroupLen {
		return fmt.Errorf("%w: %d bytes", ErrInvalidGroup, len(g))
	}
	return nil
}

func (s *Scope) checkLocal(pids []proc.PID) error {
	for _, p := range pids {
		if !s.rt.IsLocal(p) {
			return fmt.Errorf("%w: %v", ErrNotLocal, p)
		}
	}
	return nil
}

// Join makes the local processes pids members of group, like pg:join: a
// process may join a group several times and is then listed as many times.
// The change is visible here at once and on the other nodes shortly after:
// the changes of many joins in a row travel together, one message per node.
// A member leaves with Leave, or when it exits.
func (s *Scope) Join(group string, pids ...proc.PID) error {
	if err := checkGroup(group); err != nil {
		return err
	}
	if err := s.checkLocal(pids); err != nil {
		return err
	}
	if len(pids) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	for _, p := range pids {
		s.watchLocked(p)
	}
	s.recordLocked(s.mu.st.join(group, pids))
	s.stats.Joins.Add(uint64(len(pids)))
	return nil
}

// Leave removes one membership in group of each of pids, like pg:leave. It
// fails with ErrNotJoined when none of them was a member.
func (s *Scope) Leave(group string, pids ...proc.PID) error {
	if err := checkGroup(group); err != nil {
		return err
	}
	if err := s.checkLocal(pids); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	ev := s.mu.st.leave(group, pids)
	if len(ev.PIDs) == 0 {
		return ErrNotJoined
	}
	s.recordLocked(ev)
	s.stats.Leaves.Add(uint64(len(ev.PIDs)))
	for _, p := range ev.PIDs {
		s.unwatchLocked(p)
	}
	return nil
}

// recordLocked queues a local change for the other nodes and tells the
// monitors.
func (s *Scope) recordLocked(ev Event) {
	if len(ev.PIDs) == 0 {
		return
	}
	s.mu.version++
	if n := len(s.mu.outbox); n > s.mu.sealed && s.mu.outbox[n-1].Kind == ev.Kind && s.mu.outbox[n-1].Group == ev.Group {
		// One change of many processes: numbers count changes, not
		// processes, so a merged change keeps one number.
		last := &s.mu.outbox[n-1]
		last.PIDs = append(last.PIDs, ev.PIDs...)
		s.mu.version--
	} else {
		s.mu.outbox = append(s.mu.outbox, op{Kind: ev.Kind, Group: ev.Group, PIDs: slices.Clone(ev.PIDs)})
	}
	s.notifyLocked(ev)
	if !s.mu.flushing && s.peers.Len() > 0 {
		s.mu.flushing = true
		if err := s.rt.Send(s.mu.server, flushNow{}); err != nil {
			s.mu.flushing = false
		}
	}
}

// watchLocked watches a local member or monitoring process for its exit,
// once.
func (s *Scope) watchLocked(p proc.PID) {
	if _, ok := s.mu.watches[p]; ok {
		return
	}
	server := s.mu.server
	// The exit is handled by the server: the watch runs on whatever
	// goroutine ends the process.
	s.mu.watches[p] = s.rt.Watch(p, func(pid proc.PID, _ error) { _ = s.rt.Send(server, exited{pid}) })
}

// unwatchLocked drops the watch of a process that is neither a member nor
// a monitor any more.
func (s *Scope) unwatchLocked(p proc.PID) {
	if _, member := s.mu.st.joined[p]; member {
		return
	}
	for _, m := range s.mu.monitors {
		if m.pid == p {
			return
		}
	}
	if cancel, ok := s.mu.watches[p]; ok {
		cancel()
		delete(s.mu.watches, p)
	}
}

// Members returns every member of group in the cluster as this node knows
// it (local members first), like pg:get_members. Joins on other nodes show
// once their changes have arrived; the members of a node whose link is
// down are not listed.
func (s *Scope) Members(group string) []proc.PID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mu.st.members(group))
}

// LocalMembers returns the members of group on this node, like
// pg:get_local_members.
func (s *Scope) LocalMembers(group string) []proc.PID {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.mu.st.groups[group]; g != nil {
		return slices.Clone(g.local)
	}
	return nil
}

// Count returns the number of members of group (memberships: a process
// joined twice counts twice).
func (s *Scope) Count(group string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.st.members(group))
}

// Groups returns the groups that have members, sorted, like
// pg:which_groups.
func (s *Scope) Groups() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.mu.st.groups))
	for name := range s.mu.st.groups {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Monitor makes the local process pid receive an Event (in HandleInfo) each
// time members join or leave group, on any node, until Demonitor or its
// exit, like pg:monitor. It returns the monitor's reference, which the
// events carry, and the members at the moment monitoring began: the events
// that follow are exactly the changes since.
func (s *Scope) Monitor(pid proc.PID, group string) (proc.Ref, []proc.PID, error) {
	if err := checkGroup(group); err != nil {
		return proc.Ref{}, nil, err
	}
	var members []proc.PID
	ref, err := s.addMonitor(&monitor{group: group, pid: pid}, func() { members = slices.Clone(s.mu.st.members(group)) })
	return ref, members, err
}

// MonitorScope is Monitor for every group of the scope, like
// pg:monitor_scope; it returns the groups and their members when
// monitoring began.
func (s *Scope) MonitorScope(pid proc.PID) (proc.Ref, map[string][]proc.PID, error) {
	var snap map[string][]proc.PID
	ref, err := s.addMonitor(&monitor{pid: pid}, func() { snap = s.mu.st.snapshot() })
	return ref, snap, err
}

// addMonitor registers m and runs snapshot under the same lock, so that the
// monitor's events are exactly the changes after the snapshot.
func (s *Scope) addMonitor(m *monitor, snapshot func()) (proc.Ref, error) {
	if m.w == nil {
		if !s.rt.IsLocal(m.pid) {
			return proc.Ref{}, fmt.Errorf("%w: %v", ErrNotLocal, m.pid)
		}
		if !s.rt.Alive(m.pid) {
			return proc.Ref{}, fmt.Errorf("pg: monitor from %v: %w", m.pid, proc.ErrNotAlive)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return proc.Ref{}, ErrClosed
	}
	m.ref = s.rt.MakeRef()
	s.mu.monitors[m.ref] = m
	if m.group == "" {
		s.mu.scopeMon[m] = struct{}{}
	} else {
		set := s.mu.byGroup[m.group]
		if set == nil {
			set = make(map[*monitor]struct{})
			s.mu.byGroup[m.group] = set
		}
		set[m] = struct{}{}
	}
	if m.w == nil {
		s.watchLocked(m.pid)
	}
	snapshot()
	return m.ref, nil
}

// Demonitor stops a monitor. It reports whether it was active.
func (s *Scope) Demonitor(ref proc.Ref) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeMonitorLocked(ref)
}

func (s *Scope) removeMonitorLocked(ref proc.Ref) bool {
	m := s.mu.monitors[ref]
	if m == nil {
		return false
	}
	delete(s.mu.monitors, ref)
	if m.group == "" {
		delete(s.mu.scopeMon, m)
	} else if set := s.mu.byGroup[m.group]; set != nil {
		delete(set, m)
		if len(set) == 0 {
			delete(s.mu.byGroup, m.group)
		}
	}
	if m.w != nil {
		m.w.stop()
	} else {
		s.unwatchLocked(m.pid)
	}
	return true
}

// Watch calls fn with every Event of group from now on, in order, one call
// at a time on a goroutine of the watch (events wait for it without bound),
// until the returned cancel is called. It returns the members when watching
// began: the events are exactly the changes since.
func (s *Scope) Watch(group string, fn func(Event)) ([]proc.PID, func(), error) {
	if err := checkGroup(group); err != nil {
		return nil, nil, err
	}
	var members []proc.PID
	ref, err := s.addMonitor(&monitor{group: group, w: newWatcher(s, fn)}, func() { members = slices.Clone(s.mu.st.members(group)) })
	if err != nil {
		return nil, nil, err
	}
	return members, func() { s.Demonitor(ref) }, nil
}

// WatchScope is Watch for every group of the scope.
func (s *Scope) WatchScope(fn func(Event)) (map[string][]proc.PID, func(), error) {
	var snap map[string][]proc.PID
	ref, err := s.addMonitor(&monitor{w: newWatcher(s, fn)}, func() { snap = s.mu.st.snapshot() })
	if err != nil {
		return nil, nil, err
	}
	return snap, func() { s.Demonitor(ref) }, nil
}

// notifyLocked hands an event to the monitors of its group and scope.
func (s *Scope) notifyLocked(ev Event) {
	if len(ev.PIDs) == 0 {
		return
	}
	send := func(m *monitor) {
		e := ev
		e.Ref = m.ref
		if m.w != nil {
			m.w.push(e)
			return
		}
		if err := s.rt.Send(m.pid, e); errors.Is(err, proc.ErrMailboxFull) {
			s.stats.EventsRefused.Add(1)
			s.log.Warn("pg: a monitoring process's mailbox refused an event", slog.String("scope", s.cfg.Name),
				slog.Any("pid", m.pid), slog.String("group", ev.Group))
		}
	}
	for m := range s.mu.byGroup[ev.Group] {
		send(m)
	}
	for m := range s.mu.scopeMon {
		send(m)
	}
}

// Close stops the scope on this node: its server stops (the other nodes
// drop this node's members) and watches end. Idempotent.
func (s *Scope) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	server := s.mu.server
	for ref := range s.mu.monitors {
		s.removeMonitorLocked(ref)
	}
	for _, cancel := range s.mu.watches {
		cancel()
	}
	clear(s.mu.watches)
	s.mu.Unlock()
	err := peerset.Stop(s.rt, server)
	s.wg.Wait()
	return err
}

// Messages of the server to itself.
type (
	flushNow struct{}
	tick     struct{}
	exited   struct{ pid proc.PID }
)

// server is the scope's process: it sends this node's changes to the other
// nodes and applies theirs.
type server struct {
	proc.Base
	s *Scope
}

func (sv *server) Init(p *proc.Process) error {
	sv.s.mu.Lock()
	sv.s.mu.server = p.Self()
	sv.s.mu.Unlock()
	if sv.s.nd != nil {
		if _, err := p.SendInterval(sv.s.cfg.AntiEntropyInterval, tick{}); err != nil {
			return err
		}
	}
	sv.s.peers.Start(p)
	return nil
}

func (sv *server) HandleInfo(p *proc.Process, msg any) {
	s := sv.s
	if drop := s.testDrop.Load(); drop != nil && (*drop)(msg) {
		return
	}
	if changes, ok := s.peers.Handle(p, msg); ok {
		for _, c := range changes {
			if c.Up {
				s.sendSync(p, c.Peer.Node)
			} else {
				s.dropNode(c.Peer.Node)
			}
		}
		return
	}
	switch m := msg.(type) {
	case flushNow:
		s.flush(p, false)
	case tick:
		s.flush(p, true)
	case digestMsg:
		s.checkDigest(p, m)
	case exited:
		s.exited(m.pid)
		s.flush(p, false)
	case syncMsg:
		s.applySync(m)
	case deltaMsg:
		s.applyDelta(p, m)
	}
}

func (sv *server) HandleCast(p *proc.Process, msg any) { sv.HandleInfo(p, msg) }

// sendSync sends this node's members to a peer that came up or asked.
func (s *Scope) sendSync(p *proc.Process, node string) {
	s.mu.Lock()
	m := syncMsg{From: p.Self(), Version: s.mu.version, Groups: s.mu.st.local()}
	s.mu.sealed = len(s.mu.outbox)
	s.mu.Unlock()
	if s.peers.Send(p, node, m) == nil {
		s.stats.SyncsSent.Add(1)
	}
}

// flush sends the queued changes to every peer, in one message each, and
// on a tick a digest of the members they add up to.
func (s *Scope) flush(p *proc.Process, digest bool) {
	s.mu.Lock()
	ops, first := s.mu.outbox, s.mu.outFirst
	s.mu.outbox, s.mu.outFirst, s.mu.sealed = nil, s.mu.version+1, 0
	s.mu.flushing = false
	// Taken with the changes, so that the digest describes exactly the
	// members they lead to.
	dg := digestMsg{From: p.Self(), Version: s.mu.version, Sum: s.mu.st.localSum}
	s.mu.Unlock()
	if len(ops) > 0 {
		m := deltaMsg{From: p.Self(), First: first, Ops: ops}
		for _, peer := range s.peers.Peers() {
			if s.peers.Send(p, peer.Node, m) == nil {
				s.stats.DeltasSent.Add(1)
			}
		}
	}
	if digest {
		// On the lane of the changes, after them: the peer has applied
		// them all when it reads the digest, unless some were lost.
		for _, peer := range s.peers.Peers() {
			if s.peers.Send(p, peer.Node, dg) == nil {
				s.stats.DigestsSent.Add(1)
			}
		}
	}
}

// checkDigest compares a peer's digest with what this node knows of it and
// asks for a full report when they disagree: a report that never came, a
// change that never came, or members that differ.
func (s *Scope) checkDigest(p *proc.Process, m digestMsg) {
	if !s.peers.Current(m.From) {
		s.stats.Stale.Add(1)
		return
	}
	node := m.From.Node
	s.mu.Lock()
	if at, ok := s.mu.requested[node]; ok && time.Since(at) < 3*s.cfg.AntiEntropyInterval {
		// A report asked for is on its way; the digest may predate it.
		s.mu.Unlock()
		return
	}
	applied, synced := s.mu.remote[node]
	sum := s.mu.st.remoteSum[node]
	var why string
	switch {
	case !synced:
		why = "full report missing"
	case applied < m.Version:
		why = "changes missing"
	case applied == m.Version && sum != m.Sum:
		why = "members differ"
	}
	if why == "" {
		s.mu.Unlock()
		return
	}
	delete(s.mu.remote, node) // its changes wait for the report
	s.mu.requested[node] = time.Now()
	s.mu.Unlock()
	s.stats.Resyncs.Add(1)
	s.log.Warn("pg: another node's members disagree with its digest, resynchronising", slog.String("scope", s.cfg.Name),
		slog.String("node", node), slog.String("why", why), slog.Uint64("have", applied), slog.Uint64("digest", m.Version))
	s.peers.Resync(p, node)
}

func (s *Scope) exited(pid proc.PID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ref, m := range s.mu.monitors {
		if m.pid == pid && m.w == nil {
			s.removeMonitorLocked(ref)
		}
	}
	evs := s.mu.st.exited(pid)
	for _, ev := range evs {
		s.stats.Leaves.Add(uint64(len(ev.PIDs)))
		s.recordLocked(ev)
	}
	if cancel, ok := s.mu.watches[pid]; ok {
		cancel()
		delete(s.mu.watches, pid)
	}
}

func (s *Scope) dropNode(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mu.remote, node)
	delete(s.mu.requested, node)
	for _, ev := range s.mu.st.drop(node) {
		s.notifyLocked(ev)
	}
}

func (s *Scope) applySync(m syncMsg) {
	if !s.peers.Current(m.From) {
		s.stats.Stale.Add(1)
		return
	}
	s.stats.SyncsReceived.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.remote[m.From.Node] = m.Version
	delete(s.mu.requested, m.From.Node)
	for _, ev := range s.mu.st.replace(m.From.Node, m.Groups) {
		s.notifyLocked(ev)
	}
}

func (s *Scope) applyDelta(p *proc.Process, m deltaMsg) {
	if !s.peers.Current(m.From) {
		s.stats.Stale.Add(1)
		return
	}
	s.stats.DeltasReceived.Add(1)
	node := m.From.Node
	s.mu.Lock()
	applied, synced := s.mu.remote[node]
	if !synced {
		// Its full report is on its way (it follows its greeting) and
		// covers these changes.
		s.mu.Unlock()
		return
	}
	if m.First > applied+1 {
		// Changes went missing (refused by a full mailbox): ask for a full
		// report, which replaces what we have.
		delete(s.mu.remote, node)
		s.mu.requested[node] = time.Now()
		s.mu.Unlock()
		s.stats.Resyncs.Add(1)
		s.log.Warn("pg: changes of a node went missing, resynchronising", slog.String("scope", s.cfg.Name),
			slog.String("node", node), slog.Uint64("have", applied), slog.Uint64("got", m.First))
		s.peers.Resync(p, node)
		return
	}
	for i, o := range m.Ops {
		if m.First+uint64(i) <= applied {
			continue // covered by the full report
		}
		var ev Event
		if o.Kind == Joined {
			ev = s.mu.st.remoteJoin(node, o.Group, o.PIDs)
		} else {
			ev = s.mu.st.remoteLeave(node, o.Group, o.PIDs)
		}
		s.notifyLocked(ev)
	}
	s.mu.remote[node] = max(applied, m.First+uint64(len(m.Ops))-1)
	s.mu.Unlock()
}

package presence

import (
	"log/slog"
	"time"

	"github.com/grovedev/grove/proc"
)

// Messages of the server to itself.
type (
	flushNow struct{}
	tick     struct{}
	exited   struct{ pid proc.PID }
)

// server is the tracker's process on each node: it sends this node's
// changes to the others, applies theirs, and drops the presences of nodes
// it loses.
type server struct {
	proc.Base
	t *Tracker
}

func (sv *server) Init(p *proc.Process) error {
	t := sv.t
	t.mu.Lock()
	t.mu.server = p.Self()
	t.mu.Unlock()
	if t.nd != nil {
		if _, err := p.SendInterval(t.cfg.HeartbeatInterval, tick{}); err != nil {
			return err
		}
	}
	t.peers.Start(p)
	return nil
}

func (sv *server) HandleCast(p *proc.Process, msg any) { sv.HandleInfo(p, msg) }

func (sv *server) HandleInfo(p *proc.Process, msg any) {
	t := sv.t
	if changes, ok := t.peers.Handle(p, msg); ok {
		for _, c := range changes {
			if c.Up {
				t.expect(c.Peer.PID)
				t.sendState(p, c.Peer.Node)
			} else {
				t.dropReplica(c.Peer.Node)
			}
		}
		return
	}
	switch m := msg.(type) {
	case flushNow:
		t.flush(p)
	case tick:
		t.flush(p)
		t.heartbeat(p)
	case exited:
		t.UntrackAll(m.pid)
	case stateMsg:
		t.applyState(m)
	case deltaMsg:
		t.applyDelta(p, m)
	case heartbeatMsg:
		t.checkHeartbeat(p, m)
	}
}

// expect records a peer whose full report is coming (it follows its
// greeting), unless it is known already.
func (t *Tracker) expect(server proc.PID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.mu.replicas[server.Node]; r != nil && r.server == server {
		return
	}
	t.mu.replicas[server.Node] = &replica{server: server, requested: time.Now(), entries: make(map[lkey]struct{})}
}

// sendState sends this node's presences to a peer that came up or asked.
// Changes still in the outbox are numbered up to the reported version, so
// the peer skips them when they follow.
func (t *Tracker) sendState(p *proc.Process, node string) {
	t.mu.Lock()
	m := stateMsg{From: p.Self(), Version: t.mu.version, Entries: make([]wireEntry, 0, len(t.mu.local))}
	for k, e := range t.mu.local {
		m.Entries = append(m.Entries, wireEntry{Topic: k.Topic, Key: k.Key, ID: k.PID.ID, Meta: e.encoded})
	}
	t.mu.Unlock()
	if t.peers.Send(p, node, m) == nil {
		t.stats.StatesSent.Add(1)
	}
}

func (t *Tracker) flush(p *proc.Process) {
	t.mu.Lock()
	ops, first := t.mu.outbox, t.mu.outFirst
	t.mu.outbox, t.mu.outFirst = nil, t.mu.version+1
	t.mu.flushing = false
	t.mu.Unlock()
	if len(ops) == 0 {
		return
	}
	m := deltaMsg{From: p.Self(), First: first, Ops: ops}
	for _, peer := range t.peers.Peers() {
		if t.peers.Send(p, peer.Node, m) == nil {
			t.stats.DeltasSent.Add(1)
		}
	}
}

// heartbeat tells every peer how far this node's changes go; it follows
// every change it counts on the same lane.
func (t *Tracker) heartbeat(p *proc.Process) {
	t.mu.Lock()
	v := t.mu.outFirst - 1
	t.mu.Unlock()
	for _, peer := range t.peers.Peers() {
		_ = t.peers.Send(p, peer.Node, heartbeatMsg{From: p.Self(), Version: v})
	}
}

// remotePresence turns an entry of node into a presence, decoding its
// metadata.
func (t *Tracker) remotePresence(from proc.PID, e wireEntry) Presence {
	pr := Presence{Topic: e.Topic, Key: e.Key, PID: proc.PID{Node: from.Node, Creation: from.Creation, ID: e.ID}}
	if e.Op != opUntrack {
		v, err := t.nd.Codec().Decode(e.Meta)
		if err != nil {
			n := t.stats.Malformed.Add(1)
			if n == 1 || n%1000 == 0 {
				t.log.Warn("presence: metadata from another node does not decode", slog.String("tracker", t.cfg.Name),
					slog.String("node", from.Node), slog.Uint64("malformed_total", n), slog.Any("err", err))
			}
			v = err // the presence is kept; its metadata says why it is unreadable
		}
		pr.Meta = v
	}
	return pr
}

// applyState replaces what this node knows of the sender's presences by its
// full report.
func (t *Tracker) applyState(m stateMsg) {
	if !t.peers.Current(m.From) {
		t.stats.Stale.Add(1)
		return
	}
	t.stats.StatesReceived.Add(1)
	node := m.From.Node
	incoming := make(map[lkey]Presence, len(m.Entries))
	for _, e := range m.Entries {
		pr := t.remotePresence(m.From, e)
		incoming[lkey{Topic: pr.Topic, Key: pr.Key, PID: pr.PID}] = pr
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.mu.replicas[node]
	if r == nil || r.server != m.From {
		// Only a current peer's report gets here; one of its earlier
		// incarnation was dropped when it was seen restarted.
		if r != nil {
			t.mu.Unlock()
			t.dropReplica(node)
			t.mu.Lock()
		}
		r = &replica{server: m.From, entries: make(map[lkey]struct{})}
		t.mu.replicas[node] = r
	}
	d := newDiffs()
	for _, k := range sortedKeys(r.entries) {
		if _, still := incoming[k]; !still {
			delete(r.entries, k)
			d.del(t.views, k.Topic, k.Key, k.PID)
		}
	}
	for k, pr := range incoming {
		if _, had := r.entries[k]; had {
			if cur := t.views.load(k.Topic); cur != nil && sameMeta(cur, t.views, pr) {
				continue
			}
		}
		r.entries[k] = struct{}{}
		d.set(t.views, pr)
	}
	r.synced, r.applied = true, m.Version
	t.publishLocked(d)
}

// sameMeta reports whether the view holds pr with the same metadata
// already (an unchanged presence in a repeated full report).
func sameMeta(st *topicState, v *views, pr Presence) bool {
	ps, _ := st.keys.Get(v.hash(pr.Key), pr.Key)
	for _, q := range ps {
		if q.PID == pr.PID {
			return comparableEqual(q.Meta, pr.Meta)
		}
	}
	return false
}

// comparableEqual compares two metadata values without panicking on
// values that are not comparable (those count as changed).
func comparableEqual(a, b any) (eq bool) {
	defer func() {
		if recover() != nil {
			eq = false
		}
	}()
	return a == b
}

// applyDelta applies a peer's numbered changes on top of its full report.
func (t *Tracker) applyDelta(p *proc.Process, m deltaMsg) {
	if !t.peers.Current(m.From) {
		t.stats.Stale.Add(1)
		return
	}
	t.stats.DeltasReceived.Add(1)
	node := m.From.Node
	t.mu.Lock()
	r := t.mu.replicas[node]
	if r == nil || !r.synced || r.server != m.From {
		// Its full report follows its greeting and covers these changes.
		t.mu.Unlock()
		return
	}
	if m.First > r.applied+1 {
		t.mu.Unlock()
		t.resync(p, node, r.applied, m.First)
		return
	}
	d := newDiffs()
	for i, e := range m.Ops {
		if m.First+uint64(i) <= r.applied {
			continue
		}
		k := lkey{Topic: e.Topic, Key: e.Key, PID: proc.PID{Node: node, Creation: m.From.Creation, ID: e.ID}}
		if e.Op == opUntrack {
			delete(r.entries, k)
			d.del(t.views, k.Topic, k.Key, k.PID)
			continue
		}
		r.entries[k] = struct{}{}
		d.set(t.views, t.remotePresence(m.From, e))
	}
	r.applied = max(r.applied, m.First+uint64(len(m.Ops))-1)
	t.publishLocked(d)
	t.mu.Unlock()
}

// checkHeartbeat finds changes of a peer that never arrived, and a full
// report that never came.
func (t *Tracker) checkHeartbeat(p *proc.Process, m heartbeatMsg) {
	if !t.peers.Current(m.From) {
		return
	}
	t.mu.Lock()
	r := t.mu.replicas[m.From.Node]
	var behind bool
	var applied uint64
	if r != nil && r.server == m.From {
		applied = r.applied
		// A report asked for a while ago and not here: it was lost too.
		behind = r.synced && m.Version > r.applied ||
			!r.synced && time.Since(r.requested) > 3*t.cfg.HeartbeatInterval
	}
	t.mu.Unlock()
	if behind {
		t.resync(p, m.From.Node, applied, m.Version)
	}
}

// resync asks a peer whose changes went missing for a full report.
func (t *Tracker) resync(p *proc.Process, node string, have, got uint64) {
	t.mu.Lock()
	if r := t.mu.replicas[node]; r != nil {
		r.synced = false // ignore its changes until the report
		r.requested = time.Now()
	}
	t.mu.Unlock()
	t.stats.Resyncs.Add(1)
	t.log.Warn("presence: changes of a node went missing, resynchronising", slog.String("tracker", t.cfg.Name),
		slog.String("node", node), slog.Uint64("have", have), slog.Uint64("got", got))
	t.peers.Resync(p, node)
}

// dropReplica removes every presence of a node this one lost: its link
// went down, it restarted, or its tracker stopped.
func (t *Tracker) dropReplica(node string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.mu.replicas[node]
	if r == nil {
		return
	}
	delete(t.mu.replicas, node)
	d := newDiffs()
	for _, k := range sortedKeys(r.entries) {
		d.del(t.views, k.Topic, k.Key, k.PID)
	}
	t.stats.ReplicasDropped.Add(1)
	t.publishLocked(d)
}

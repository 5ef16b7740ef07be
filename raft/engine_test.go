package raft

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

// TestHeartbeatsCoalesced runs 30 busy (never quiescent) groups on three
// nodes and counts what the hosts send while the groups only heartbeat:
// each round sends at most one node message per peer, carrying the
// heartbeats and answers of every group, so the node messages do not grow
// with the number of groups.
func TestHeartbeatsCoalesced(t *testing.T) {
	tc := newTestCluster(t, 3, 21, Config{QuiesceTicks: -1})
	names := tc.fk.Names()
	const groups = 30
	for i := range groups {
		tc.startGroup(fmt.Sprintf("g%d", i), names)
	}
	for i := range groups {
		tc.leader(fmt.Sprintf("g%d", i), names)
	}
	type sample struct{ rounds, batches, msgs uint64 }
	take := func() (s sample) {
		for _, n := range names {
			st := tc.host(n).Stats()
			s.rounds += st.Rounds.Load()
			s.batches += st.BatchesSent.Load()
			s.msgs += st.MessagesSent.Load()
		}
		return s
	}
	a := take()
	start := time.Now()
	time.Sleep(50 * tc.cfg.TickInterval)
	b := take()
	elapsed := time.Since(start)
	rounds, batches, msgs := b.rounds-a.rounds, b.batches-a.batches, b.msgs-a.msgs
	ticks := uint64(elapsed / tc.cfg.TickInterval)
	t.Logf("%v (%d ticks) idle-but-busy: %d rounds, %d node messages, %d raft messages (%.1f per node message)",
		elapsed.Round(time.Millisecond), ticks, rounds, batches, msgs, float64(msgs)/float64(max(batches, 1)))
	if msgs < ticks {
		t.Fatalf("%d raft messages in %d ticks: the groups are not heartbeating", msgs, ticks)
	}
	if batches > 2*rounds {
		t.Fatalf("%d node messages in %d rounds: more than one per peer per round", batches, rounds)
	}
	// Every tick each of the 30 leaders heartbeats two followers and hears
	// two answers: 120 raft messages, in a handful of node messages.
	if float64(msgs)/float64(batches) < 5 {
		t.Fatalf("%d raft messages in %d node messages: heartbeats are not coalesced", msgs, batches)
	}
}

// TestPreVoteIsolatedFollower cuts a follower off for several election
// timeouts: with PreVote it never becomes a candidate, so its term does
// not move, and when the partition heals it does not depose the leader
// with a higher term.
func TestPreVoteIsolatedFollower(t *testing.T) {
	tc := newTestCluster(t, 3, 22, Config{ElectionTicks: 10})
	names := tc.fk.Names()
	tc.startGroup("g", names)
	l := tc.leader("g", names)
	if _, err := tc.command(l, "g", addCmd(1)); err != nil {
		t.Fatal(err)
	}
	var f string
	for _, n := range names {
		if n != l {
			f = n
		}
	}
	fg := tc.host(f).Group("g")
	term := fg.Status().Term
	tc.fk.Network().Partition(faultkit.Isolate(names, f))
	// Five election timeouts at most (10 to 20 ticks each).
	deadline := time.Now().Add(100 * tc.cfg.TickInterval)
	for time.Now().Before(deadline) {
		st := fg.Status()
		if st.Term != term || st.Role == Candidate || st.Role == Leader {
			t.Fatalf("isolated follower: role %v term %d (was %d): it campaigned", st.Role, st.Term, term)
		}
		time.Sleep(tc.cfg.TickInterval / 2)
	}
	tc.fk.Network().Heal()
	if _, err := tc.command(f, "g", addCmd(1)); err != nil {
		t.Fatal(err)
	}
	if st := fg.Status(); st.Term > term && st.Leader == f {
		t.Fatalf("the returning follower took over (term %d → %d)", term, st.Term)
	}
}

// ticking is a counter machine that is a Ticker: every Tick proposes a
// command "tick" (8 bytes of 0: adds nothing); it records whether it was
// the leader, as StateEnter told it, at every Tick.
type ticking struct {
	counter
	mu     sync.Mutex
	role   Role
	ticks  int
	wrong  int // ticks while not the leader
	zeroes int // "tick" commands applied
}

func (m *ticking) StateEnter(r Role) []Effect {
	m.mu.Lock()
	m.role = r
	m.mu.Unlock()
	return nil
}

func (m *ticking) Tick(time.Time) []Effect {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ticks++
	if m.role != Leader {
		m.wrong++
	}
	return []Effect{Propose{Command: addCmd(0)}}
}

func (m *ticking) Apply(index uint64, cmd []byte) (any, []Effect) {
	if len(cmd) == 8 && string(cmd) == string(addCmd(0)) {
		m.mu.Lock()
		m.zeroes++
		m.mu.Unlock()
	}
	return m.counter.Apply(index, cmd)
}

// TestMachineTickOnLeaderOnly runs a Ticker machine: Tick runs on the
// leader only, and the commands it proposes are applied on every member.
func TestMachineTickOnLeaderOnly(t *testing.T) {
	tc := newTestCluster(t, 3, 23, Config{})
	names := tc.fk.Names()
	ms := map[string]*ticking{}
	for _, n := range names {
		ms[n] = &ticking{}
		if _, err := tc.host(n).StartGroup(ctxT(t, 10*time.Second), GroupConfig{Name: "t", Members: names, Machine: ms[n], MachineTick: 50 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	tc.leader("t", names)
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, n := range names {
			m := ms[n]
			m.mu.Lock()
			z := m.zeroes
			m.mu.Unlock()
			if z < 5 {
				return fmt.Errorf("%s applied %d tick commands", n, z)
			}
		}
		return nil
	})
	total := 0
	for _, n := range names {
		m := ms[n]
		m.mu.Lock()
		if m.wrong != 0 {
			t.Errorf("%s ticked %d times while not the leader", n, m.wrong)
		}
		total += m.ticks
		m.mu.Unlock()
	}
	if total == 0 {
		t.Fatal("no Tick ran")
	}
}

// TestLogTruncatedAfterSnapshot checks that a group's log is cut at its
// snapshots, keeping KeepEntries, and that the group restarts from the
// snapshot and the entries after it.
func TestLogTruncatedAfterSnapshot(t *testing.T) {
	tc := newTestCluster(t, 1, 24, Config{SnapshotEntries: 10, KeepEntries: 3})
	n := tc.fk.Names()[0]
	tc.startGroup("g", []string{n})
	tc.leader("g", []string{n})
	for range 45 {
		if _, err := tc.command(n, "g", addCmd(1)); err != nil {
			t.Fatal(err)
		}
	}
	first := func(h *Host) (uint64, uint64) {
		type res struct{ first, last uint64 }
		ch := make(chan res, 1)
		if err := h.submit(func() {
			g := h.groups[groupID("g")]
			f, _ := g.log.FirstIndex()
			l, _ := g.log.LastIndex()
			ch <- res{f, l}
		}); err != nil {
			t.Fatal(err)
		}
		r := <-ch
		return r.first, r.last
	}
	var f, l uint64
	testutil.Eventually(t, 10*time.Second, func() error {
		f, l = first(tc.host(n))
		if tc.host(n).Stats().SnapshotsTaken.Load() < 3 || f+3 > l || f < 20 {
			return fmt.Errorf("log [%d, %d] after %d snapshots", f, l, tc.host(n).Stats().SnapshotsTaken.Load())
		}
		return nil
	})
	t.Logf("log [%d, %d] after %d snapshots", f, l, tc.host(n).Stats().SnapshotsTaken.Load())
	tc.kill(n)
	h := tc.restart(n)
	c := &counter{}
	if _, err := h.StartGroup(ctxT(t, 10*time.Second), GroupConfig{Name: "g", Machine: c}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if v := c.value(); v != 45 {
			return fmt.Errorf("restarted machine has %d, want 45", v)
		}
		return nil
	})
	if f2, _ := first(h); f2 < f {
		t.Fatalf("log starts at %d after the restart, at %d before", f2, f)
	}
}

// reissuer is a machine of jobs: "job N" adds job N and sends N to a
// process, "done N" removes it. A new leader sends every pending job
// again from StateEnter, as the package asks of machines whose effects
// must not be lost with a leader.
type reissuer struct {
	counter
	to      proc.PID
	mu      sync.Mutex
	pending map[uint64]bool
}

func (m *reissuer) Apply(index uint64, cmd []byte) (any, []Effect) {
	var n uint64
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := fmt.Sscanf(string(cmd), "job %d", &n); err == nil {
		m.pending[n] = true
		return nil, []Effect{Send{To: m.to, Msg: n}}
	}
	if _, err := fmt.Sscanf(string(cmd), "done %d", &n); err == nil {
		delete(m.pending, n)
	}
	return nil, nil
}

func (m *reissuer) StateEnter(r Role) []Effect {
	if r != Leader {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Effect
	for n := range m.pending {
		out = append(out, Send{To: m.to, Msg: n})
	}
	return out
}

// TestEffectsReissuedByNewLeader checks the at-least-once recipe: an
// effect runs on the leader once per command, and again on the next
// leader while the machine's state still asks for it; none once done.
func TestEffectsReissuedByNewLeader(t *testing.T) {
	tc := newTestCluster(t, 3, 25, Config{})
	names := tc.fk.Names()
	box := &mailbox{got: make(chan any, 16)}
	pid, err := tc.fk.Runtime(names[0]).Spawn(box)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		m := &reissuer{to: pid, pending: map[uint64]bool{}}
		if _, err := tc.host(n).StartGroup(ctxT(t, 10*time.Second), GroupConfig{Name: "j", Members: names, Machine: m}); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want uint64, why string) {
		t.Helper()
		select {
		case m := <-box.got:
			if m != want {
				t.Fatalf("%s: got %v, want %d", why, m, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no message", why)
		}
	}
	none := func(why string) {
		t.Helper()
		select {
		case m := <-box.got:
			t.Fatalf("%s: unexpected %v", why, m)
		case <-time.After(300 * time.Millisecond):
		}
	}
	l := tc.leader("j", names)
	if _, err := tc.command(l, "j", []byte("job 7")); err != nil {
		t.Fatal(err)
	}
	expect(7, "the job's effect")
	none("the effect ran on a follower too")
	other := names[(indexOf(names, l)+1)%3]
	if err := tc.host(l).Group("j").TransferLeadership(ctxT(t, 20*time.Second), other); err != nil {
		t.Fatal(err)
	}
	expect(7, "the new leader re-issues the pending job")
	if _, err := tc.command(other, "j", []byte("done 7")); err != nil {
		t.Fatal(err)
	}
	// An election on a loaded machine may have re-issued the job once more
	// before it was done: at least once.
	for drained := false; !drained; {
		select {
		case <-box.got:
		case <-time.After(300 * time.Millisecond):
			drained = true
		}
	}
	if err := tc.host(other).Group("j").TransferLeadership(ctxT(t, 20*time.Second), l); err != nil {
		t.Fatal(err)
	}
	tc.leader("j", names)
	none("a finished job re-issued")
}

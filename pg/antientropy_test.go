package pg

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/proc"
)

// dropNext makes s's server discard the next n messages from another node
// that match, as a mailbox refusing them would; it returns how many were
// dropped so far.
func dropNext(s *Scope, n int, match func(any) bool) *atomic.Int64 {
	var left, dropped atomic.Int64
	left.Store(int64(n))
	f := func(msg any) bool {
		if !match(msg) || left.Add(-1) < 0 {
			return false
		}
		dropped.Add(1)
		return true
	}
	s.testDrop.Store(&f)
	return &dropped
}

func isDelta(m any) bool { _, ok := m.(deltaMsg); return ok }

var aeConfig = Config{AntiEntropyInterval: 50 * time.Millisecond}

// A full report lost on its way (the scope restarted, its report to the
// other node never arrived) is asked for again when the digests of the
// two nodes disagree, without the nodes having to meet again.
func TestLostReportRepaired(t *testing.T) {
	tc := newTestCluster(t, 2, 21, aeConfig)
	names := tc.c.Names()
	a, b := names[0], names[1]
	old := tc.get(b)
	old.mu.Lock()
	oldServer := old.mu.server
	old.mu.Unlock()
	// Only the new scope's report: the old one's may still be on its way.
	dropped := dropNext(tc.get(a), 1, func(m any) bool { s, ok := m.(syncMsg); return ok && s.From != oldServer })
	old.Close()
	sb := tc.start(b)
	sb.Join("g", spawn(t, tc.c.Runtime(b), 3)...)
	eventually(t, func() error {
		if dropped.Load() == 0 {
			return errorf("no report dropped yet")
		}
		return tc.converged("g")
	})
	if r := tc.get(a).Stats().Resyncs.Load(); r == 0 {
		t.Fatal("converged without a resync")
	}
}

// The last change of a node, lost with nothing after it to reveal the gap,
// is found by the next digest and repaired.
func TestLostLastChangeRepaired(t *testing.T) {
	tc := newTestCluster(t, 2, 22, aeConfig)
	names := tc.c.Names()
	a, b := names[0], names[1]
	tc.get(b).Join("g", spawn(t, tc.c.Runtime(b), 2)...)
	eventually(t, func() error { return tc.converged("g") })
	dropped := dropNext(tc.get(a), 1, isDelta)
	tc.get(b).Join("g", spawn(t, tc.c.Runtime(b), 1)...)
	eventually(t, func() error {
		if dropped.Load() == 0 {
			return errorf("no change dropped yet")
		}
		return tc.converged("g")
	})
}

// Two nodes that agree on the number of changes but not on the members
// (state damaged some other way) are told apart by the digest's sum.
func TestDivergedMembersRepaired(t *testing.T) {
	tc := newTestCluster(t, 2, 23, aeConfig)
	names := tc.c.Names()
	a, b := names[0], names[1]
	pids := spawn(t, tc.c.Runtime(b), 3)
	tc.get(b).Join("g", pids...)
	eventually(t, func() error { return tc.converged("g") })
	sa := tc.get(a)
	sa.mu.Lock()
	sa.mu.st.remoteLeave(b, "g", []proc.PID{pids[1]})
	sa.mu.Unlock()
	eventually(t, func() error { return tc.converged("g") })
	if r := sa.Stats().Resyncs.Load(); r == 0 {
		t.Fatal("repaired without a resync")
	}
}

// The digest is cheap: the sums follow every change incrementally and
// agree with a recount from scratch.
func TestDigestSumsFollowChanges(t *testing.T) {
	st := newState()
	p := func(id uint64) proc.PID { return proc.PID{Node: "a@h", Creation: 1, ID: id} }
	q := func(id uint64) proc.PID { return proc.PID{Node: "b@h", Creation: 1, ID: id} }
	st.join("g", []proc.PID{p(1), p(1), p(2)})
	st.join("h", []proc.PID{p(1)})
	st.leave("g", []proc.PID{p(1)})
	st.remoteJoin("b@h", "g", []proc.PID{q(4), q(5)})
	st.remoteLeave("b@h", "g", []proc.PID{q(4), q(9)})
	if got, want := st.localSum, recount(st.local()); got != want {
		t.Fatalf("local sum %x, recount %x", got, want)
	}
	if got, want := st.remoteSum["b@h"], recount(map[string][]proc.PID{"g": {q(5)}}); got != want {
		t.Fatalf("remote sum %x, recount %x", got, want)
	}
	st.replace("b@h", map[string][]proc.PID{"x": {q(7)}})
	if got, want := st.remoteSum["b@h"], recount(map[string][]proc.PID{"x": {q(7)}}); got != want {
		t.Fatalf("after a report: sum %x, recount %x", got, want)
	}
	st.drop("b@h")
	if _, ok := st.remoteSum["b@h"]; ok {
		t.Fatal("a dropped node's sum is kept")
	}
	for _, id := range []uint64{1, 2} {
		st.exited(p(id))
	}
	if st.localSum != 0 {
		t.Fatalf("no members, sum %x", st.localSum)
	}
}

func recount(groups map[string][]proc.PID) uint64 {
	var sum uint64
	for g, pids := range groups {
		for _, p := range pids {
			sum += memberHash(g, p.ID)
		}
	}
	return sum
}

package raft

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/grovedev/grove/internal/testutil"
)

// TestRestartFromLog kills every node and restarts them from their logs,
// with snapshots and truncation on the way: nothing acknowledged is lost.
func TestRestartFromLog(t *testing.T) {
	tc := newTestCluster(t, 3, 3, Config{SnapshotEntries: 20, KeepEntries: 5})
	names := tc.fk.Names()
	tc.startGroup("g", names)
	tc.leader("g", names)
	for i := range 55 {
		if _, err := tc.command(names[i%3], "g", addCmd(1)); err != nil {
			t.Fatal(err)
		}
	}
	if tc.host(names[0]).Stats().SnapshotsTaken.Load() == 0 {
		t.Fatal("no snapshot taken after 55 entries with SnapshotEntries 20")
	}
	for _, n := range names {
		tc.kill(n)
	}
	ms := map[string]*counter{}
	for _, n := range names {
		h := tc.restart(n)
		groups, err := h.Groups()
		if err != nil || len(groups) != 1 || groups[0] != "g" {
			t.Fatalf("stored groups %v %v", groups, err)
		}
		ms[n] = &counter{}
		if _, err := h.StartGroup(ctxT(t, 10*time.Second), GroupConfig{Name: "g", Machine: ms[n]}); err != nil {
			t.Fatal(err)
		}
	}
	tc.leader("g", names)
	r, err := tc.command(names[1], "g", addCmd(1))
	if err != nil {
		t.Fatal(err)
	}
	if r.Reply.(int64) != 56 {
		t.Fatalf("after restart the total is %d, want 56", r.Reply)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, n := range names {
			if v := ms[n].value(); v != 56 {
				return fmt.Errorf("%s has %d", n, v)
			}
		}
		return nil
	})
}

// TestFailover kills the leader: a new one is elected and takes commands;
// the old node rejoins from its log and catches up.
func TestFailover(t *testing.T) {
	tc := newTestCluster(t, 3, 4, Config{})
	names := tc.fk.Names()
	tc.startGroup("g", names)
	old := tc.leader("g", names)
	for range 5 {
		if _, err := tc.command(old, "g", addCmd(1)); err != nil {
			t.Fatal(err)
		}
	}
	tc.kill(old)
	var rest []string
	for _, n := range names {
		if n != old {
			rest = append(rest, n)
		}
	}
	nl := tc.leader("g", rest)
	if nl == old {
		t.Fatal("dead node still leads")
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		_, err := tc.command(rest[0], "g", addCmd(1))
		return err
	})
	h := tc.restart(old)
	c := &counter{}
	if _, err := h.StartGroup(ctxT(t, 10*time.Second), GroupConfig{Name: "g", Machine: c}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		want, _ := tc.host(rest[0]).Group("g").LocalQuery(ctxT(t, 5*time.Second), func(m Machine) (any, error) { return m.(*counter).value(), nil })
		if c.value() != want.(int64) || want.(int64) < 6 {
			return fmt.Errorf("restarted node has %d, others %d", c.value(), want)
		}
		return nil
	})
}

// TestQuiescence checks that an idle group stops ticking and sending, and
// wakes up for the next command.
func TestQuiescence(t *testing.T) {
	tc := newTestCluster(t, 3, 5, Config{QuiesceTicks: 5})
	names := tc.fk.Names()
	tc.startGroup("g", names)
	l := tc.leader("g", names)
	if _, err := tc.command(l, "g", addCmd(1)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, n := range names {
			if a := tc.host(n).Stats().Active.Load(); a != 0 {
				return fmt.Errorf("%s has %d active groups: %+v", n, a, tc.host(n).Group("g").Status())
			}
		}
		return nil
	})
	sent := tc.host(l).Stats().MessagesSent.Load()
	// Twenty ticks idle: nothing may be sent.
	deadline := time.Now().Add(20 * tc.cfg.TickInterval)
	for time.Now().Before(deadline) {
		if s := tc.host(l).Stats().MessagesSent.Load(); s != sent {
			t.Fatalf("a quiesced leader sent %d messages", s-sent)
		}
		time.Sleep(tc.cfg.TickInterval)
	}
	r, err := tc.command(names[(indexOf(names, l)+1)%3], "g", addCmd(1))
	if err != nil || r.Reply.(int64) != 2 {
		t.Fatalf("command after quiescence: %v %v", r, err)
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestMembershipAndSnapshotTransfer adds a fourth node (as a learner
// caught up by snapshot, then a voter), transfers leadership to it and
// removes an old member.
func TestMembershipAndSnapshotTransfer(t *testing.T) {
	tc := newTestCluster(t, 4, 6, Config{SnapshotEntries: 10, KeepEntries: 2, SnapshotChunkBytes: 3})
	names := tc.fk.Names()
	first, fourth := names[:3], names[3]
	tc.startGroup("g", first)
	l := tc.leader("g", first)
	for range 25 {
		if _, err := tc.command(l, "g", addCmd(2)); err != nil {
			t.Fatal(err)
		}
	}
	c := &counter{}
	if _, err := tc.host(fourth).StartGroup(ctxT(t, 10*time.Second), GroupConfig{Name: "g", Join: true, Machine: c}); err != nil {
		t.Fatal(err)
	}
	g := tc.host(l).Group("g")
	if err := g.AddMember(ctxT(t, 20*time.Second), fourth); err != nil {
		t.Fatal(err)
	}
	if tc.host(fourth).Stats().SnapshotsReceived.Load() == 0 {
		t.Fatal("the new member caught up without a snapshot")
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if c.value() != 50 {
			return fmt.Errorf("new member has %d", c.value())
		}
		return nil
	})
	if st := g.Status(); len(st.Voters) != 4 {
		t.Fatalf("voters %v", st.Voters)
	}
	if err := g.TransferLeadership(ctxT(t, 20*time.Second), fourth); err != nil {
		t.Fatal(err)
	}
	ng := tc.host(fourth).Group("g")
	var other string
	for _, n := range first {
		if n != l {
			other = n
			break
		}
	}
	if err := ng.RemoveMember(ctxT(t, 10*time.Second), other); err != nil {
		t.Fatal(err)
	}
	if err := ng.RemoveMember(ctxT(t, 10*time.Second), other); !errors.Is(err, ErrMembership) {
		t.Fatalf("removing twice: %v", err)
	}
	if _, err := tc.command(l, "g", addCmd(1)); err != nil {
		t.Fatal(err)
	}
	var nle *NotLeaderError
	if err := g.AddLearner(ctxT(t, 5*time.Second), "x@y"); !errors.As(err, &nle) || nle.Leader != fourth {
		t.Fatalf("membership change on a follower: %v, want NotLeaderError naming %s", err, fourth)
	}
}

// TestManyGroupsShareSyncs runs 50 groups and checks that writes to all of
// them share fsyncs.
func TestManyGroupsShareSyncs(t *testing.T) {
	tc := newTestCluster(t, 3, 7, Config{})
	names := tc.fk.Names()
	const n = 50
	for i := range n {
		tc.startGroup(fmt.Sprintf("g%d", i), names)
	}
	for i := range n {
		tc.leader(fmt.Sprintf("g%d", i), names)
	}
	h := tc.host(names[0])
	syncs := h.Stats().Syncs.Load()
	var done atomic.Int64
	errs := make(chan error, n)
	for i := range n {
		go func() {
			for range 10 {
				if _, err := tc.command(names[0], fmt.Sprintf("g%d", i), addCmd(1)); err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	used := h.Stats().Syncs.Load() - syncs
	if used >= uint64(done.Load()) {
		t.Fatalf("%d commands took %d syncs: not shared", done.Load(), used)
	}
	t.Logf("%d commands over %d groups, %d syncs on one node", done.Load(), n, used)
}

// failSyncs fails every file sync while on.
type failSyncs struct{ on atomic.Bool }

func (f *failSyncs) String() string { return "failSyncs" }
func (f *failSyncs) MaybeError(op errorfs.Op) error {
	if f.on.Load() && (op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData || op.Kind == errorfs.OpFileSyncTo) {
		return errorfs.ErrInjected
	}
	return nil
}

// TestFsyncFailureStopsCleanly makes the single node's disk fail: the
// command in flight is not acknowledged, the group stops with ErrStorage.
func TestFsyncFailureStopsCleanly(t *testing.T) {
	inj := &failSyncs{}
	tc := newTestCluster(t, 1, 8, Config{FS: errorfs.Wrap(vfs.NewMem(), inj)})
	name := tc.fk.Names()[0]
	c := tc.startGroup("g", []string{name})[name]
	tc.leader("g", []string{name})
	g := tc.host(name).Group("g")
	if _, err := g.Command(ctxT(t, 10*time.Second), addCmd(1)); err != nil {
		t.Fatal(err)
	}
	inj.on.Store(true)
	_, err := g.Command(ctxT(t, 10*time.Second), addCmd(1))
	if !errors.Is(err, ErrStorage) || !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("command on a failing disk: %v, want ErrStorage (unknown outcome)", err)
	}
	if c.value() != 1 {
		t.Fatalf("machine applied an unwritten entry: %d", c.value())
	}
	if _, err := g.Command(ctxT(t, 10*time.Second), addCmd(1)); !errors.Is(err, ErrStorage) {
		t.Fatalf("command after the failure: %v", err)
	}
}

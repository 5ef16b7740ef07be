package replica

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/grovedev/grove/crdt"
	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/hlc"
	"github.com/grovedev/grove/internal/testutil"
)

// seededMap returns a map of keys entries written by node "seed".
func seededMap(keys int) *crdt.AWLWWMap[string, string] {
	m := crdt.NewAWLWWMap[string, string]()
	for i := range keys {
		m.Set("seed", fmt.Sprintf("key-%06d", i), "value-0", hlc.Timestamp{WallNanos: int64(i + 1)})
	}
	return m
}

// repairFigures is what measureRepair measures.
type repairFigures struct {
	size           int
	keys, changed  int
	converge       time.Duration // from heal until every digest is equal
	repairBytes    uint64        // sync bytes sent by all replicas from heal to convergence
	repairFull     uint64        // full states sent in that time
	repairDeltas   uint64        // delta payload bytes in that time
	repairMsgs     uint64        // messages in that time
	partitionBytes uint64        // sync bytes sent while partitioned (n1 to n2 replication of the changes, lost sends)
	fullBytes      int           // size of the encoded full state
}

func (f repairFigures) String() string {
	return fmt.Sprintf("%d replicas, %d keys, %d changed: converged %v after heal; repair %d B in %d messages (%.2f%% of the %d B full state; %d B of deltas), %d full states; %d B sent during the partition",
		f.size, f.keys, f.changed, f.converge.Round(time.Millisecond), f.repairBytes, f.repairMsgs, 100*float64(f.repairBytes)/float64(f.fullBytes), f.fullBytes, f.repairDeltas, f.repairFull, f.partitionBytes)
}

// measureRepair runs size replicas of a map of keys entries, cuts the last
// off, changes `changed` keys on the first, heals, and measures the repair.
func measureRepair(tb testing.TB, size, keys, changed int, cfg Config) repairFigures {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := faultkit.NewCluster(ctx, faultkit.ClusterConfig{Size: size, Seed: 1, Register: RegisterTypes})
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	names := c.Names()
	testutil.Eventually(tb, 10*time.Second, func() error {
		for _, n := range names {
			if len(c.Node(n).Nodes()) != size-1 {
				return fmt.Errorf("%s not connected", n)
			}
		}
		return nil
	})
	initial := seededMap(keys)
	full, err := initial.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	rs := map[string]*Replica{}
	for _, n := range names {
		r, err := New(c.Node(n), "big", initial.Clone(), cfg)
		if err != nil {
			tb.Fatal(err)
		}
		defer r.Close()
		rs[n] = r
	}
	n1, n3 := names[0], names[size-1]
	rest := names[:size-1]
	sent := func() (b, f uint64) {
		for _, r := range rs {
			b += r.Stats().BytesSent.Load()
			f += r.Stats().FullStatesSent.Load()
		}
		return b, f
	}
	deltas := func() (d, m uint64) {
		for _, r := range rs {
			d += r.Stats().DeltaBytesSent.Load()
			m += r.Stats().MessagesSent.Load()
		}
		return d, m
	}
	sameDigests := func(ns []string) error {
		d := rs[ns[0]].Digest()
		for _, n := range ns[1:] {
			if e := rs[n].Digest(); !maps.Equal(d, e) {
				return fmt.Errorf("%s digest %v, %s %v", ns[0], d, n, e)
			}
		}
		return nil
	}
	// Let everyone exchange digests first.
	testutil.Eventually(tb, 10*time.Second, func() error {
		for _, r := range rs {
			r.Sync()
		}
		if rs[n1].Stats().MessagesReceived.Load() == 0 || rs[n3].Stats().MessagesReceived.Load() == 0 {
			return fmt.Errorf("no digest exchanged yet")
		}
		return nil
	})
	before, _ := sent()
	c.Network().Partition(faultkit.Isolate(names, n3))
	testutil.Eventually(tb, 10*time.Second, func() error {
		if len(c.Node(n1).Nodes()) != size-2 || len(c.Node(n3).Nodes()) != 0 {
			return fmt.Errorf("partition not noticed yet")
		}
		return nil
	})
	clk, err := hlc.New(c.Runtime(n1).Clock(), hlc.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range changed {
		k := fmt.Sprintf("key-%06d", i*(keys/changed))
		if err := rs[n1].Update(func(s crdt.State) crdt.State {
			return s.(*crdt.AWLWWMap[string, string]).Set(rs[n1].ID(), k, "value-1", clk.Now())
		}); err != nil {
			tb.Fatal(err)
		}
	}
	testutil.Eventually(tb, 20*time.Second, func() error { return sameDigests(rest) })
	healAt, fullBefore := sent()
	dBefore, mBefore := deltas()
	start := time.Now()
	c.Network().Heal()
	testutil.Eventually(tb, 30*time.Second, func() error { return sameDigests(names) })
	took := time.Since(start)
	after, fullAfter := sent()
	dAfter, mAfter := deltas()
	a, err := rs[n1].Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range names[1:] {
		b, err := rs[n].Snapshot()
		if err != nil {
			tb.Fatal(err)
		}
		if string(a) != string(b) {
			tb.Fatalf("%s and %s have equal digests but different states", n1, n)
		}
	}
	return repairFigures{
		size: size, keys: keys, changed: changed, converge: took,
		repairBytes: after - healAt, repairFull: fullAfter - fullBefore,
		repairDeltas: dAfter - dBefore, repairMsgs: mAfter - mBefore,
		partitionBytes: healAt - before, fullBytes: len(full),
	}
}

// TestRepairAfterPartition checks that a partitioned replica is repaired
// with the changes it missed, not the full state.
func TestRepairAfterPartition(t *testing.T) {
	keys := 20000
	if testing.Short() {
		keys = 2000
	}
	f := measureRepair(t, 3, keys, keys/100, Config{Interval: 20 * time.Millisecond})
	t.Log(f)
	if f.repairFull != 0 {
		t.Errorf("repair sent %d full states", f.repairFull)
	}
	if f.repairBytes*10 > uint64(f.fullBytes) {
		t.Errorf("repair sent %d bytes, more than 10%% of the full state (%d)", f.repairBytes, f.fullBytes)
	}
}

// BenchmarkRepair100k measures 3 and 10 replicas of a map of 100,000 keys
// converging after a heal, 1 % of the keys changed during the partition,
// which cut the last replica off.
func BenchmarkRepair100k(b *testing.B) {
	for _, size := range []int{3, 10} {
		b.Run(fmt.Sprintf("replicas=%d", size), func(b *testing.B) {
			for range b.N {
				f := measureRepair(b, size, 100000, 1000, Config{Interval: 50 * time.Millisecond})
				b.ReportMetric(float64(f.converge.Milliseconds()), "ms-to-converge")
				b.ReportMetric(float64(f.repairBytes), "repair-bytes")
				b.ReportMetric(float64(f.fullBytes), "full-state-bytes")
				b.ReportMetric(100*float64(f.repairBytes)/float64(f.fullBytes), "repair-%")
				b.Log(f)
			}
		})
	}
}

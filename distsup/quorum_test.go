package distsup

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/internal/clustertest"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/lease"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/raft"
)

// quorumService is a member's supervisor in quorum mode with the lease
// group it depends on.
type quorumService struct {
	s    *Supervisor
	host *raft.Host
}

func (q quorumService) Close() error {
	err := q.s.Close()
	return errors.Join(err, q.host.Close())
}

func (q quorumService) Drain(ctx context.Context) error { return q.s.Drain(ctx) }

// startQuorum starts n members, each with a Raft host (its log under a
// directory kept across restarts), a member of one lease group of all n,
// and the supervisor in quorum mode.
func startQuorum(t testing.TB, n int, tr *tracker, seed uint64) (*clustertest.Harness, *sups) {
	t.Helper()
	dir := t.TempDir()
	ss := &sups{m: map[string]*Supervisor{}}
	var members []string
	for i := range n {
		members = append(members, clustertest.Name(i))
	}
	q := &Quorum{TTL: 2 * time.Second, Renew: 500 * time.Millisecond, Margin: 500 * time.Millisecond}
	h := clustertest.Start(t, clustertest.Config{
		Size: n,
		Seed: seed,
		Register: func(r *codec.Registry) error {
			if err := raft.RegisterTypes(r); err != nil {
				return err
			}
			return registerTest(r)
		},
		Setup: func(m *clustertest.Member) (clustertest.Service, error) {
			host, err := raft.Start(m.Node, raft.Config{DataDir: filepath.Join(dir, m.Host), TickInterval: 20 * time.Millisecond})
			if err != nil {
				return nil, err
			}
			svc, err := lease.Open(context.Background(), host, lease.Config{Members: members})
			if err != nil {
				host.Close()
				return nil, err
			}
			qc := *q
			qc.Leases = LeaseService(svc)
			s, err := Start(m.Cluster, Config{Interval: 50 * time.Millisecond, Quorum: &qc})
			if err != nil {
				host.Close()
				return nil, err
			}
			if err := s.Register("worker", func(id string, arg any) (proc.Behavior, error) {
				return &worker{id: id, t: tr}, nil
			}); err != nil {
				s.Close()
				host.Close()
				return nil, err
			}
			ss.mu.Lock()
			ss.m[m.Name] = s
			ss.mu.Unlock()
			return quorumService{s: s, host: host}, nil
		},
	})
	return h, ss
}

func startAll(t testing.TB, ss *sups, m *clustertest.Member, prefix string, n int) []string {
	t.Helper()
	ctx := ctxT(t, 60*time.Second)
	var ids []string
	for i := range n {
		id := fmt.Sprint(prefix, i)
		ids = append(ids, id)
		testutil.Eventually(t, 30*time.Second, func() error {
			_, err := ss.get(m.Name).StartChild(ctx, ChildSpec{ID: id, Kind: "worker"})
			if err != nil && !errors.Is(err, ErrAlreadyStarted) {
				return err
			}
			return nil
		})
	}
	return ids
}

// TestQuorumPartition: the minority side of a partition stops its
// children, the majority restarts them after their leases passed, and no
// two copies of a child ever run at once — checked over the recorded
// history of every run, not by sampling.
func TestQuorumPartition(t *testing.T) {
	tr := newTracker()
	h, ss := startQuorum(t, 5, tr, 1)
	ms := h.Running()
	waitSupsComplete(t, h, ss)
	ids := startAll(t, ss, ms[0], "q", 20)
	testutil.Eventually(t, 30*time.Second, func() error { return exactlyOnce(h, ss, tr, ids) })
	minority := map[string]bool{ms[3].Name: true, ms[4].Name: true}
	var onMinority []string
	for _, id := range ids {
		if pid, _ := ss.get(ms[0].Name).WhereIs(id); minority[pid.Node] {
			onMinority = append(onMinority, id)
		}
	}
	if len(onMinority) == 0 {
		t.Fatal("nothing placed on the minority")
	}
	h.Partition([]int{0, 1, 2}, []int{3, 4})
	// Everything runs again, once, on the majority.
	testutil.Eventually(t, 60*time.Second, func() error {
		for _, id := range ids {
			tr.mu.Lock()
			var where []string
			for pid := range tr.live[id] {
				where = append(where, pid.Node)
			}
			tr.mu.Unlock()
			if len(where) != 1 || minority[where[0]] {
				return fmt.Errorf("%s runs on %v", id, where)
			}
		}
		return nil
	})
	var stops uint64
	for _, m := range ms[3:] {
		stops += ss.get(m.Name).Stats().QuorumStops.Load()
	}
	if int(stops) < len(onMinority) {
		t.Fatalf("%d children stopped for want of quorum, %d ran on the minority", stops, len(onMinority))
	}
	h.Heal()
	testutil.Eventually(t, 60*time.Second, func() error { return exactlyOnce(h, ss, tr, ids) })
	if err := tr.overlaps(); err != nil {
		t.Fatal(err)
	}
}

// TestQuorumScenario runs starts under a seeded schedule of partitions of
// every shape, pauses and kills in quorum mode, and checks from the
// history that no two copies of any child ever ran at once, and that
// after the heal every acknowledged start runs exactly once.
func TestQuorumScenario(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("fault scenario on real-time leases")
	}
	for _, seed := range quorumSeeds(t) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Logf("replay with %s=%d", faultkit.SeedEnv, seed)
			tr := newTracker()
			h, ss := startQuorum(t, 5, tr, seed)
			waitSupsComplete(t, h, ss)
			steps := faultkit.Schedule(faultkit.NemesisConfig{
				Seed: seed, Nodes: h.Hosts(), Duration: scenarioDuration + time.Second, Hold: 3 * time.Second, Quiet: 500 * time.Millisecond,
				Faults: []faultkit.Fault{faultkit.FaultPartition, faultkit.FaultPartition, faultkit.FaultPause, faultkit.FaultKill},
			})
			var (
				mu    sync.Mutex
				acked = map[string]bool{}
				stop  = make(chan struct{})
				wg    sync.WaitGroup
			)
			wg.Go(func() {
				r := rand.New(rand.NewPCG(seed, 9))
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					ms := h.Running()
					if len(ms) == 0 {
						continue
					}
					m := ms[r.IntN(len(ms))]
					id := fmt.Sprint("s", i%40)
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					_, err := ss.get(m.Name).StartChild(ctx, ChildSpec{ID: id, Kind: "worker"})
					cancel()
					if err == nil {
						mu.Lock()
						acked[id] = true
						mu.Unlock()
					}
				}
			})
			h.RunSchedule(context.Background(), steps, t.Logf)
			close(stop)
			wg.Wait()
			for i := range 5 {
				if h.Member(i) == nil {
					h.Restart(i)
				}
			}
			h.WaitConverged(60 * time.Second)
			mu.Lock()
			var ids []string
			for id := range acked {
				ids = append(ids, id)
			}
			mu.Unlock()
			testutil.Eventually(t, 90*time.Second, func() error {
				for _, id := range ids {
					if n := tr.count(id); n != 1 {
						return fmt.Errorf("acknowledged %s runs %d times: %s", id, n, debugQuorum(h, ss, tr, id))
					}
				}
				return nil
			})
			if err := tr.overlaps(); err != nil {
				t.Fatal(err)
			}
			var stops uint64
			for _, m := range h.Running() {
				stops += ss.get(m.Name).Stats().QuorumStops.Load()
			}
			t.Logf("%d children acknowledged, %d stopped for want of a lease", len(ids), stops)
		})
	}
}

// quorumSeeds are replayed by default; GROVE_DISTSUP_SEEDS=N adds N.
func quorumSeeds(t *testing.T) []uint64 {
	if os.Getenv(faultkit.SeedEnv) != "" {
		return seeds(t)
	}
	return append([]uint64{11}, seeds(t)[len(scenarioSeeds):]...)
}

// TestOverlapCheckerFindsOverlaps: the history check fails on two runs of
// one child that overlap, and passes on runs one after the other.
func TestOverlapCheckerFindsOverlaps(t *testing.T) {
	tr := newTracker()
	a := tr.rec.Invoke(0, "run", "x", "a")
	b := tr.rec.Invoke(0, "run", "x", "b")
	a.OK(nil)
	b.OK(nil)
	if tr.overlaps() == nil {
		t.Fatal("overlapping runs not found")
	}
	tr = newTracker()
	tr.rec.Invoke(0, "run", "x", "a").OK(nil)
	tr.rec.Invoke(0, "run", "x", "b") // still running
	tr.rec.Invoke(0, "run", "y", "c")
	if err := tr.overlaps(); err != nil {
		t.Fatal(err)
	}
}

func debugQuorum(h *clustertest.Harness, ss *sups, tr *tracker, id string) string {
	out := debugChild(h, ss, tr, id)
	for _, m := range h.Running() {
		s := ss.get(m.Name)
		var orphans []string
		for _, o := range s.m.Orphans() {
			if o.Key == id {
				orphans = append(orphans, fmt.Sprintf("%v@%v", o.Ref, o.PID))
			}
		}
		s.quorum.mu.Lock()
		hl := s.quorum.held[id]
		var held string
		if hl != nil {
			held = fmt.Sprintf("valid for %v pid %v", time.Until(hl.valid), hl.pid)
		}
		s.quorum.mu.Unlock()
		out += fmt.Sprintf(" %s: orphans %v lease %q;", m.Name, orphans, held)
	}
	return out
}

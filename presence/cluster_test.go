package presence

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/faultkit/check"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/pubsub"
)

// member is one node's PubSub and Tracker.
type member struct {
	ps *pubsub.PubSub
	tr *Tracker
}

type testCluster struct {
	t  testing.TB
	c  *faultkit.Cluster
	mu sync.Mutex
	m  map[string]member
}

func newTestCluster(t testing.TB, size int, seed uint64, cfg Config) *testCluster {
	t.Helper()
	c, err := faultkit.NewCluster(context.Background(), faultkit.ClusterConfig{Size: size, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCluster{t: t, c: c, m: map[string]member{}}
	t.Cleanup(func() {
		tc.mu.Lock()
		for _, m := range tc.m {
			m.tr.Close()
			m.ps.Close()
		}
		tc.mu.Unlock()
		c.Close()
	})
	for _, n := range c.Names() {
		tc.start(n, cfg)
	}
	tc.waitMesh()
	return tc
}

func (tc *testCluster) start(name string, cfg Config) *Tracker {
	tc.t.Helper()
	ps, err := pubsub.Start(tc.c.Node(name), pubsub.Config{Buffer: 1 << 20})
	if err != nil {
		tc.t.Fatal(err)
	}
	tr, err := Start(tc.c.Node(name), ps, cfg)
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.mu.Lock()
	tc.m[name] = member{ps, tr}
	tc.mu.Unlock()
	return tr
}

// stop closes a node's tracker and PubSub (before the kit kills it).
func (tc *testCluster) stop(name string) {
	tc.mu.Lock()
	m := tc.m[name]
	delete(tc.m, name)
	tc.mu.Unlock()
	m.tr.Close()
	m.ps.Close()
}

func (tc *testCluster) tr(name string) *Tracker {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.m[name].tr
}

func (tc *testCluster) waitMesh() {
	tc.t.Helper()
	names := tc.c.Names()
	eventually(tc.t, func() error {
		for _, n := range names {
			want := slices.DeleteFunc(slices.Clone(names), func(s string) bool { return s == n })
			if got := tc.tr(n).Nodes(); !slices.Equal(got, want) {
				return errorf("%s knows %v", n, got)
			}
		}
		return nil
	})
}

// truth is the presences of live processes: each node's own.
func (tc *testCluster) truth(topic string) string {
	var all []Presence
	for _, n := range tc.c.Names() {
		tr := tc.tr(n)
		tr.mu.Lock()
		for k, e := range tr.mu.local {
			if k.Topic == topic && tc.c.Runtime(n).Alive(k.PID) {
				all = append(all, Presence{k.Topic, k.Key, k.PID, e.meta})
			}
		}
		tr.mu.Unlock()
	}
	return canon(all)
}

// converged checks that every node lists exactly the presences of live
// processes.
func (tc *testCluster) converged(topics ...string) error {
	for _, topic := range topics {
		want := tc.truth(topic)
		for _, n := range tc.c.Names() {
			if got := canon(tc.tr(n).List(topic)); got != want {
				return errorf("%s lists %d presences of %s, want %d:\n got %s\nwant %s",
					n, len(strings.Fields(got)), topic, len(strings.Fields(want)), got, want)
			}
		}
	}
	return nil
}

// watchAll subscribes a mirror on every node.
func (tc *testCluster) watchAll(topic string) map[string]*mirror {
	tc.t.Helper()
	out := map[string]*mirror{}
	for _, n := range tc.c.Names() {
		var m *mirror
		ready := make(chan struct{})
		_, start, err := tc.tr(n).SubscribeFunc(topic, func(msg *pubsub.Message) {
			<-ready
			m.apply(msg)
		})
		if err != nil {
			tc.t.Fatal(err)
		}
		m = newMirror(start)
		close(ready)
		out[n] = m
	}
	return out
}

// mirrorsMatch checks that every subscriber's diffs replay to what its
// node lists.
func (tc *testCluster) mirrorsMatch(topic string, ms map[string]*mirror) error {
	for n, m := range ms {
		if err := m.err(); err != nil {
			return fmt.Errorf("%s's subscriber: %w", n, err)
		}
		if got, want := canon(m.list()), canon(tc.tr(n).List(topic)); got != want {
			return errorf("%s's subscriber replayed\n %s\nnode lists\n %s", n, got, want)
		}
	}
	return nil
}

func TestClusterTrack(t *testing.T) {
	tc := newTestCluster(t, 3, 1, Config{})
	names := tc.c.Names()
	ms := tc.watchAll("room")
	for i, n := range names {
		for j := range 3 {
			tc.tr(n).Track(spawnIdle(t, tc.c.Runtime(n)), "room", fmt.Sprintf("u%d", i*10+j), map[string]any{"i": int64(j)})
		}
	}
	eventually(t, func() error { return tc.converged("room") })
	if n := tc.tr(names[0]).Count("room"); n != 9 {
		t.Fatalf("count %d", n)
	}
	p := tc.tr(names[1]).List("room")
	for _, pr := range p {
		if pr.PID.Node == names[1] {
			tc.tr(names[1]).Update(pr.PID, "room", pr.Key, "changed")
			break
		}
	}
	eventually(t, func() error { return tc.converged("room") })
	eventually(t, func() error { return tc.mirrorsMatch("room", ms) })
}

// Presences of a killed node leave the others as soon as its link dies;
// after a restart under the same name, only the new incarnation's are
// listed (no zombies).
func TestKillAndRestart(t *testing.T) {
	tc := newTestCluster(t, 3, 2, Config{})
	names := tc.c.Names()
	victim := names[2]
	ms := tc.watchAll("room")
	for _, n := range names {
		tc.tr(n).Track(spawnIdle(t, tc.c.Runtime(n)), "room", n, "here")
	}
	eventually(t, func() error { return tc.converged("room") })
	tc.stop(victim)
	killed := time.Now()
	tc.c.Kill(victim)
	eventually(t, func() error {
		for _, n := range names[:2] {
			for _, p := range tc.tr(n).List("room") {
				if p.PID.Node == victim {
					return errorf("%s still lists %v", n, p)
				}
			}
		}
		return nil
	})
	t.Logf("the killed node's presences left in %v", time.Since(killed))
	if err := tc.c.Restart(context.Background(), victim); err != nil {
		t.Fatal(err)
	}
	tr := tc.start(victim, Config{})
	fresh := spawnIdle(t, tc.c.Runtime(victim))
	tr.Track(fresh, "room", victim, "back")
	tc.waitMesh()
	eventually(t, func() error { return tc.converged("room") })
	for _, p := range tc.tr(names[0]).List("room") {
		if p.PID.Node == victim && p.PID != fresh {
			t.Fatalf("zombie %v", p)
		}
	}
	delete(ms, victim)
	eventually(t, func() error { return tc.mirrorsMatch("room", ms) })
}

// The scenarios of Phoenix.Tracker's netsplit bugs, each over a partition
// that isolates one node, then a heal: afterwards every node lists exactly
// the live presences, and each subscriber's diffs replay to that list.
func TestNetsplitScenarios(t *testing.T) {
	type scene struct {
		name string
		// during runs while names[0] is cut off; it may kill and restart
		// nodes through tc.
		during func(t *testing.T, tc *testCluster, p map[string][]proc.PID)
	}
	scenes := []scene{
		{"process dies on the far side", func(t *testing.T, tc *testCluster, p map[string][]proc.PID) {
			n := tc.c.Names()[1]
			tc.c.Runtime(n).Exit(p[n][0], proc.ErrKill)
		}},
		{"process dies on the cut-off side", func(t *testing.T, tc *testCluster, p map[string][]proc.PID) {
			n := tc.c.Names()[0]
			tc.c.Runtime(n).Exit(p[n][0], proc.ErrKill)
		}},
		{"update on both sides", func(t *testing.T, tc *testCluster, p map[string][]proc.PID) {
			for _, n := range tc.c.Names()[:2] {
				tc.tr(n).Update(p[n][1], "room", keyOf(n, 1), "updated in the split")
			}
		}},
		{"track and untrack in a row", func(t *testing.T, tc *testCluster, p map[string][]proc.PID) {
			n := tc.c.Names()[1]
			pid := spawnIdle(t, tc.c.Runtime(n))
			tc.tr(n).Track(pid, "room", "flash", 1)
			tc.tr(n).Untrack(pid, "room", "flash")
			tc.tr(n).Track(pid, "room", "flash", 2)
		}},
		{"node restarts with the same name", func(t *testing.T, tc *testCluster, p map[string][]proc.PID) {
			n := tc.c.Names()[2]
			tc.stop(n)
			if err := tc.c.Restart(context.Background(), n); err != nil {
				t.Fatal(err)
			}
			tr := tc.start(n, Config{})
			tr.Track(spawnIdle(t, tc.c.Runtime(n)), "room", "reborn", "new")
		}},
	}
	for i, sc := range scenes {
		t.Run(sc.name, func(t *testing.T) {
			tc := newTestCluster(t, 3, uint64(10+i), Config{})
			names := tc.c.Names()
			p := map[string][]proc.PID{}
			for _, n := range names {
				for j := range 3 {
					pid := spawnIdle(t, tc.c.Runtime(n))
					p[n] = append(p[n], pid)
					tc.tr(n).Track(pid, "room", keyOf(n, j), "start")
				}
			}
			eventually(t, func() error { return tc.converged("room") })
			ms := tc.watchAll("room")
			tc.c.Network().Partition(faultkit.Isolate(names, names[0]))
			eventually(t, func() error { // both sides drop the other's presences
				for _, pr := range tc.tr(names[0]).List("room") {
					if pr.PID.Node != names[0] {
						return errorf("%s still lists %v", names[0], pr)
					}
				}
				return nil
			})
			sc.during(t, tc, p)
			tc.c.Network().Heal()
			tc.waitMesh()
			eventually(t, func() error { return tc.converged("room") })
			restarted := sc.name == "node restarts with the same name"
			if restarted {
				delete(ms, names[2])
			}
			eventually(t, func() error { return tc.mirrorsMatch("room", ms) })
		})
	}
}

func keyOf(node string, j int) string { return fmt.Sprintf("%s-%d", node, j) }

// Frames lost without the link breaking (a datagram-like loss of whole
// writes) are found by the heartbeats and repaired with a full report.
func TestLostChangesRepaired(t *testing.T) {
	tc := newTestCluster(t, 2, 3, Config{HeartbeatInterval: 50 * time.Millisecond})
	names := tc.c.Names()
	ms := tc.watchAll("room")
	if err := tc.c.Network().SetFaults(names[0], names[1], faultkit.Faults{Drop: 0.3, WholeWrites: true}); err != nil {
		t.Fatal(err)
	}
	rt := tc.c.Runtime(names[0])
	for i := range 200 {
		pid := spawnIdle(t, rt)
		tc.tr(names[0]).Track(pid, "room", fmt.Sprint(i), i)
		if i%3 == 0 {
			tc.tr(names[0]).Untrack(pid, "room", fmt.Sprint(i))
		}
		time.Sleep(time.Millisecond) // spread the changes over many link writes
	}
	tc.c.Network().ClearFaults()
	eventually(t, func() error { return tc.converged("room") })
	eventually(t, func() error { return tc.mirrorsMatch("room", ms) })
	if r := tc.tr(names[1]).Stats().Resyncs.Load(); r == 0 {
		t.Log("no change was lost this time")
	} else {
		t.Logf("%d resyncs", r)
	}
}

// nemesisSeeds are the fixed schedules run by default; GROVE_SEED replays
// one, and GROVE_PRESENCE_SOAK=N runs N more random ones.
var nemesisSeeds = []uint64{7, 1129, 40961}

// Seeded schedules of network faults plus kills and restarts of whole
// nodes, while processes track, update, untrack and die on every node:
// after the heal every node lists exactly the presences of live processes
// and every subscriber's diffs replay to its node's list.
func TestNemesis(t *testing.T) {
	seeds := nemesisSeeds
	if os.Getenv(faultkit.SeedEnv) != "" {
		seeds = []uint64{faultkit.Seed(t)}
	}
	if n, _ := strconv.Atoi(os.Getenv("GROVE_PRESENCE_SOAK")); n > 0 {
		for range n {
			seeds = append(seeds, rand.Uint64())
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runNemesis(t, seed) })
	}
}

func runNemesis(t *testing.T, seed uint64) {
	t.Logf("seed %d (replay with %s=%d)", seed, faultkit.SeedEnv, seed)
	tc := newTestCluster(t, 3, seed, Config{HeartbeatInterval: 100 * time.Millisecond})
	names := tc.c.Names()
	ms := tc.watchAll("room")
	nem := faultkit.StartNemesis(faultkit.NemesisConfig{Seed: seed, Nodes: names, Duration: 2 * time.Second, Logf: t.Logf}, nil, tc.c)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// The workload on the first two nodes; the third is killed and
	// restarted by the schedule below.
	for i, n := range names[:2] {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(i)))
			rt := tc.c.Runtime(n)
			var mine []proc.PID
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				tr := tc.tr(n)
				switch x := r.IntN(10); {
				case x < 4 || len(mine) == 0:
					pid := spawnIdle(t, rt)
					mine = append(mine, pid)
					tr.Track(pid, "room", fmt.Sprintf("%s-%d", n, k), k)
				case x < 6:
					tr.Apply(updatesOf(tr, mine[r.IntN(len(mine))], k)...)
				case x < 8:
					j := r.IntN(len(mine))
					tr.UntrackAll(mine[j])
				default:
					j := r.IntN(len(mine))
					rt.Exit(mine[j], proc.ErrKill)
					mine = slices.Delete(mine, j, j+1)
				}
			}
		})
	}
	victim := names[2]
	wg.Go(func() {
		r := rand.New(rand.NewPCG(seed, 99))
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(200+r.IntN(400)) * time.Millisecond):
			}
			tc.stop(victim)
			if err := tc.c.Restart(context.Background(), victim); err != nil {
				t.Error(err)
				return
			}
			tr := tc.start(victim, Config{HeartbeatInterval: 100 * time.Millisecond})
			tr.Track(spawnIdle(t, tc.c.Runtime(victim)), "room", fmt.Sprintf("victim-%d", r.IntN(1000)), "v")
		}
	})
	<-nem.Done()
	close(stop)
	wg.Wait()
	if err := nem.Close(); err != nil {
		t.Fatal(err)
	}
	tc.waitMesh()
	delete(ms, victim) // its subscriber went with its first incarnation
	check.EventuallyConverges(t, wait, names, func(n string) (any, error) {
		return canon(tc.tr(n).List("room")), nil
	})
	eventually(t, func() error { return tc.converged("room") })
	eventually(t, func() error { return tc.mirrorsMatch("room", ms) })
	var resyncs, drops uint64
	for _, n := range names {
		resyncs += tc.tr(n).Stats().Resyncs.Load()
		drops += tc.tr(n).Stats().ReplicasDropped.Load()
	}
	t.Logf("seed %d: %d presences after the heal, %d replicas dropped, %d resyncs", seed, tc.tr(names[0]).Count("room"), drops, resyncs)
}

// updatesOf returns an update of every presence of pid.
func updatesOf(tr *Tracker, pid proc.PID, v int) []Change {
	var out []Change
	tr.mu.Lock()
	for k := range tr.mu.byPID[pid] {
		out = append(out, Change{Op: Update, PID: pid, Topic: k.Topic, Key: k.Key, Meta: v})
	}
	tr.mu.Unlock()
	return out
}

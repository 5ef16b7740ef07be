package pubsub

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/faultkit/check"
)

// note is the payload of the cluster tests: who sent it and its number in
// the sender's order.
type note struct {
	Sender string
	N      uint64
}

func registerNote(r *codec.Registry) error {
	if err := codec.Register[note](r, "pubsub.test.note"); err != nil {
		return err
	}
	return codec.Register[counted](r, "pubsub.test.counted")
}

// testCluster is a faultkit cluster with a PubSub on every node.
type testCluster struct {
	t   *testing.T
	c   *faultkit.Cluster
	cfg Config
	mu  sync.Mutex
	ps  map[string]*PubSub
}

func newTestCluster(t *testing.T, size int, seed uint64, cfg Config) *testCluster {
	t.Helper()
	c, err := faultkit.NewCluster(context.Background(), faultkit.ClusterConfig{Size: size, Seed: seed, Register: registerNote})
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCluster{t: t, c: c, cfg: cfg, ps: map[string]*PubSub{}}
	t.Cleanup(func() {
		tc.mu.Lock()
		for _, ps := range tc.ps {
			ps.Close()
		}
		tc.mu.Unlock()
		c.Close()
	})
	for _, name := range c.Names() {
		tc.start(name)
	}
	tc.waitMesh()
	return tc
}

func (tc *testCluster) start(name string) *PubSub {
	tc.t.Helper()
	ps, err := Start(tc.c.Node(name), tc.cfg)
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.mu.Lock()
	tc.ps[name] = ps
	tc.mu.Unlock()
	return ps
}

func (tc *testCluster) get(name string) *PubSub {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.ps[name]
}

// waitMesh waits until every PubSub knows every other.
func (tc *testCluster) waitMesh() {
	tc.t.Helper()
	names := tc.c.Names()
	eventually(tc.t, func() error {
		for _, n := range names {
			ps := tc.get(n)
			if ps == nil {
				return errorf("%s not started", n)
			}
			want := slices.DeleteFunc(slices.Clone(names), func(s string) bool { return s == n })
			if got := ps.Nodes(); !slices.Equal(got, want) {
				return errorf("%s knows %v, want %v", n, got, want)
			}
		}
		return nil
	})
}

// recorder collects the notes a subscriber receives, per origin node, with
// the gaps and drops reported.
type recorder struct {
	mu      sync.Mutex
	got     []check.Msg
	seqs    map[string][]uint64
	missed  map[string]uint64
	dropped uint64
}

func (r *recorder) add(m *Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := m.Payload.(note)
	r.got = append(r.got, check.Msg{Sender: n.Sender, N: n.N})
	if r.seqs == nil {
		r.seqs, r.missed = map[string][]uint64{}, map[string]uint64{}
	}
	if m.Seq != 0 {
		r.seqs[m.Origin] = append(r.seqs[m.Origin], m.Seq)
	}
	r.missed[m.Origin] += m.Missed
	r.dropped += m.Dropped
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *recorder) msgs() []check.Msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func subscribeRecorder(t *testing.T, ps *PubSub, topic string) *recorder {
	t.Helper()
	r := &recorder{}
	if _, err := ps.SubscribeFunc(topic, r.add, WithBuffer(1<<20, DropNewest)); err != nil {
		t.Fatal(err)
	}
	return r
}

// Broadcasts from every node reach every subscriber on every node, each
// broadcast travelling as one frame per other node.
func TestClusterBroadcast(t *testing.T) {
	tc := newTestCluster(t, 3, 1, Config{})
	names := tc.c.Names()
	recs := map[string]*recorder{}
	for _, n := range names {
		recs[n] = subscribeRecorder(t, tc.get(n), "room")
	}
	// A process subscriber too, on the first node.
	b := &inbox{}
	pid := spawnInbox(t, tc.c.Runtime(names[0]), b)
	if _, err := tc.get(names[0]).Subscribe(pid, "room"); err != nil {
		t.Fatal(err)
	}
	const per = 50
	sent := map[string]uint64{}
	for _, n := range names {
		for i := uint64(1); i <= per; i++ {
			if err := tc.get(n).Broadcast(context.Background(), "room", note{n, i}); err != nil {
				t.Fatal(err)
			}
		}
		sent[n] = per
	}
	eventually(t, func() error {
		for n, r := range recs {
			if r.len() != per*len(names) {
				return errorf("%s got %d", n, r.len())
			}
		}
		if len(b.messages()) != per*len(names) {
			return errorf("process got %d", len(b.messages()))
		}
		return nil
	})
	got := map[string][]check.Msg{}
	for n, r := range recs {
		got[n] = r.msgs()
	}
	check.RequireBroadcast(t, sent, got, check.BroadcastOptions{Lossless: true})
	for _, n := range names {
		st := tc.get(n).Stats()
		if st.FramesSent.Load() != per*uint64(len(names)-1) || st.FramesReceived.Load() != per*uint64(len(names)-1) {
			t.Fatalf("%s sent %d frames and received %d, want %d each", n, st.FramesSent.Load(), st.FramesReceived.Load(), per*(len(names)-1))
		}
	}
}

func TestDirectAndLocalBroadcast(t *testing.T) {
	tc := newTestCluster(t, 3, 2, Config{})
	names := tc.c.Names()
	recs := map[string]*recorder{}
	for _, n := range names {
		recs[n] = subscribeRecorder(t, tc.get(n), "t")
	}
	a := tc.get(names[0])
	if err := a.DirectBroadcast(context.Background(), names[1], "t", note{"a", 1}); err != nil {
		t.Fatal(err)
	}
	if err := a.LocalBroadcast("t", note{"a", 2}); err != nil {
		t.Fatal(err)
	}
	if err := a.DirectBroadcast(context.Background(), names[0], "t", note{"a", 3}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if recs[names[0]].len() != 2 || recs[names[1]].len() != 1 {
			return errorf("got %d and %d", recs[names[0]].len(), recs[names[1]].len())
		}
		return nil
	})
	if m := recs[names[1]].msgs(); m[0].N != 1 {
		t.Fatalf("direct broadcast delivered %v", m)
	}
	if recs[names[2]].len() != 0 {
		t.Fatal("a node outside the broadcast got it")
	}
	if err := a.Broadcast(context.Background(), "t", struct{ unregistered int }{}); err == nil || recs[names[0]].len() != 2 {
		t.Fatal("an unencodable payload was broadcast")
	}
}

// Many senders on every node, with a sequenced topic: no loss, no
// duplicates, each sender's order kept, and every node's broadcasts in one
// order at every subscriber (the origin numbers them under one lock).
func TestClusterOrderNoLoss(t *testing.T) {
	tc := newTestCluster(t, 3, 3, Config{Sequenced: func(string) bool { return true }})
	names := tc.c.Names()
	recs := map[string]*recorder{}
	for _, n := range names {
		for k := range 2 {
			recs[fmt.Sprintf("%s/%d", n, k)] = subscribeRecorder(t, tc.get(n), "t")
		}
	}
	const senders, per = 4, 300
	sent := map[string]uint64{}
	var wg sync.WaitGroup
	for _, n := range names {
		for s := range senders {
			sender := fmt.Sprintf("%s/s%d", n, s)
			sent[sender] = per
			wg.Go(func() {
				for i := uint64(1); i <= per; i++ {
					if err := tc.get(n).Broadcast(context.Background(), "t", note{sender, i}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	total := len(names) * senders * per
	eventually(t, func() error {
		for n, r := range recs {
			if r.len() != total {
				return errorf("%s got %d of %d", n, r.len(), total)
			}
		}
		return nil
	})
	got := map[string][]check.Msg{}
	perOrigin := map[string]map[string][]check.Msg{}
	for rn, r := range recs {
		got[rn] = r.msgs()
		for _, m := range got[rn] {
			origin := m.Sender[:strings.IndexByte(m.Sender, '/')]
			if perOrigin[origin] == nil {
				perOrigin[origin] = map[string][]check.Msg{}
			}
			perOrigin[origin][rn] = append(perOrigin[origin][rn], m)
		}
		for origin, seqs := range r.seqs {
			for i, s := range seqs {
				if s != uint64(i+1) {
					t.Fatalf("%s saw %s's number %d at %d", rn, origin, s, i)
				}
			}
		}
		if r.dropped != 0 || len(r.missed) != len(names) {
			t.Fatalf("%s: dropped %d, missed %v", rn, r.dropped, r.missed)
		}
		for _, m := range r.missed {
			if m != 0 {
				t.Fatalf("%s missed %v without faults", rn, r.missed)
			}
		}
	}
	check.RequireBroadcast(t, sent, got, check.BroadcastOptions{Lossless: true})
	for origin, g := range perOrigin {
		s := map[string]uint64{}
		for k, v := range sent {
			if strings.HasPrefix(k, origin+"/") {
				s[k] = v
			}
		}
		check.RequireBroadcast(t, s, g, check.BroadcastOptions{Lossless: true, TotalOrder: true})
	}
}

// A link that breaks with frames in flight loses them (at most once), and
// the subscriber learns how many it missed from the next message.
func TestGapAfterBrokenLink(t *testing.T) {
	tc := newTestCluster(t, 2, 4, Config{Sequenced: func(t string) bool { return t == "seq" }})
	names := tc.c.Names()
	a, bName := tc.get(names[0]), names[1]
	rec := subscribeRecorder(t, tc.get(bName), "seq")
	var n uint64
	send := func(k int) {
		for range k {
			n++
			if err := a.Broadcast(context.Background(), "seq", note{"a", n}); err != nil {
				var be *BroadcastError
				if !errors.As(err, &be) {
					t.Fatal(err)
				}
			}
		}
	}
	send(10)
	eventually(t, func() error {
		if rec.len() != 10 {
			return errorf("got %d", rec.len())
		}
		return nil
	})
	// Cut the link: frames sent now stay stuck in the connection until the
	// heartbeat timeout closes it, and are lost with it.
	tc.c.Network().Partition(faultkit.Isolate(names, bName))
	send(5)
	eventually(t, func() error {
		if len(a.Nodes()) != 0 {
			return errorf("the broken link is not noticed yet")
		}
		return nil
	})
	tc.c.Network().Heal()
	tc.waitMesh()
	send(3)
	eventually(t, func() error {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		seqs := rec.seqs[names[0]]
		if len(seqs) == 0 || seqs[len(seqs)-1] != n {
			return errorf("last number seen %v, want %d", seqs, n)
		}
		return nil
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	seqs, missed := rec.seqs[names[0]], rec.missed[names[0]]
	if uint64(len(seqs))+missed != n {
		t.Fatalf("received %d and told of %d missed, of %d sent (%v)", len(seqs), missed, n, seqs)
	}
	if missed == 0 {
		t.Logf("no frame was in flight when the link broke (received %v)", seqs)
	}
	check.RequireBroadcast(t, map[string]uint64{"a": n}, map[string][]check.Msg{"b": rec.got}, check.BroadcastOptions{})
}

// Under a seeded schedule of network faults (partitions, pauses, slow and
// lossy links, resets), broadcasts from every node are never duplicated or
// reordered, every loss is reported as a gap to the subscriber, and after the
// heal nothing is lost.
// nemesisSeeds are the fixed schedules run by default; GROVE_SEED replays
// one, and GROVE_PUBSUB_SOAK=N runs N more random ones.
var nemesisSeeds = []uint64{3, 5003}

func TestNemesis(t *testing.T) {
	seeds := nemesisSeeds
	if os.Getenv(faultkit.SeedEnv) != "" {
		seeds = []uint64{faultkit.Seed(t)}
	}
	if n, _ := strconv.Atoi(os.Getenv("GROVE_PUBSUB_SOAK")); n > 0 {
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
	tc := newTestCluster(t, 3, seed, Config{Sequenced: func(string) bool { return true }})
	names := tc.c.Names()
	recs := map[string]*recorder{}
	for _, n := range names {
		recs[n] = subscribeRecorder(t, tc.get(n), "t")
	}
	nem := faultkit.StartNemesis(faultkit.NemesisConfig{Seed: seed, Nodes: names, Duration: 3 * time.Second, Logf: t.Logf}, nil, tc.c)
	sent := map[string]uint64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, n := range names {
		wg.Go(func() {
			var i uint64
			for {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
				i++
				tc.get(n).Broadcast(context.Background(), "t", note{n, i})
				mu.Lock()
				sent[n] = i
				mu.Unlock()
			}
		})
	}
	<-nem.Done()
	close(stop)
	wg.Wait()
	if err := nem.Close(); err != nil {
		t.Fatal(err)
	}
	tc.waitMesh()
	// After the heal, broadcast until every subscriber has each node's
	// latest: a frame queued on a link that was just being replaced may
	// still be lost, and the next one tells of it.
	caughtUp := func() error {
		for rn, r := range recs {
			r.mu.Lock()
			for _, o := range names {
				seqs := r.seqs[o]
				if len(seqs) == 0 || seqs[len(seqs)-1] != sent[o] {
					r.mu.Unlock()
					return errorf("%s has not seen %s's last broadcast", rn, o)
				}
			}
			r.mu.Unlock()
		}
		return nil
	}
	eventually(t, func() error {
		for _, n := range names {
			sent[n]++
			tc.get(n).Broadcast(context.Background(), "t", note{n, sent[n]})
		}
		deadline := time.Now().Add(200 * time.Millisecond)
		for {
			err := caughtUp()
			if err == nil || time.Now().After(deadline) {
				return err
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	got := map[string][]check.Msg{}
	for rn, r := range recs {
		got[rn] = r.msgs()
		r.mu.Lock()
		for _, o := range names {
			seqs := r.seqs[o]
			// Numbers start at 1 for each origin; the first one seen sets no gap.
			if seqs[0] != 1 && o != rn {
				t.Logf("%s's first from %s was #%d", rn, o, seqs[0])
			}
			if uint64(len(seqs))+r.missed[o] != sent[o]-seqs[0]+1 {
				t.Errorf("%s from %s: received %d, missed %d, of %d sent", rn, o, len(seqs), r.missed[o], sent[o])
			}
		}
		r.mu.Unlock()
	}
	res := check.RequireBroadcast(t, sent, got, check.BroadcastOptions{})
	t.Logf("seed %d: %d delivered, %d lost to faults", seed, res.Delivered, res.Lost)
}

// A node killed and restarted under the same name gets broadcasts again,
// and its new numbers start afresh without being taken for old ones.
func TestRestartedNode(t *testing.T) {
	tc := newTestCluster(t, 3, 5, Config{Sequenced: func(string) bool { return true }})
	names := tc.c.Names()
	victim := names[2]
	rec := subscribeRecorder(t, tc.get(names[0]), "t")
	tc.get(victim).Broadcast(context.Background(), "t", note{"v1", 1})
	eventually(t, func() error {
		if rec.len() != 1 {
			return errorf("got %d", rec.len())
		}
		return nil
	})
	tc.get(victim).Close()
	if err := tc.c.Restart(context.Background(), victim); err != nil {
		t.Fatal(err)
	}
	ps := tc.start(victim)
	tc.waitMesh()
	vrec := subscribeRecorder(t, ps, "t")
	ps.Broadcast(context.Background(), "t", note{"v2", 1})
	tc.get(names[0]).Broadcast(context.Background(), "t", note{"a", 1})
	eventually(t, func() error {
		if rec.len() != 3 || vrec.len() != 2 {
			return errorf("got %d and %d", rec.len(), vrec.len())
		}
		return nil
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.missed[victim] != 0 || !slices.Equal(rec.seqs[victim], []uint64{1, 1}) {
		t.Fatalf("numbers of the restarted node: %v, missed %d", rec.seqs[victim], rec.missed[victim])
	}
}

// A broadcast via a named dispatcher is dispatched by the dispatcher of that
// name on every node; a node without it counts the frame and delivers with
// the default dispatcher.
func TestDispatcherAcrossNodes(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	vipOnly := func(node string) DispatcherFunc {
		return func(m *Message, subs []*Subscription) {
			mu.Lock()
			seen[node]++
			mu.Unlock()
			for _, s := range subs {
				if s.Meta() == "vip" {
					s.Deliver(m)
				}
			}
		}
	}
	c, err := faultkit.NewCluster(context.Background(), faultkit.ClusterConfig{Size: 3, Seed: 6, Register: registerNote})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	names := c.Names()
	var pss []*PubSub
	for i, n := range names {
		cfg := Config{}
		if i < 2 { // the third node lacks the dispatcher
			cfg.Dispatchers = map[string]Dispatcher{"vip": vipOnly(n)}
		}
		ps, err := Start(c.Node(n), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer ps.Close()
		pss = append(pss, ps)
	}
	eventually(t, func() error {
		for _, ps := range pss {
			if len(ps.Nodes()) != 2 {
				return errorf("not meshed yet")
			}
		}
		return nil
	})
	vips, plains := make([]*recorder, 3), make([]*recorder, 3)
	for i, ps := range pss {
		vips[i], plains[i] = &recorder{}, &recorder{}
		ps.SubscribeFunc("t", vips[i].add, WithMeta("vip"))
		ps.SubscribeFunc("t", plains[i].add)
	}
	if err := pss[0].Broadcast(context.Background(), "t", note{"a", 1}, Via("vip")); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		for i := range pss {
			if vips[i].len() != 1 {
				return errorf("vip subscriber of node %d got %d", i, vips[i].len())
			}
		}
		if plains[2].len() != 1 {
			return errorf("the node without the dispatcher did not deliver with the default one")
		}
		return nil
	})
	if plains[0].len() != 0 || plains[1].len() != 0 {
		t.Fatal("the dispatcher's choice was not kept")
	}
	mu.Lock()
	defer mu.Unlock()
	if seen[names[0]] != 1 || seen[names[1]] != 1 || pss[2].Stats().UnknownDispatcher.Load() != 1 {
		t.Fatalf("dispatched %v, unknown %d", seen, pss[2].Stats().UnknownDispatcher.Load())
	}
}

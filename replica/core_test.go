package replica

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/grovedev/grove/crdt"
)

func testCoreConfig() coreConfig {
	return coreConfig{retransmitTicks: 3, relayTicks: 2, digestTicks: 5, forgetTicks: 1000, maxMessageBytes: 1 << 20, maxLogBytes: 1 << 20}
}

func newTestCore(name string, cfg coreConfig) *core {
	return newCore(name, name+"#1", crdt.NewGCounter(), func() crdt.State { return crdt.NewGCounter() }, cfg)
}

func incr(t *testing.T, c *core, n uint64) {
	t.Helper()
	d := c.state.(*crdt.GCounter).Increment(c.origin, n)
	if err := c.local(d); err != nil {
		t.Fatal(err)
	}
}

func stepTo(t *testing.T, c *core, members []string, to string) *syncMsg {
	t.Helper()
	out, err := c.step(members)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		if o.to == to {
			return o.msg
		}
	}
	return nil
}

func deliver(t *testing.T, c *core, m *syncMsg) {
	t.Helper()
	if m == nil {
		return
	}
	if _, err := c.receive(m); err != nil {
		t.Fatal(err)
	}
}

func value(c *core) uint64 { return c.state.(*crdt.GCounter).Value() }

// Reference: Almeida et al. 2018, algorithm 2: a replica sends a peer the
// join of the deltas since that peer's last acknowledgement.
func TestCoreShipsOnlyWhatThePeerMisses(t *testing.T) {
	a, b := newTestCore("a", testCoreConfig()), newTestCore("b", testCoreConfig())
	ab, ba := []string{"b"}, []string{"a"}
	incr(t, a, 1)
	// First contact: a hello with the digest, no deltas before b's digest.
	m := stepTo(t, a, ab, "b")
	if m == nil || len(m.Groups) != 0 || m.Full != nil || m.Digest["a#1"] != 1 {
		t.Fatalf("hello = %+v", m)
	}
	deliver(t, b, m)
	// b heard a's digest: it has nothing to ship, and acknowledges nothing
	// new, but still introduces itself.
	m = stepTo(t, b, ba, "a")
	if m == nil || len(m.Groups) != 0 {
		t.Fatalf("b's first message = %+v", m)
	}
	deliver(t, a, m)
	incr(t, a, 2)
	incr(t, a, 3)
	m = stepTo(t, a, ab, "b")
	if m == nil || len(m.Groups) != 1 || m.Full != nil {
		t.Fatalf("a ships %+v, want one group", m)
	}
	if g := m.Groups[0]; g.Origin != "a#1" || g.From != 0 || g.To != 3 {
		t.Fatalf("group %s (%d,%d], want a#1 (0,3]", g.Origin, g.From, g.To)
	}
	deliver(t, b, m)
	if value(b) != 6 {
		t.Fatalf("b = %d, want 6", value(b))
	}
	// b acknowledges; a then ships nothing more.
	deliver(t, a, stepTo(t, b, ba, "a"))
	incr(t, a, 4)
	m = stepTo(t, a, ab, "b")
	if g := m.Groups[0]; len(m.Groups) != 1 || g.From != 3 || g.To != 4 {
		t.Fatalf("after ack a ships %+v, want (3,4]", m.Groups)
	}
	if len(a.logs["a#1"].entries) != 1 {
		t.Fatalf("a's log keeps %d entries after b acknowledged 3, want 1", len(a.logs["a#1"].entries))
	}
}

func TestCoreQuietWhenNothingChanges(t *testing.T) {
	cfg := testCoreConfig()
	a, b := newTestCore("a", cfg), newTestCore("b", cfg)
	for range 3 {
		deliver(t, b, stepTo(t, a, []string{"b"}, "b"))
		deliver(t, a, stepTo(t, b, []string{"a"}, "a"))
	}
	sent := 0
	for range 20 {
		if m := stepTo(t, a, []string{"b"}, "b"); m != nil {
			sent++
			deliver(t, b, m)
		}
	}
	if want := 20 / int(cfg.digestTicks); sent != want {
		t.Fatalf("idle replica sent %d messages in 20 rounds, want %d (one digest every %d)", sent, want, cfg.digestTicks)
	}
}

func TestCoreRetransmitsUnacknowledged(t *testing.T) {
	cfg := testCoreConfig()
	a, b := newTestCore("a", cfg), newTestCore("b", cfg)
	deliver(t, a, stepTo(t, b, []string{"a"}, "a")) // a knows b's digest
	incr(t, a, 5)
	if m := stepTo(t, a, []string{"b"}, "b"); m == nil || len(m.Groups) != 1 {
		t.Fatalf("first ship %+v", m)
	} // lost
	for i := uint64(1); i < cfg.retransmitTicks; i++ {
		if m := stepTo(t, a, []string{"b"}, "b"); m != nil && len(m.Groups) != 0 {
			t.Fatalf("round %d: resent before the retransmit timeout: %+v", i, m)
		}
	}
	m := stepTo(t, a, []string{"b"}, "b")
	if m == nil || len(m.Groups) != 1 || m.Groups[0].From != 0 {
		t.Fatalf("after %d rounds: %+v, want the lost group again", cfg.retransmitTicks, m)
	}
	deliver(t, b, m)
	if value(b) != 5 {
		t.Fatalf("b = %d", value(b))
	}
}

func TestCoreFullStateWhenLogNoLongerReaches(t *testing.T) {
	cfg := testCoreConfig()
	cfg.maxLogBytes = 1 // keep almost nothing
	a, b := newTestCore("a", cfg), newTestCore("b", cfg)
	deliver(t, a, stepTo(t, b, []string{"a"}, "a"))
	for i := range 10 {
		incr(t, a, uint64(i+1))
	}
	a.collect()
	m := stepTo(t, a, []string{"b"}, "b")
	if m == nil || m.Full == nil || len(m.Groups) != 0 {
		t.Fatalf("a sent %+v, want a full state", m)
	}
	deliver(t, b, m)
	if value(b) != 55 || b.seen["a#1"] != 10 {
		t.Fatalf("b = %d, digest %v", value(b), b.seen)
	}
}

func TestCoreMessageBound(t *testing.T) {
	cfg := testCoreConfig()
	a := newCore("a", "a#1", crdt.NewGSet[int](), func() crdt.State { return crdt.NewGSet[int]() }, cfg)
	b := newCore("b", "b#1", crdt.NewGSet[int](), func() crdt.State { return crdt.NewGSet[int]() }, cfg)
	deliver(t, a, stepTo(t, b, []string{"a"}, "a"))
	for i := range 100 {
		if err := a.local(a.state.(*crdt.GSet[int]).Add(i)); err != nil {
			t.Fatal(err)
		}
	}
	per := len(a.logs["a#1"].entries[0].data)
	a.cfg.maxMessageBytes = 10 * per
	msgs := 0
	for b.state.(*crdt.GSet[int]).Len() < 100 {
		m := stepTo(t, a, []string{"b"}, "b")
		if m == nil {
			t.Fatal("a stopped shipping")
		}
		if len(m.Groups) != 1 || m.Groups[0].To-m.Groups[0].From > 10 {
			t.Fatalf("message of %+v exceeds the bound of 10 deltas", m.Groups)
		}
		deliver(t, b, m)
		deliver(t, a, stepTo(t, b, []string{"a"}, "a"))
		msgs++
	}
	if msgs < 10 || msgs > 15 {
		t.Fatalf("took %d messages, want 10 to 15", msgs)
	}
}

func TestCoreIgnoresGapsAndDuplicates(t *testing.T) {
	a, b := newTestCore("a", testCoreConfig()), newTestCore("b", testCoreConfig())
	g1 := incrGroup(t, a, 1)
	g2 := incrGroup(t, a, 2)
	m := &syncMsg{From: "a", Origin: "a#1", Digest: a.digest(), Groups: []group{g2}}
	if ch, _ := b.receive(m); ch || b.seen["a#1"] != 0 {
		t.Fatal("a group past a gap was applied")
	}
	m.Groups = []group{g1, g1, g2, g1}
	if ch, _ := b.receive(m); !ch || b.seen["a#1"] != 2 || value(b) != 3 {
		t.Fatalf("b = %d seen %v", value(b), b.seen)
	}
	if ch, _ := b.receive(m); ch {
		t.Fatal("a duplicate changed the state")
	}
	bad := &syncMsg{From: "a", Origin: "a#1", Groups: []group{{Origin: "x", From: 0, To: 1, Data: []byte{0xff}}}}
	if _, err := b.receive(bad); err == nil {
		t.Fatal("a malformed delta gave no error")
	}
}

func incrGroup(t *testing.T, c *core, n uint64) group {
	t.Helper()
	incr(t, c, n)
	l := c.logs[c.origin].entries
	e := l[len(l)-1]
	return group{Origin: c.origin, From: e.from, To: e.to, Data: e.data}
}

// A node that hears the writer only through a third node still converges:
// received deltas are relayed.
func TestCoreRelaysThroughAThirdNode(t *testing.T) {
	cfg := testCoreConfig()
	cs := map[string]*core{"a": newTestCore("a", cfg), "b": newTestCore("b", cfg), "c": newTestCore("c", cfg)}
	cut := func(from, to string) bool { return (from == "a" && to == "c") || (from == "c" && to == "a") }
	incr(t, cs["a"], 7)
	for round := 0; round < 10; round++ {
		for _, name := range []string{"a", "b", "c"} {
			out, err := cs[name].step([]string{"a", "b", "c"})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out {
				if !cut(name, o.to) {
					deliver(t, cs[o.to], o.msg)
				}
			}
		}
	}
	if v := value(cs["c"]); v != 7 {
		t.Fatalf("c = %d, want 7", v)
	}
}

// TestCoreRandomNetwork runs replicas of an OR-Set over a simulated network
// that loses, duplicates, reorders and partitions messages, driven by a
// seed, then heals and checks convergence and that removed elements stay
// removed.
func TestCoreRandomNetwork(t *testing.T) {
	for i := range 20 {
		seed := uint64(i)*7919 + 1
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runRandomNetwork(t, seed) })
	}
}

func runRandomNetwork(t *testing.T, seed uint64) {
	defer func() {
		if t.Failed() {
			t.Logf("seed %d", seed)
		}
	}()
	rng := rand.New(rand.NewPCG(seed, seed))
	cfg := testCoreConfig()
	cfg.maxLogBytes = 1 << 10 // small enough that full states happen too
	names := []string{"a", "b", "c", "d", "e"}
	cs := map[string]*core{}
	for _, n := range names {
		cs[n] = newCore(n, n+"#1", crdt.NewORSet[int](), func() crdt.State { return crdt.NewORSet[int]() }, cfg)
	}
	type inflight struct {
		to string
		m  *syncMsg
	}
	var net []inflight
	cut := map[[2]string]bool{}
	removedForGood := map[int]bool{} // removed and never added again
	for round := 0; round < 200; round++ {
		if round%25 == 0 {
			clear(cut)
			if round < 150 {
				for _, x := range names {
					for _, y := range names {
						if x != y && rng.IntN(4) == 0 {
							cut[[2]string{x, y}] = true
						}
					}
				}
			}
		}
		if round < 150 {
			n := names[rng.IntN(len(names))]
			s := cs[n].state.(*crdt.ORSet[int])
			e := rng.IntN(30)
			var d crdt.State
			if rng.IntN(3) == 0 {
				d = s.Remove(e)
			} else if !removedForGood[e] || e >= 20 {
				d = s.Add(cs[n].origin, e)
				if e < 20 {
					delete(removedForGood, e)
				}
			}
			if d != nil {
				if err := cs[n].local(d); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, n := range names {
			out, err := cs[n].step(names)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out {
				if round < 150 && (cut[[2]string{n, o.to}] || rng.IntN(5) == 0) {
					continue // lost
				}
				net = append(net, inflight{o.to, o.msg})
				if round < 150 && rng.IntN(5) == 0 {
					net = append(net, inflight{o.to, o.msg}) // duplicated
				}
			}
		}
		rng.Shuffle(len(net), func(i, j int) { net[i], net[j] = net[j], net[i] }) // reordered
		keep := net[:0]
		for _, f := range net {
			if round < 150 && rng.IntN(3) == 0 {
				keep = append(keep, f) // delayed a round
				continue
			}
			deliver(t, cs[f.to], f.m)
		}
		net = keep
	}
	want := sortedElems(cs["a"])
	for _, n := range names[1:] {
		if got := sortedElems(cs[n]); !slices.Equal(got, want) {
			t.Fatalf("%s = %v, a = %v (digests %v vs %v)", n, got, want, cs[n].seen, cs["a"].seen)
		}
		if !maps.Equal(cs[n].seen, cs["a"].seen) {
			t.Fatalf("digests differ: %s %v, a %v", n, cs[n].seen, cs["a"].seen)
		}
	}
}

func sortedElems(c *core) []int {
	es := c.state.(*crdt.ORSet[int]).Elements()
	slices.Sort(es)
	return es
}

// A replica does not relay another origin's deltas to a peer that is
// getting them from the origin; it does once the peer stays behind.
func TestCoreRelayWaitsForTheOrigin(t *testing.T) {
	cfg := testCoreConfig()
	a, b, c := newTestCore("a", cfg), newTestCore("b", cfg), newTestCore("c", cfg)
	all := []string{"a", "b", "c"}
	// Introduce everyone.
	for range 2 {
		for _, x := range []*core{a, b, c} {
			out, err := x.step(all)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out {
				deliver(t, map[string]*core{"a": a, "b": b, "c": c}[o.to], o.msg)
			}
		}
	}
	incr(t, a, 1)
	deliver(t, b, stepTo(t, a, all, "b")) // a's message to c is lost
	for i := uint64(1); i < cfg.relayTicks; i++ {
		if m := stepTo(t, b, all, "c"); m != nil && len(m.Groups) != 0 {
			t.Fatalf("round %d: b relayed at once: %+v", i, m.Groups)
		}
	}
	relayed := false
	for range 2 * cfg.relayTicks {
		if m := stepTo(t, b, all, "c"); m != nil && len(m.Groups) != 0 {
			deliver(t, c, m)
			relayed = true
			break
		}
	}
	if !relayed || value(c) != 1 {
		t.Fatalf("b never relayed a's delta to c, which stayed behind (c = %d)", value(c))
	}
}

// A peer that leaves the member set and comes back within forgetTicks is
// repaired from the log; one that stays away longer gets the full state.
func TestCoreReturningPeer(t *testing.T) {
	for _, away := range []int{5, 50} {
		t.Run(fmt.Sprint(away), func(t *testing.T) {
			cfg := testCoreConfig()
			cfg.forgetTicks = 20
			a, b := newTestCore("a", cfg), newTestCore("b", cfg)
			deliver(t, b, stepTo(t, a, []string{"b"}, "b"))
			deliver(t, a, stepTo(t, b, []string{"a"}, "a"))
			for range away {
				incr(t, a, 1)
				if _, err := a.step(nil); err != nil { // b is gone
					t.Fatal(err)
				}
			}
			// A forgotten peer is greeted first, like a new one.
			gotFull := false
			for range 3 {
				m := stepTo(t, a, []string{"b"}, "b")
				gotFull = gotFull || m != nil && m.Full != nil
				deliver(t, b, m)
				deliver(t, a, stepTo(t, b, []string{"a"}, "a"))
			}
			if wantFull := away > int(cfg.forgetTicks); gotFull != wantFull {
				t.Fatalf("away %d rounds: full state %v, want %v", away, gotFull, wantFull)
			}
			if value(b) != uint64(away) {
				t.Fatalf("b = %d, want %d", value(b), away)
			}
		})
	}
}

// A node that talks to a replica without being one of its members does
// not hold back the truncation of its log.
func TestCoreNonMemberDoesNotPinTheLog(t *testing.T) {
	cfg := testCoreConfig()
	a, b, x := newTestCore("a", cfg), newTestCore("b", cfg), newTestCore("x", cfg)
	deliver(t, a, stepTo(t, x, []string{"a"}, "a")) // x says hello, a does not list it
	deliver(t, b, stepTo(t, a, []string{"b"}, "b"))
	deliver(t, a, stepTo(t, b, []string{"a"}, "a"))
	incr(t, a, 1)
	deliver(t, b, stepTo(t, a, []string{"b"}, "b"))
	deliver(t, a, stepTo(t, b, []string{"a"}, "a"))
	a.collect()
	if l := a.logs[a.origin]; l != nil {
		t.Fatalf("a keeps %d log entries that its only member acknowledged", len(l.entries))
	}
}

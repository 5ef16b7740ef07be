package ownermap

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func TestRegistrationSpreadsAndCompletes(t *testing.T) {
	s := newSim(t, true, "a", "b", "c")
	for _, n := range s.order {
		if ok, _ := s.nodes[n].c.complete(); ok {
			t.Fatalf("%s complete before hearing from anyone", n)
		}
	}
	e := s.mustPut("a", "k")
	s.flush("a")
	s.deliver()
	for _, n := range []string{"b", "c"} {
		got := s.nodes[n].view["k"]
		if len(got) != 1 || got[0].Ref != e.Ref || got[0].Value != e.Value {
			t.Fatalf("%s sees %v after one flush, want %v", n, got, e)
		}
	}
	s.settle(3)
	for _, n := range s.order {
		if ok, who := s.nodes[n].c.complete(); !ok {
			t.Fatalf("%s not complete: waiting for %s", n, who)
		}
		if ok, who := s.nodes["a"].c.acked(s.nodes["a"].c.own.seq, nil); !ok {
			t.Fatalf("a not acknowledged by %s", who)
		}
	}
	if _, err := s.put("b", "k"); !errors.Is(err, ErrTaken) {
		t.Fatalf("second put of a taken key: %v", err)
	}
	s.remove("a", e.Ref)
	s.settle(3)
	s.requireSameViews()
	if len(s.nodes["c"].view) != 0 {
		t.Fatalf("c still sees %v", s.nodes["c"].view)
	}
	if n := len(s.nodes["a"].c.own.tombs); n != 0 {
		t.Fatalf("%d tombstones left after every peer acknowledged", n)
	}
}

func TestJoinerGetsEverythingBeforeComplete(t *testing.T) {
	s := newSim(t, false, "a", "b")
	for i := range 50 {
		s.mustPut("a", fmt.Sprint("a", i))
		s.mustPut("b", fmt.Sprint("b", i))
	}
	s.settle(3)
	j := s.start("j", 1)
	for _, n := range s.order {
		j.members[n] = true
		s.nodes[n].members["j"] = true
	}
	s.syncMembers()
	for range 10 {
		ok, _ := j.c.complete()
		if ok && len(j.view) != 100 {
			t.Fatalf("joiner complete with %d of 100 keys", len(j.view))
		}
		if ok {
			return
		}
		s.round()
		s.deliver()
	}
	t.Fatal("joiner never complete")
}

func TestNodeDownHidesAndKeepsOrphans(t *testing.T) {
	s := newSim(t, true, "a", "b", "c")
	e := s.mustPut("a", "k")
	s.settle(2)
	s.setUp("a", false, "b", "c")
	for _, n := range []string{"b", "c"} {
		if len(s.nodes[n].view) != 0 {
			t.Fatalf("%s still sees a's entry after a is down", n)
		}
		ev := s.nodes[n].events[len(s.nodes[n].events)-1]
		if ev.Kind != Removed || ev.Reason != ReasonNodeDown || ev.Entry.Ref != e.Ref {
			t.Fatalf("%s last event %+v", n, ev)
		}
		if o := s.nodes[n].c.orphans(); len(o) != 1 || o[0].Ref != e.Ref {
			t.Fatalf("%s orphans %v", n, o)
		}
	}
	// The name is free on the survivors' side.
	s.mustPut("b", "k")
	s.setUp("a", true, "b", "c")
	s.settle(30)
	s.requireSameViews()
	if w := s.nodes["c"].view["k"]; len(w) != 1 || w[0].Ref != e.Ref {
		t.Fatalf("after a came back, k is %v, want a's older claim %v", w, e.Ref)
	}
	if len(s.nodes["b"].lost) != 1 || len(s.nodes["a"].won) != 1 {
		t.Fatalf("conflict reports: b lost %v, a won %v", s.nodes["b"].lost, s.nodes["a"].won)
	}
}

func TestRestartDropsOldIncarnation(t *testing.T) {
	s := newSim(t, true, "a", "b")
	old := s.mustPut("a", "k")
	s.settle(2)
	s.restart("a")
	if len(s.nodes["b"].view) != 0 {
		t.Fatalf("b sees %v of a's old incarnation", s.nodes["b"].view)
	}
	fresh := s.mustPut("a", "k")
	s.settle(15)
	if w := s.nodes["b"].view["k"]; len(w) != 1 || w[0].Ref != fresh.Ref {
		t.Fatalf("b sees %v", w)
	}
	// The new incarnation learns of its predecessor's entries as orphans.
	if o := s.nodes["a"].c.orphans(); len(o) != 1 || o[0].Ref != old.Ref {
		t.Fatalf("restarted a has orphans %v, want %v", o, old.Ref)
	}
}

func TestRelayAcrossBridge(t *testing.T) {
	s := newSim(t, false, "a", "b", "c")
	s.cut[[2]string{"a", "c"}] = true
	s.cut[[2]string{"c", "a"}] = true
	e := s.mustPut("a", "k")
	for i := 0; i < 40 && len(s.nodes["c"].view) == 0; i++ {
		s.round()
		s.deliver()
	}
	if w := s.nodes["c"].view["k"]; len(w) != 1 || w[0].Ref != e.Ref {
		t.Fatalf("c never got a's entry through b: %v", w)
	}
}

func TestLostMessagesRetransmitted(t *testing.T) {
	s := newSim(t, false, "a", "b")
	drop := true
	s.drop = func(from, to string) bool { return drop }
	for i := range 10 {
		s.mustPut("a", fmt.Sprint(i))
	}
	s.flush("a")
	s.settle(3)
	drop = false
	s.settle(10)
	s.requireSameViews()
	if len(s.nodes["b"].view) != 10 {
		t.Fatalf("b has %d of 10 after retransmission", len(s.nodes["b"].view))
	}
}

func TestFullStateAfterTombstonesGone(t *testing.T) {
	s := newSim(t, false, "a", "b", "c")
	var refs []Ref
	for i := range 5 {
		refs = append(refs, s.mustPut("a", fmt.Sprint(i)).Ref)
	}
	s.settle(3)
	// c is cut off and declared down by a; a removes entries and drops the
	// tombstones once b has them.
	s.partition([]string{"a", "b"}, []string{"c"})
	s.setUp("c", false, "a", "b")
	for _, r := range refs[:3] {
		s.remove("a", r)
	}
	s.settle(3)
	if len(s.nodes["a"].c.own.tombs) != 0 {
		t.Fatal("tombstones kept for a down member")
	}
	s.heal()
	s.setUp("c", true, "a", "b")
	s.settle(10)
	s.requireSameViews()
	if len(s.nodes["c"].view) != 2 {
		t.Fatalf("c sees %d keys, want 2", len(s.nodes["c"].view))
	}
}

// TestConflictAfterHeal: both sides of a partition register one name; after
// the heal every node shows the same winner, the loser's node is told once,
// after the winner's node has seen the loser.
func TestConflictAfterHeal(t *testing.T) {
	s := newSim(t, true, "a", "b", "c", "d")
	s.partition([]string{"a", "b"}, []string{"c", "d"})
	s.setUp("c", false, "a", "b")
	s.setUp("d", false, "a", "b")
	s.setUp("a", false, "c", "d")
	s.setUp("b", false, "c", "d")
	first := s.mustPut("b", "k")
	second := s.mustPut("d", "k")
	s.settle(3)
	s.heal()
	for _, n := range s.order {
		for _, o := range s.order {
			s.nodes[n].members[o] = true
		}
	}
	s.syncMembers()
	s.settle(10)
	s.requireSameViews()
	if w := s.nodes["a"].view["k"]; len(w) != 1 || w[0].Ref != first.Ref {
		t.Fatalf("winner %v, want the older claim %v", w, first.Ref)
	}
	if l := s.nodes["d"].lost; len(l) != 1 || l[0].Loser.Ref != second.Ref || l[0].Winner.Ref != first.Ref {
		t.Fatalf("d lost %v", l)
	}
	if w := s.nodes["b"].won; len(w) != 1 || w[0].Loser.Ref != second.Ref {
		t.Fatalf("b won %v", w)
	}
	for _, n := range []string{"a", "c"} {
		if len(s.nodes[n].lost)+len(s.nodes[n].won) != 0 {
			t.Fatalf("%s, which hosts no contender, got conflicts", n)
		}
	}
}

func TestHandoffSuccessorWins(t *testing.T) {
	s := newSim(t, true, "a", "b")
	prev := s.mustPut("a", "k")
	s.settle(2)
	n := s.nodes["b"]
	r, err := n.c.put("k", prev.PID, "moved", []byte("moved"), s.stamp, putOptions{claim: &Claim{Stamp: prev.Claim.Stamp, First: prev.Claim.First, Gen: 1}, supersedes: prev.Ref, force: true})
	if err != nil {
		t.Fatal(err)
	}
	n.collect()
	s.settle(3)
	s.requireSameViews()
	if w := s.nodes["a"].view["k"]; len(w) != 1 || w[0].Ref != r.Ref {
		t.Fatalf("view %v, want the successor", w)
	}
	if l := s.nodes["a"].lost; len(l) != 1 || l[0].Winner.Supersedes != prev.Ref {
		t.Fatalf("a's report %v", l)
	}
}

// TestPropertyConvergence: any sequence of puts and removes on any nodes,
// under partitions, membership flaps, restarts and message loss, ends —
// once every node is up, connected and a few rounds ran — with the same
// view on every node, one winner per unique key, and that winner the first
// by Less of the live contenders.
func TestPropertyConvergence(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		unique := rapid.Bool().Draw(rt, "unique")
		names := []string{"a", "b", "c", "d"}[:rapid.IntRange(2, 4).Draw(rt, "nodes")]
		s := newSim(t, unique, names...)
		dropRate := rapid.IntRange(0, 3).Draw(rt, "drop")
		var dropped int
		s.drop = func(string, string) bool { dropped++; return dropRate > 0 && dropped%(5-dropRate) == 0 }
		keys := []string{"k1", "k2", "k3"}
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for range steps {
			n := rapid.SampledFrom(names).Draw(rt, "node")
			switch rapid.IntRange(0, 9).Draw(rt, "op") {
			case 0, 1, 2:
				s.put(n, rapid.SampledFrom(keys).Draw(rt, "key"))
			case 3:
				own := s.nodes[n].c.own.entries
				if len(own) > 0 {
					ids := slices.Sorted(func(yield func(uint64) bool) {
						for id := range own {
							if !yield(id) {
								return
							}
						}
					})
					id := rapid.SampledFrom(ids).Draw(rt, "entry")
					s.remove(n, Ref{Origin: s.nodes[n].c.self, ID: id})
				}
			case 4:
				a, b := rapid.SampledFrom(names).Draw(rt, "from"), rapid.SampledFrom(names).Draw(rt, "to")
				s.cut[[2]string{a, b}] = !s.cut[[2]string{a, b}]
			case 5:
				o := rapid.SampledFrom(names).Draw(rt, "observer")
				s.setUp(n, !s.nodes[o].members[n], o)
			case 6:
				s.restart(n)
			case 7:
				s.flush(n)
			default:
				s.round()
				s.deliver()
			}
		}
		// Heal everything and let it settle.
		s.heal()
		s.drop = nil
		for _, n := range names {
			for _, o := range names {
				s.nodes[n].members[o] = true
			}
		}
		s.syncMembers()
		s.settle(40)
		first := s.viewOf(names[0])
		for _, n := range names[1:] {
			if v := s.viewOf(n); v != first {
				rt.Fatalf("views differ:\n%s: %s\n%s: %s", names[0], first, n, v)
			}
		}
		if !unique {
			return
		}
		// The winner of each key is the first by Less of every live
		// contender across all nodes' own entries.
		for _, k := range keys {
			var all []Entry
			for _, n := range names {
				for _, r := range s.nodes[n].c.own.entries {
					if r.Key == k {
						all = append(all, r.Entry)
					}
				}
			}
			got := s.nodes[names[0]].view[k]
			if len(all) == 0 {
				if len(got) != 0 {
					rt.Fatalf("%s shows %v, held by nobody", k, got)
				}
				continue
			}
			slices.SortFunc(all, compareEntries)
			if len(got) != 1 || got[0].Ref != all[0].Ref {
				rt.Fatalf("%s: view %v, want %v of %v", k, got, all[0].Ref, all)
			}
		}
	})
}

func TestLessIsATotalOrder(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		gen := rapid.Custom(func(t *rapid.T) Entry {
			node := rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "node")
			ref := Ref{Origin: Origin{Node: node, Creation: rapid.Uint64Range(1, 2).Draw(t, "creation")}, ID: rapid.Uint64Range(1, 3).Draw(t, "id")}
			first := ref
			if rapid.Bool().Draw(t, "inherited") {
				first = Ref{Origin: Origin{Node: rapid.SampledFrom([]string{"a", "b"}).Draw(t, "fnode"), Creation: 1}, ID: 1}
			}
			e := Entry{Ref: ref}
			e.Claim.First = first
			e.Claim.Stamp.WallNanos = rapid.Int64Range(0, 2).Draw(t, "wall")
			e.Claim.Gen = rapid.Uint64Range(0, 2).Draw(t, "gen")
			return e
		})
		es := rapid.SliceOfN(gen, 3, 3).Draw(rt, "entries")
		a, b, c := es[0], es[1], es[2]
		if Less(a, b) && Less(b, a) {
			rt.Fatalf("not antisymmetric: %v %v", a, b)
		}
		if a.Ref != b.Ref && !Less(a, b) && !Less(b, a) {
			rt.Fatalf("distinct entries not ordered: %v %v", a, b)
		}
		if Less(a, b) && Less(b, c) && !Less(a, c) {
			rt.Fatalf("not transitive: %v %v %v", a, b, c)
		}
	})
}

// TestFirstContactResends: changes sent to a peer before it could take them
// (a member whose map was not running yet drops them) are sent again as
// soon as the peer first speaks, not after RetransmitTicks rounds, and a
// change whose eager send was lost is sent again within RetransmitTicks
// rounds at the latest.
func TestFirstContactResends(t *testing.T) {
	s := newSim(t, false, "a", "b")
	lost := true
	s.drop = func(from, to string) bool { return lost && from == "a" && to == "b" }
	e := s.mustPut("a", "k")
	s.flush("a")
	s.deliver()
	lost = false
	// b speaks first in the next round (its digest: nothing of a); a's
	// part of that same round already sends again.
	for i := range 2 {
		s.round()
		s.deliver()
		if w := s.nodes["b"].view["k"]; len(w) == 1 && w[0].Ref == e.Ref {
			return
		}
		t.Logf("round %d: b has %v", i+1, s.nodes["b"].view["k"])
	}
	t.Fatalf("b still lacks a's entry two rounds after first contact")
}

// TestLostSendResentWithinRetransmitTicks: once both peers have spoken, an
// eager send that is lost is sent again by the round RetransmitTicks
// later.
func TestLostSendResentWithinRetransmitTicks(t *testing.T) {
	s := newSim(t, false, "a", "b")
	s.settle(3)
	lost := true
	s.drop = func(from, to string) bool { return lost && from == "a" && to == "b" }
	e := s.mustPut("a", "k")
	s.flush("a")
	s.deliver()
	lost = false
	for range 5 + 1 {
		s.round()
		s.deliver()
	}
	if w := s.nodes["b"].view["k"]; len(w) != 1 || w[0].Ref != e.Ref {
		t.Fatalf("b lacks a's entry %d rounds after the loss: %v", 6, w)
	}
}

// TestJoinerWaitsForMembersItDoesNotKnowYet: a joiner whose membership
// does not list a member yet (members become visible one by one) is not
// complete while its peers report entries of that member it lacks (Horde
// #116, #247).
func TestJoinerWaitsForMembersItDoesNotKnowYet(t *testing.T) {
	s := newSim(t, false, "a", "b", "c")
	for i := range 20 {
		s.mustPut("a", fmt.Sprint("a", i))
		s.mustPut("c", fmt.Sprint("c", i))
	}
	s.settle(3)
	j := s.start("j", 1)
	j.members["a"], j.members["b"], j.members["j"] = true, true, true
	for _, n := range s.order {
		s.nodes[n].members["j"] = true
		if n == "j" {
			// The joiner's membership lists a and b, not c yet.
			j.c.setMembers([]member{{name: "a", up: true, creation: 1}, {name: "b", up: true, creation: 1}, {name: "j", up: true, creation: 1}}, s.now)
			j.collect()
			continue
		}
		var ms []member
		for _, o := range s.order {
			ms = append(ms, member{name: o, up: true, creation: 1})
		}
		s.nodes[n].c.setMembers(ms, s.now)
		s.nodes[n].collect()
	}
	for range 8 {
		s.round()
		s.deliver()
		if ok, _ := j.c.complete(); ok && len(j.view) != 40 {
			t.Fatalf("joiner complete with %d of 40 keys while its membership lags", len(j.view))
		}
	}
	j.members["c"] = true
	s.syncMembers()
	for range 10 {
		if ok, _ := j.c.complete(); ok {
			if len(j.view) != 40 {
				t.Fatalf("joiner complete with %d of 40 keys", len(j.view))
			}
			return
		}
		s.round()
		s.deliver()
	}
	t.Fatal("joiner never complete")
}

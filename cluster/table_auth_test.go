package cluster

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestTableUnauthenticatedNeverVisible(t *testing.T) {
	tb := newTable("a")
	tb.alive("a", "g", wm(1, 1), t0)
	expect(t, tb.alive("x", "g", wm(5, 5), t0)) // described by someone: no event
	if got := tb.list(); len(got) != 1 {
		t.Fatalf("list %v", got)
	}
	// Heard of, not proved: not reachable, yet no majority without it.
	if r, k := tb.counts(); r != 1 || k != 2 {
		t.Fatalf("counts %d/%d", r, k)
	}
	expect(t, tb.connectFailed("x", t0))
	expect(t, tb.gone("x", t0)) // never proved: forgotten, never a dead voter
	if tb.members["x"] != nil {
		t.Fatal("a dead stranger is kept")
	}
	if r, k := tb.counts(); r != 1 || k != 1 {
		t.Fatalf("counts after %d/%d", r, k)
	}
	// Proving its name makes a member visible, at once if alive.
	tb.alive("y", "g", wm(5, 5), t0)
	expect(t, tb.authenticated("y", t0), EventJoined)
	expect(t, tb.authenticated("y", t0))
	// Or before the protocol tells of it.
	tb.authenticated("z", t0)
	expect(t, tb.alive("z", "g", wm(5, 5), t0), EventJoined)
	if got := tb.voters(); !slices.Equal(got, []string{"a", "y", "z"}) {
		t.Fatalf("voters %v", got)
	}
}

func TestTableLinkedNotHeardFrom(t *testing.T) {
	tb := newTable("s")
	tb.alive("s", "g", wm(1, 1), t0)
	if !hasQuorum(tb.counts()) {
		t.Fatal("alone and knowing nobody else: quorum")
	}
	// Three nodes link to it before any state is merged: it knows only
	// itself, and claims no majority over them.
	for _, n := range []string{"b", "c", "d"} {
		tb.link(n, true, 9, t0)
	}
	if r, k := tb.counts(); r != 1 || k != 4 || hasQuorum(r, k) {
		t.Fatalf("counts %d/%d", r, k)
	}
	if !tb.needsMerge("b", 9) {
		t.Fatal("no merge wanted with an unknown linked node")
	}
	// Their state arrives; one of them runs no membership.
	expect(t, tb.alive("b", "g", wm(9, 9), t0), EventJoined)
	expect(t, tb.alive("c", "g", wm(9, 9), t0), EventJoined)
	tb.outsider("d")
	if r, k := tb.counts(); r != 3 || k != 3 {
		t.Fatalf("counts %d/%d", r, k)
	}
	if tb.needsMerge("b", 9) || tb.needsMerge("d", 9) {
		t.Fatal("merge wanted with a known member or an outsider")
	}
	tb.link("d", false, 0, t0)
	tb.link("d", true, 10, t0) // a new link: asked again
	if !tb.needsMerge("d", 10) {
		t.Fatal("a relinked outsider is not asked again")
	}
}

func TestTableRestartSeenOnLink(t *testing.T) {
	tb := authedTable("a", "b")
	tb.alive("a", "g", wm(1, 1), t0)
	tb.alive("b", "g", wm(5, 5), t0)
	tb.link("b", true, 5, t0)
	// b restarts: its old link drops, a link to its next life comes up
	// before the protocol knows.
	expect(t, tb.link("b", false, 5, t0), EventSuspected)
	expect(t, tb.link("b", true, 8, t0), EventFailed)
	if m := tb.members["b"].m; m.State != StateDead || m.Creation != 5 {
		t.Fatalf("old life shown as %+v", m)
	}
	if !tb.needsMerge("b", 8) {
		t.Fatal("no merge wanted for a restarted member")
	}
	// The protocol's word about the old life changes nothing.
	expect(t, tb.alive("b", "g", wm(5, 5), t0))
	expect(t, tb.gone("b", t0))
	// A late description of the old life does not bring it back; the new
	// life's does.
	expect(t, tb.described("b", "g", wm(5, 6), t0))
	expect(t, tb.described("b", "g", wm(8, 8), t0), EventJoined)
	if m := tb.members["b"].m; m.State != StateAlive || m.Creation != 8 {
		t.Fatalf("new life shown as %+v", m)
	}
}

func TestTableDropVotes(t *testing.T) {
	// Minority: never drops.
	tb := authedTable("a", "b", "c")
	tb.alive("a", "g", wm(1, 1), t0)
	tb.alive("b", "g", wm(1, 1), t0)
	tb.alive("c", "g", wm(1, 1), t0)
	tb.gone("b", t0)
	tb.gone("c", t0)
	tb.dropVotes(t0.Add(time.Hour), time.Minute)
	if r, k := tb.counts(); r != 1 || k != 3 {
		t.Fatalf("minority dropped votes: %d/%d", r, k)
	}
	if got := tb.reap(t0.Add(48*time.Hour), 24*time.Hour, time.Minute); len(got) != 0 {
		t.Fatalf("minority reaped voters %v", got)
	}
	// Majority: drops after the timeout, then reaps.
	tb = authedTable("a", "b", "c")
	tb.alive("a", "g", wm(1, 1), t0)
	tb.alive("b", "g", wm(1, 1), t0)
	tb.alive("c", "g", wm(1, 1), t0)
	tb.gone("c", t0)
	tb.dropVotes(t0.Add(30*time.Second), time.Minute)
	if _, k := tb.counts(); k != 3 {
		t.Fatal("dropped before the timeout")
	}
	tb.dropVotes(t0.Add(time.Minute), time.Minute)
	if r, k := tb.counts(); r != 2 || k != 2 {
		t.Fatalf("counts %d/%d", r, k)
	}
	if got := tb.list(); len(got) != 3 {
		t.Fatal("a member that lost its vote is no longer listed")
	}
	// Back: votes again.
	tb.alive("c", "g", wm(2, 2), t0.Add(2*time.Minute))
	if _, k := tb.counts(); k != 3 {
		t.Fatal("a member back does not vote")
	}
	tb.gone("c", t0.Add(3*time.Minute))
	tb.dropVotes(t0.Add(4*time.Minute), time.Minute)
	if got := tb.reap(t0.Add(30*time.Hour), 24*time.Hour, time.Minute); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("reaped %v", got)
	}
}

// TestTableProperties runs random observations through the table and
// checks what must always hold: nothing that never proved its name is
// listed, counted or announced; the counts are those of the list; a node
// without quorum never loses a vote; the local member is always alive.
func TestTableProperties(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e"}
	rapid.Check(t, func(rt *rapid.T) {
		tb := newTable("a")
		tb.alive("a", "g", wm(1, 1), t0)
		authed := map[string]bool{"a": true}
		now := t0
		creation := map[string]uint64{}
		for step := range rapid.IntRange(1, 80).Draw(rt, "steps") {
			_ = step
			now = now.Add(time.Duration(rapid.IntRange(0, 120).Draw(rt, "secs")) * time.Second)
			n := rapid.SampledFrom(names[1:]).Draw(rt, "name")
			var evs []Event
			switch rapid.IntRange(0, 9).Draw(rt, "op") {
			case 0, 1:
				c := creation[n] + uint64(rapid.IntRange(0, 1).Draw(rt, "restart"))
				creation[n] = c
				evs = tb.alive(n, "g", wm(c, c+uint64(rapid.IntRange(0, 2).Draw(rt, "inc"))), now)
			case 2:
				evs = tb.gone(n, now)
			case 3:
				authed[n] = true
				evs = tb.authenticated(n, now)
			case 4:
				up := rapid.Bool().Draw(rt, "up")
				if up {
					authed[n] = true
				}
				evs = tb.link(n, up, creation[n]+uint64(rapid.IntRange(0, 1).Draw(rt, "later")), now)
			case 5:
				evs = tb.connectFailed(n, now)
			case 6:
				evs = tb.leaveIntent(n, creation[n], now)
			case 7:
				before := tb.voters()
				quorum := hasQuorum(tb.counts())
				tb.dropVotes(now, time.Minute)
				if !quorum && !slices.Equal(before, tb.voters()) {
					rt.Fatalf("votes dropped without quorum: %v → %v", before, tb.voters())
				}
			case 8:
				tb.outsider(n)
			case 9:
				before := hasQuorum(tb.counts())
				tb.reap(now, time.Hour, time.Minute)
				if !before && hasQuorum(tb.counts()) {
					rt.Fatal("reaping gave quorum to a node without it")
				}
			}
			for _, e := range evs {
				if !authed[e.Member.Name] {
					rt.Fatalf("event %v for %s, which never proved its name", e.Kind, e.Member.Name)
				}
			}
			reachable, members := 0, 0
			for _, m := range tb.list() {
				if !authed[m.Name] {
					rt.Fatalf("%s listed without proving its name", m.Name)
				}
				if m.State == StateAlive {
					reachable++
				}
				if m.Name == "a" && m.State != StateAlive {
					rt.Fatalf("local member %v", m.State)
				}
				members++
			}
			r, k := tb.counts()
			if r != reachable || k > len(tb.members)+len(tb.unknown) {
				rt.Fatalf("counts %d/%d, list has %d reachable of %d (+%d unknown)", r, k, reachable, members, len(tb.unknown))
			}
			for _, v := range tb.voters() {
				if r := tb.members[v]; !authed[v] && (r == nil || !r.swimAlive) {
					rt.Fatalf("voter %s never proved its name and is not alive", v)
				}
			}
		}
	})
}

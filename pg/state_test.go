package pg

import (
	"maps"
	"slices"
	"testing"

	"github.com/grovedev/grove/proc"
	"pgregory.net/rapid"
)

// sorted returns a sorted copy, for comparing multisets.
func sorted(pids []proc.PID) []proc.PID {
	out := slices.Clone(pids)
	slices.SortFunc(out, func(a, b proc.PID) int {
		if a.Node != b.Node {
			if a.Node < b.Node {
				return -1
			}
			return 1
		}
		return int(a.ID) - int(b.ID)
	})
	if out == nil {
		out = []proc.PID{}
	}
	return out
}

// The core against a naive model (per node, per group, a multiset of
// members): members match after any sequence of local and remote changes,
// full reports and node losses, and the events, replayed onto a copy, give
// the same members.
func TestStateModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		st := newState()
		model := map[string]map[string][]proc.PID{} // node -> group -> members
		mirror := map[string][]proc.PID{}           // replayed from events
		nodes := []string{"self", "b", "c"}
		groups := []string{"g1", "g2", "g3"}
		pidOf := func(node string, id int) proc.PID { return proc.PID{Node: node, Creation: 1, ID: uint64(id)} }
		replay := func(evs ...Event) {
			for _, ev := range evs {
				switch ev.Kind {
				case Joined:
					mirror[ev.Group] = append(mirror[ev.Group], ev.PIDs...)
				case Left:
					for _, p := range ev.PIDs {
						i := slices.Index(mirror[ev.Group], p)
						if i < 0 {
							t.Fatalf("leave of %v, not a member of %s", p, ev.Group)
						}
						mirror[ev.Group] = slices.Delete(mirror[ev.Group], i, i+1)
					}
				}
			}
		}
		add := func(node, g string, pids ...proc.PID) {
			if model[node] == nil {
				model[node] = map[string][]proc.PID{}
			}
			model[node][g] = append(model[node][g], pids...)
		}
		remove := func(node, g string, pids ...proc.PID) (left []proc.PID) {
			for _, p := range pids {
				if i := slices.Index(model[node][g], p); i >= 0 {
					model[node][g] = slices.Delete(model[node][g], i, i+1)
					left = append(left, p)
				}
			}
			return left
		}
		for range rapid.IntRange(1, 60).Draw(t, "steps") {
			node := rapid.SampledFrom(nodes).Draw(t, "node")
			g := rapid.SampledFrom(groups).Draw(t, "group")
			pids := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) proc.PID {
				return pidOf(node, rapid.IntRange(1, 4).Draw(t, "id"))
			}), 0, 3).Draw(t, "pids")
			switch rapid.IntRange(0, 4).Draw(t, "op") {
			case 0: // join
				add(node, g, pids...)
				if node == "self" {
					replay(st.join(g, pids))
				} else {
					replay(st.remoteJoin(node, g, pids))
				}
			case 1: // leave
				want := remove(node, g, pids...)
				var ev Event
				if node == "self" {
					ev = st.leave(g, pids)
				} else {
					ev = st.remoteLeave(node, g, pids)
				}
				if !slices.Equal(sorted(ev.PIDs), sorted(want)) {
					t.Fatalf("left %v, want %v", ev.PIDs, want)
				}
				replay(ev)
			case 2: // a local process exits
				if node != "self" || len(pids) == 0 {
					continue
				}
				p := pids[0]
				for _, gg := range groups {
					for slices.Contains(model["self"][gg], p) {
						remove("self", gg, p)
					}
				}
				replay(st.exited(p)...)
			case 3: // a full report from a remote node
				if node == "self" {
					continue
				}
				report := map[string][]proc.PID{}
				for _, gg := range groups {
					if rapid.Bool().Draw(t, "has") {
						report[gg] = rapid.SliceOfN(rapid.Custom(func(t *rapid.T) proc.PID {
							return pidOf(node, rapid.IntRange(1, 4).Draw(t, "id"))
						}), 1, 3).Draw(t, "members")
					}
				}
				model[node] = maps.Clone(report)
				replay(st.replace(node, report)...)
			case 4: // a remote node's link goes down
				if node == "self" {
					continue
				}
				delete(model, node)
				replay(st.drop(node)...)
			}
			for _, gg := range groups {
				var want []proc.PID
				for _, n := range nodes {
					want = append(want, model[n][gg]...)
				}
				if got := st.members(gg); !slices.Equal(sorted(got), sorted(want)) {
					t.Fatalf("%s: members %v, want %v", gg, got, want)
				}
				if !slices.Equal(sorted(mirror[gg]), sorted(want)) {
					t.Fatalf("%s: events replay to %v, want %v", gg, mirror[gg], want)
				}
				if _, ok := st.groups[gg]; ok != (len(want) > 0) {
					t.Fatalf("%s: group kept %v with %d members", gg, ok, len(want))
				}
			}
			if !slices.Equal(sorted(st.local()[g]), sorted(model["self"][g])) {
				t.Fatalf("local report %v", st.local()[g])
			}
		}
	})
}

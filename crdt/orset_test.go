package crdt

import (
	"testing"

	"pgregory.net/rapid"
)

// TestORSetRemovedElementStaysRemoved: after replica 1 removes an element
// that every replica had, no replay of old deltas (duplicated, reordered)
// and no full-state exchange brings it back, unless some replica re-adds it
// without having seen the remove, in which case the re-add wins.
func TestORSetRemovedElementStaysRemoved(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		reps := []*ORSet[string]{NewORSet[string](), NewORSet[string](), NewORSet[string]()}
		var old []*ORSet[string]
		for i, n := range nodes {
			old = append(old, reps[i].Add(n, "x"), reps[i].Add(n, "other"))
		}
		for i := range reps {
			for j := range reps {
				reps[i].Merge(reps[j].Clone())
			}
		}
		removal := reps[1].Remove("x")
		seen := []bool{false, true, false}
		concurrentAdd := false
		steps := rapid.IntRange(0, 30).Draw(t, "steps")
		for range steps {
			i := rapid.IntRange(0, 2).Draw(t, "replica")
			switch rapid.IntRange(0, 4).Draw(t, "step") {
			case 0: // replay an old delta
				reps[i].Merge(old[rapid.IntRange(0, len(old)-1).Draw(t, "old")].Clone())
			case 1: // deliver the removal
				reps[i].Merge(removal.Clone())
				seen[i] = true
			case 2: // full state from another replica
				j := rapid.IntRange(0, 2).Draw(t, "from")
				reps[i].Merge(reps[j].Clone())
				seen[i] = seen[i] || seen[j]
			case 3: // unrelated update
				old = append(old, reps[i].Add(nodes[i], "other"))
			case 4: // re-add, concurrent with the removal if i has not seen it
				if rapid.IntRange(0, 3).Draw(t, "readd") == 0 {
					concurrentAdd = concurrentAdd || !seen[i]
					old = append(old, reps[i].Add(nodes[i], "x"))
					if seen[i] {
						// A re-add after the removal is a new add: start over.
						return
					}
				}
			}
			for k := range reps {
				if seen[k] && !concurrentAdd && reps[k].Contains("x") {
					t.Fatalf("replica %d saw the removal but holds x again", k)
				}
			}
		}
		for i := range reps {
			for j := range reps {
				reps[i].Merge(reps[j].Clone())
			}
		}
		for k := range reps {
			if reps[k].Contains("x") != concurrentAdd {
				t.Fatalf("replica %d: Contains(x) = %v after exchange, concurrent re-add %v", k, reps[k].Contains("x"), concurrentAdd)
			}
		}
	})
}

func TestORSetRemoveLeavesNoTombstone(t *testing.T) {
	s := NewORSet[string]()
	for range 100 {
		s.Add("n1", "x")
		s.Remove("x")
	}
	if len(s.entries) != 0 {
		t.Fatalf("entries after removes: %d", len(s.entries))
	}
	if cloud := s.cc.Cloud(); len(cloud) != 0 {
		t.Fatalf("cloud not compacted: %v", cloud)
	}
	data, _ := s.MarshalBinary()
	if len(data) > 16 {
		t.Fatalf("empty set after 100 add/remove encodes to %d bytes", len(data))
	}
}

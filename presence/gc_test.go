package presence

import (
	"fmt"
	"slices"
	"testing"
)

// The state of a node that died and never came back is collected: its
// replica record and its presences go, and a topic that only it populated
// is removed from every survivor (no list that grows without bound).
func TestDepartedReplicaCollected(t *testing.T) {
	tc := newTestCluster(t, 3, 5, Config{})
	names := tc.c.Names()
	victim := names[2]
	for _, n := range names {
		tc.tr(n).Track(spawnIdle(t, tc.c.Runtime(n)), "room", n, "here")
	}
	vt := tc.tr(victim)
	for i := range 50 {
		vt.Track(spawnIdle(t, tc.c.Runtime(victim)), fmt.Sprintf("only-%d", i), "k", nil)
	}
	eventually(t, func() error {
		for _, n := range names[:2] {
			if c := len(tc.tr(n).Topics()); c != 51 {
				return errorf("%s holds %d topics", n, c)
			}
		}
		return tc.converged("room")
	})
	dropped := map[string]uint64{}
	for _, n := range names[:2] {
		dropped[n] = tc.tr(n).Stats().ReplicasDropped.Load()
	}
	tc.stop(victim)
	tc.c.Kill(victim)
	eventually(t, func() error {
		for _, n := range names[:2] {
			tr := tc.tr(n)
			if ts := tr.Topics(); !slices.Equal(ts, []string{"room"}) {
				return errorf("%s still holds %d topics", n, len(ts))
			}
			if c := tr.Count("room"); c != 2 {
				return errorf("%s counts %d in room", n, c)
			}
			tr.mu.Lock()
			_, kept := tr.mu.replicas[victim]
			tr.mu.Unlock()
			if kept {
				return errorf("%s keeps the replica record of %s", n, victim)
			}
		}
		return nil
	})
	for _, n := range names[:2] {
		if d := tc.tr(n).Stats().ReplicasDropped.Load() - dropped[n]; d != 1 {
			t.Errorf("%s dropped %d replicas, want 1", n, d)
		}
	}
}

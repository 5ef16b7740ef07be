package distsup

import (
	"fmt"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
)

// TestKillMidHandoff kills a node while a drain hands children off: the
// draining node itself, or the node that receives them. Either way every
// child ends up running exactly once, on the survivors, and every
// survivor resolves it to that process.
func TestKillMidHandoff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		victim int // index of the member killed: 0 drains, 1 receives
	}{
		{"source", 0},
		{"target", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker()
			h, ss := startSups(t, 3, Config{}, tr, nil)
			ms := h.Running()
			waitSupsComplete(t, h, ss)
			ctx := ctxT(t, 90*time.Second)
			var ids []string
			for i := range 150 {
				id := fmt.Sprint("k", i)
				ids = append(ids, id)
				if _, err := ss.get(ms[i%3].Name).StartChild(ctx, ChildSpec{ID: id, Kind: "worker"}); err != nil {
					t.Fatal(err)
				}
			}
			// Member 2 leaves the cluster's placement for the drain: only
			// member 1 receives, so that killing it cuts handoffs in flight.
			if tc.victim == 1 {
				if err := ss.get(ms[2].Name).Drain(ctx); err != nil {
					t.Fatal(err)
				}
			}
			drainer := ss.get(ms[0].Name)
			done := make(chan error, 1)
			go func() { done <- drainer.Drain(ctx) }()
			testutil.Eventually(t, 30*time.Second, func() error {
				if n := drainer.Stats().HandedOff.Load(); n < 3 {
					return fmt.Errorf("%d handed off", n)
				}
				return nil
			})
			movedAtKill := drainer.Stats().HandedOff.Load()
			if tc.victim == 0 {
				// The drain may still be running: its node dies under it.
				h.Kill(0)
				<-done
			} else {
				h.Kill(1)
				err := <-done
				t.Logf("drain after the target died: %v", err)
			}
			t.Logf("%d children had moved when %s died", movedAtKill, ms[tc.victim].Name)
			if tc.victim == 1 {
				// The children that could not move stay on the draining
				// node 0; member 2, drained (it runs nothing), comes back
				// as a fresh member to take the dead target's children.
				h.Restart(2)
			}
			h.WaitConverged(60 * time.Second)
			for _, m := range h.Running() {
				if err := ss.get(m.Name).WaitComplete(ctx); err != nil {
					t.Fatal(err)
				}
			}
			testutil.Eventually(t, 60*time.Second, func() error { return exactlyOnce(h, ss, tr, ids) })
		})
	}
}

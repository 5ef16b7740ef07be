package names

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

// notified records the Conflict notices a process receives.
type notified struct {
	proc.Base
	got chan Conflict
}

func (n *notified) HandleInfo(_ *proc.Process, msg any) {
	if c, ok := msg.(Conflict); ok {
		n.got <- c
	}
}

// byValue is a user-defined Resolver: the greater value wins whatever the
// age of the claims, and the loser keeps running, told, without the name.
type byValue struct{}

func (byValue) Less(a, b Entry) bool {
	av, _ := a.Value.(string)
	bv, _ := b.Value.(string)
	if av != bv {
		return av > bv
	}
	return Order(a, b)
}

func (byValue) Settle(c Conflict) Action {
	if c.Won {
		return Keep
	}
	return Unregister
}

// TestConflictAfterPartition registers one key on both sides of a
// partition and checks, after the heal, each resolver's outcome: the same
// view everywhere, and what happens to each contender.
func TestConflictAfterPartition(t *testing.T) {
	for _, tc := range []struct {
		name     string
		resolver Resolver
		// keepName: does the winner keep the name; loserAlive / winnerTold /
		// loserTold: the rest of the verdict.
		keepName, loserAlive, winnerTold, loserTold bool
	}{
		{"StopLoser", StopLoser{}, true, false, false, false},
		{"KeepBoth", KeepBoth{}, true, true, true, true},
		{"UnregisterBoth", UnregisterBoth{}, false, true, true, true},
		// A user's resolver: its own order (by value, against the default
		// age rule) and its own verdict.
		{"Custom", byValue{}, true, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, rs := startNames(t, 3, Config{Resolver: tc.resolver}, nil)
			ms := h.Running()
			waitComplete(t, rs, ms)
			var exits exitWatch
			procs := map[proc.PID]*notified{}
			spawn := func(rt *proc.Runtime) proc.PID {
				n := &notified{got: make(chan Conflict, 4)}
				pid, err := rt.Spawn(n)
				if err != nil {
					t.Fatal(err)
				}
				procs[pid] = n
				exits.watch(rt, pid)
				return pid
			}
			p0, p2 := spawn(ms[0].Runtime), spawn(ms[2].Runtime)
			h.Partition([]int{0, 1}, []int{2})
			if err := rs.get(ms[2].Name).Register(p2, "k", "two"); err != nil {
				t.Fatal(err)
			}
			if err := rs.get(ms[0].Name).Register(p0, "k", "zero"); err != nil {
				t.Fatal(err)
			}
			e0, e2 := rs.get(ms[0].Name).Lookup("k")[0], rs.get(ms[2].Name).Lookup("k")[0]
			winner, loser := e0, e2
			if tc.resolver.Less(e2, e0) {
				winner, loser = e2, e0
			}
			h.Heal()
			testutil.Eventually(t, 20*time.Second, func() error {
				for _, m := range ms {
					es := rs.get(m.Name).Lookup("k")
					switch {
					case tc.keepName && (len(es) != 1 || es[0].PID != winner.PID):
						return fmt.Errorf("%s shows %v, want %v", m.Name, es, winner.PID)
					case !tc.keepName && len(es) != 0:
						return fmt.Errorf("%s shows %v, want nobody", m.Name, es)
					}
				}
				if _, dead := exits.reason(loser.PID); dead == tc.loserAlive {
					return fmt.Errorf("loser dead %v, want %v", dead, !tc.loserAlive)
				}
				return nil
			})
			if r, dead := exits.reason(winner.PID); dead {
				t.Fatalf("winner exited: %v", r)
			}
			if !tc.loserAlive {
				r, _ := exits.reason(loser.PID)
				var ce *ConflictError
				if !errors.As(r, &ce) || ce.Key != "k" || ce.Winner != winner.PID || !errors.Is(r, ErrConflict) {
					t.Fatalf("loser's exit reason %v", r)
				}
			}
			for pid, told := range map[proc.PID]bool{winner.PID: tc.winnerTold, loser.PID: tc.loserTold} {
				if !told {
					continue
				}
				select {
				case c := <-procs[pid].got:
					if c.Key != "k" || c.Winner.PID != winner.PID || c.Loser.PID != loser.PID || c.Won != (pid == winner.PID) {
						t.Fatalf("notice to %v: %+v", pid, c)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("%v not told", pid)
				}
			}
			// Settled views stay settled.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, m := range ms {
				if err := rs.get(m.Name).Sync(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

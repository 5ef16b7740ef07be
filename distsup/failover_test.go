package distsup

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor"
)

// TestFailoverAfterKill: the children of a killed node run again, once
// each, on the survivors; temporary ones do not come back.
func TestFailoverAfterKill(t *testing.T) {
	tr := newTracker()
	h, ss := startSups(t, 3, Config{}, tr, nil)
	ms := h.Running()
	waitSupsComplete(t, h, ss)
	ctx := ctxT(t, 60*time.Second)
	var ids, temps []string
	for i := range 90 {
		id := fmt.Sprint("c", i)
		r := supervisor.Permanent
		if i%10 == 0 {
			r = supervisor.Temporary
			temps = append(temps, id)
		} else if i%10 == 1 {
			r = supervisor.Transient
		}
		if _, err := ss.get(ms[i%3].Name).StartChild(ctx, ChildSpec{ID: id, Kind: "worker", Restart: r}); err != nil {
			t.Fatal(err)
		}
		if r != supervisor.Temporary {
			ids = append(ids, id)
		}
	}
	victim := ms[1]
	onVictim := ss.get(ms[0].Name).CountChildren().Nodes[victim.Name]
	if onVictim == 0 {
		t.Fatal("nothing placed on the victim")
	}
	h.Kill(1)
	var lost []string
	for _, id := range temps {
		if pid, _ := ss.get(ms[0].Name).WhereIs(id); pid.Node == victim.Name {
			lost = append(lost, id)
		}
	}
	testutil.Eventually(t, 30*time.Second, func() error { return exactlyOnce(h, ss, tr, append(ids, without(temps, lost)...)) })
	var adopted uint64
	for _, m := range h.Running() {
		adopted += ss.get(m.Name).Stats().Adopted.Load()
	}
	if want := onVictim - len(lost); int(adopted) != want {
		t.Fatalf("%d adoptions, want %d", adopted, want)
	}
}

func without(all, drop []string) []string {
	var out []string
	for _, a := range all {
		keep := true
		for _, d := range drop {
			keep = keep && a != d
		}
		if keep {
			out = append(out, a)
		}
	}
	return out
}

// TestHandoffOnDrain: draining a node moves its children with their state;
// messages and calls sent during the move reach the new incarnation, none
// lost.
func TestHandoffOnDrain(t *testing.T) {
	tr := newTracker()
	h, ss := startSups(t, 3, Config{}, tr, nil)
	ms := h.Running()
	waitSupsComplete(t, h, ss)
	ctx := ctxT(t, 60*time.Second)
	var ids []string
	for i := range 20 {
		id := fmt.Sprint("h", i)
		ids = append(ids, id)
		if _, err := ss.get(ms[0].Name).StartChild(ctx, ChildSpec{ID: id, Kind: "worker"}); err != nil {
			t.Fatal(err)
		}
	}
	// Senders on node 2 keep bumping every child through Via while node
	// 1 drains; each counts the bumps acknowledged.
	sender := ms[2]
	via := ss.get(sender.Name)
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sendErr atomic.Pointer[error]
	for _, id := range ids {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := sender.Runtime.Cast(via.Via(id), bump{}); err != nil {
					if !errors.Is(err, proc.ErrNotRegistered) {
						sendErr.Store(&err)
					}
					continue
				}
				sent.Add(1)
				time.Sleep(time.Millisecond)
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // traffic in flight when the drain starts
	drained := ms[1]
	before := ss.get(ms[0].Name).CountChildren().Nodes[drained.Name]
	if err := ss.get(drained.Name).Drain(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if p := sendErr.Load(); p != nil {
		t.Fatalf("send during the drain: %v", *p)
	}
	if n := ss.get(ms[0].Name).CountChildren().Nodes[drained.Name]; n != 0 || before == 0 {
		t.Fatalf("%d children left on the drained node (had %d)", n, before)
	}
	testutil.Eventually(t, 20*time.Second, func() error { return exactlyOnce(h, ss, tr, ids) })
	// Every cast counted once: the sum of the counts is what was sent.
	var total int
	for _, id := range ids {
		n, err := proc.Call[int](ctx, sender.Runtime, via.Via(id), getN{})
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if int64(total) != sent.Load() {
		t.Fatalf("children counted %d bumps, %d were sent", total, sent.Load())
	}
	if got := ss.get(drained.Name).Stats().HandedOff.Load(); int(got) != before {
		t.Fatalf("%d handed off, %d to move", got, before)
	}
	// Nothing is placed on a draining node.
	if _, err := ss.get(ms[0].Name).StartChild(ctx, ChildSpec{ID: "late", Kind: "worker"}); err != nil {
		t.Fatal(err)
	}
	if pid, _ := ss.get(ms[0].Name).WhereIs("late"); pid.Node == drained.Name {
		t.Fatal("new child placed on the draining node")
	}
}

// TestSingletonMoves: a singleton runs once; it moves when its node is
// killed and, with its state, when its node leaves gracefully.
func TestSingletonMoves(t *testing.T) {
	tr := newTracker()
	singles := map[string]*Singleton{}
	var mu sync.Mutex
	h, _ := startSups(t, 3, Config{}, tr, nil)
	// The singleton on every node, next to the test supervisor.
	for _, m := range h.Running() {
		s, err := NewSingleton(m.Cluster, "leader", func() proc.Behavior { return &worker{id: "leader", t: tr} }, SingletonConfig{Check: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		mu.Lock()
		singles[m.Name] = s
		mu.Unlock()
	}
	where := func() string {
		for _, m := range h.Running() {
			if pid, ok := singles[m.Name].WhereIs(); ok {
				return pid.Node
			}
		}
		return ""
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if tr.count("leader") != 1 || where() == "" {
			return fmt.Errorf("singleton runs %d times", tr.count("leader"))
		}
		return nil
	})
	first := where()
	var i int
	fmt.Sscanf(first, "n%d@", &i)
	singles[first].Close()
	h.Kill(i)
	testutil.Eventually(t, 30*time.Second, func() error {
		n := where()
		if tr.count("leader") != 1 || n == "" || n == first {
			return fmt.Errorf("singleton on %q, runs %d times", n, tr.count("leader"))
		}
		return nil
	})
	// Bump it, then drain its node: the count moves with it. The caller's
	// node must have seen the new registration first: a name it has not
	// heard of yet is not registered there.
	second := where()
	ctx := ctxT(t, 20*time.Second)
	m := h.Running()[0]
	testutil.Eventually(t, 20*time.Second, func() error {
		if pid, ok := singles[m.Name].WhereIs(); !ok || pid.Node != second {
			return fmt.Errorf("%s resolves the singleton to %v (%v), want a process on %s", m.Name, pid, ok, second)
		}
		return nil
	})
	for range 5 {
		if _, err := proc.Call[int](ctx, m.Runtime, singles[m.Name].Via(), bump{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := singles[second].Drain(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		n := where()
		if tr.count("leader") != 1 || n == "" || n == second {
			return fmt.Errorf("singleton on %q, runs %d times", n, tr.count("leader"))
		}
		return nil
	})
	var other string
	for _, m := range h.Running() {
		if m.Name != second {
			other = m.Name
		}
	}
	third, caller := where(), h.Running()[0]
	testutil.Eventually(t, 20*time.Second, func() error {
		if pid, ok := singles[caller.Name].WhereIs(); !ok || pid.Node != third {
			return fmt.Errorf("%s resolves the singleton to %v (%v), want a process on %s", caller.Name, pid, ok, third)
		}
		return nil
	})
	n, err := proc.Call[int](ctx, caller.Runtime, singles[other].Via(), getN{})
	if err != nil || n != 5 {
		t.Fatalf("count after the handoff: %d, %v", n, err)
	}
}

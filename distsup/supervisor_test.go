package distsup

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/internal/clustertest"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/placement"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor"
)

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func waitSupsComplete(t testing.TB, h *clustertest.Harness, ss *sups) {
	t.Helper()
	ctx := ctxT(t, 20*time.Second)
	for _, m := range h.Running() {
		if err := ss.get(m.Name).WaitComplete(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Every member's marker is in every table.
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, m := range h.Running() {
			if n := len(ss.get(m.Name).candidates(record{Kind: "worker"}, "")); n != len(h.Running()) {
				return fmt.Errorf("%s sees %d candidates", m.Name, n)
			}
		}
		return nil
	})
}

func TestStartChildUniqueAndSpread(t *testing.T) {
	tr := newTracker()
	h, ss := startSups(t, 3, Config{}, tr, nil)
	ms := h.Running()
	waitSupsComplete(t, h, ss)
	ctx := ctxT(t, 30*time.Second)
	var ids []string
	for i := range 30 {
		id := fmt.Sprint("w", i)
		ids = append(ids, id)
		from := ss.get(ms[i%3].Name)
		pid, err := from.StartChild(ctx, ChildSpec{ID: id, Kind: "worker"})
		if err != nil {
			t.Fatalf("start %s: %v", id, err)
		}
		// Once acknowledged, a majority sees it, and soon every node.
		seen := 0
		for _, m := range ms {
			if got, ok := ss.get(m.Name).WhereIs(id); ok && got == pid {
				seen++
			}
		}
		if seen < 2 {
			t.Fatalf("%s seen by %d of 3 nodes right after the start", id, seen)
		}
		testutil.Eventually(t, 10*time.Second, func() error {
			for _, m := range ms {
				if got, ok := ss.get(m.Name).WhereIs(id); !ok || got != pid {
					return fmt.Errorf("%s sees %s as %v, %v", m.Name, id, got, ok)
				}
			}
			return nil
		})
		// Starting it again, from anywhere, returns the running PID.
		again, err := ss.get(ms[(i+1)%3].Name).StartChild(ctx, ChildSpec{ID: id, Kind: "worker"})
		var ase *AlreadyStartedError
		if !errors.As(err, &ase) || again != pid || ase.PID != pid {
			t.Fatalf("second start of %s: %v, %v (first %v)", id, again, err, pid)
		}
	}
	if err := exactlyOnce(h, ss, tr, ids); err != nil {
		t.Fatal(err)
	}
	c := ss.get(ms[0].Name).CountChildren()
	if c.Specs != 30 || c.Active != 30 || len(c.Nodes) != 3 {
		t.Fatalf("counts %+v", c)
	}
	for n, k := range c.Nodes {
		if k > 13 { // bounded load: ceil(1.25 × 30 / 3)
			t.Fatalf("%s runs %d of 30 children", n, k)
		}
	}
	if wc := ss.get(ms[1].Name).WhichChildren(); len(wc) != 30 || wc[0].ID != "w0" || wc[0].Kind != "worker" {
		t.Fatalf("WhichChildren %+v", wc[:1])
	}
	// Calls through Via reach the child wherever it runs.
	n, err := proc.Call[int](ctx, ms[2].Runtime, ss.get(ms[2].Name).Via("w7"), bump{})
	if err != nil || n != 1 {
		t.Fatalf("call via: %d, %v", n, err)
	}
}

func TestStartErrors(t *testing.T) {
	tr := newTracker()
	h, ss := startSups(t, 2, Config{}, tr, nil)
	waitSupsComplete(t, h, ss)
	s := ss.get(h.Running()[0].Name)
	ctx := ctxT(t, 10*time.Second)
	for _, spec := range []ChildSpec{{}, {ID: "x"}, {ID: "\x00member/x", Kind: "worker"}, {ID: "x", Kind: "worker", Restart: 9}} {
		if _, err := s.StartChild(ctx, spec); !errors.Is(err, ErrInvalidSpec) {
			t.Fatalf("%+v: %v", spec, err)
		}
	}
	if _, err := s.StartChild(ctx, ChildSpec{ID: "x", Kind: "nope"}); !errors.Is(err, ErrNoNode) {
		t.Fatalf("unknown kind: %v", err)
	}
	if _, err := s.StartChild(ctx, ChildSpec{ID: "x", Kind: "worker", Pin: placement.Pinned{Region: "mars"}}); !errors.Is(err, ErrNoNode) {
		t.Fatalf("impossible pin: %v", err)
	}
	type unregistered struct{}
	if _, err := s.StartChild(ctx, ChildSpec{ID: "x", Kind: "worker", Arg: unregistered{}}); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("unencodable arg: %v", err)
	}
	if err := s.TerminateChild(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("terminate unknown: %v", err)
	}
}

func TestPinnedPlacement(t *testing.T) {
	tr := newTracker()
	h, ss := startSups(t, 3, Config{}, tr, func(c *clustertest.Config) {
		c.Meta = func(i int) cluster.Meta {
			if i == 2 {
				return cluster.Meta{Region: "us", Roles: []string{"db"}}
			}
			return cluster.Meta{Region: "eu"}
		}
	})
	waitSupsComplete(t, h, ss)
	ctx := ctxT(t, 10*time.Second)
	for i := range 5 {
		pid, err := ss.get(h.Running()[0].Name).StartChild(ctx, ChildSpec{ID: fmt.Sprint("db", i), Kind: "worker", Pin: placement.Pinned{Role: "db"}})
		if err != nil || pid.Node != clustertest.Name(2) {
			t.Fatalf("pinned child on %v, %v", pid, err)
		}
	}
}

func TestTerminateAndRestartChild(t *testing.T) {
	tr := newTracker()
	h, ss := startSups(t, 3, Config{}, tr, nil)
	ms := h.Running()
	waitSupsComplete(t, h, ss)
	ctx := ctxT(t, 20*time.Second)
	s0 := ss.get(ms[0].Name)
	pid, err := s0.StartChild(ctx, ChildSpec{ID: "a", Kind: "worker"})
	if err != nil {
		t.Fatal(err)
	}
	npid, err := ss.get(ms[1].Name).RestartChild(ctx, "a")
	if err != nil || npid == pid || npid.Node != pid.Node {
		t.Fatalf("restart: %v -> %v, %v", pid, npid, err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if got, _ := ss.get(ms[2].Name).WhereIs("a"); got != npid {
			return fmt.Errorf("sees %v", got)
		}
		return nil
	})
	if err := ss.get(ms[2].Name).TerminateChild(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if tr.count("a") != 0 {
		t.Fatal("terminated child still runs")
	}
	for _, m := range ms {
		if _, ok := ss.get(m.Name).WhereIs("a"); ok && m.Name == npid.Node {
			t.Fatalf("%s still lists the child", m.Name)
		}
	}
}

func TestLocalRestartTypes(t *testing.T) {
	tr := newTracker()
	h, ss := startSups(t, 2, Config{MaxRestarts: 2, Period: time.Minute}, tr, nil)
	waitSupsComplete(t, h, ss)
	s := ss.get(h.Running()[0].Name)
	ctx := ctxT(t, 20*time.Second)
	start := func(id string, r supervisor.Restart) proc.PID {
		pid, err := s.StartChild(ctx, ChildSpec{ID: id, Kind: "worker", Restart: r})
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	stop := func(id string, normal bool) {
		if err := s.rt.Cast(s.Via(id), exitNow{normal}); err != nil {
			t.Fatalf("cast to %s: %v", id, err)
		}
	}
	start("perm", supervisor.Permanent)
	start("trans", supervisor.Transient)
	start("temp", supervisor.Temporary)
	stop("perm", true)
	stop("trans", true)
	stop("temp", false)
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, ok := s.WhereIs("trans"); ok {
			return errors.New("transient child after a normal exit still listed")
		}
		if _, ok := s.WhereIs("temp"); ok {
			return errors.New("temporary child still listed")
		}
		if tr.count("perm") != 1 {
			return errors.New("permanent child not restarted")
		}
		return nil
	})
	// Past its intensity a child is given up: one restart so far, two
	// more allowed.
	for s.Stats().GivenUp.Load() == 0 {
		pid, ok := s.WhereIs("perm")
		if !ok {
			break
		}
		stop("perm", false)
		testutil.Eventually(t, 10*time.Second, func() error {
			if now, ok := s.WhereIs("perm"); ok && now == pid {
				return errors.New("not restarted yet")
			}
			return nil
		})
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if s.Stats().GivenUp.Load() != 1 || tr.count("perm") != 0 {
			return fmt.Errorf("given up %d, running %d", s.Stats().GivenUp.Load(), tr.count("perm"))
		}
		return nil
	})
}

// TestUserPlacement: a placement of the user's (here: always the last
// candidate by name) decides where children start.
func TestUserPlacement(t *testing.T) {
	last := placement.StrategyFunc(func(_ string, cands []placement.Candidate) (string, error) {
		if len(cands) == 0 {
			return "", placement.ErrNoCandidate
		}
		return cands[len(cands)-1].Name, nil
	})
	tr := newTracker()
	h, ss := startSups(t, 3, Config{Placement: last}, tr, nil)
	ms := h.Running()
	waitSupsComplete(t, h, ss)
	ctx := ctxT(t, 30*time.Second)
	for i := range 6 {
		pid, err := ss.get(ms[i%3].Name).StartChild(ctx, ChildSpec{ID: fmt.Sprint("u", i), Kind: "worker"})
		if err != nil {
			t.Fatal(err)
		}
		if pid.Node != ms[2].Name {
			t.Fatalf("child placed on %s, the strategy picks %s", pid.Node, ms[2].Name)
		}
	}
}

package names

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/clustertest"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

func waitComplete(t testing.TB, rs *regs, ms []*clustertest.Member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, m := range ms {
		if err := rs.get(m.Name).WaitComplete(ctx); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
	}
}

func TestViaFromEveryNode(t *testing.T) {
	h, rs := startNames(t, 3, Config{}, nil)
	ms := h.Running()
	waitComplete(t, rs, ms)
	pid := spawnEcho(t, ms[0].Runtime)
	if err := rs.get(ms[0].Name).Register(pid, "session:42", "meta"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rs.get(ms[0].Name).Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		reg := rs.get(m.Name)
		got, err := proc.Call[string](ctx, m.Runtime, reg.Via("session:42"), "hi")
		if err != nil || got != ms[0].Name+":hi" {
			t.Fatalf("call from %s: %q, %v", m.Name, got, err)
		}
		if es := reg.Lookup("session:42"); len(es) != 1 || es[0].Value != "meta" || es[0].PID != pid {
			t.Fatalf("%s: Lookup %+v", m.Name, es)
		}
	}
	// Taken everywhere.
	other := spawnEcho(t, ms[1].Runtime)
	var are *AlreadyRegisteredError
	if err := rs.get(ms[1].Name).Register(other, "session:42", nil); !errors.As(err, &are) || are.PID != pid {
		t.Fatalf("second registration: %v", err)
	}
	// A miss on a complete registry is a plain miss.
	if _, err := proc.Call[string](ctx, ms[2].Runtime, rs.get(ms[2].Name).Via("nobody"), "hi"); !errors.Is(err, proc.ErrNotRegistered) || errors.Is(err, ErrIncomplete) {
		t.Fatalf("call to a missing name: %v", err)
	}
	// Update and unregister travel too.
	if _, _, err := rs.get(ms[0].Name).UpdateValue(pid, "session:42", func(any) any { return "meta2" }); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, m := range ms {
			if es := rs.get(m.Name).Lookup("session:42"); len(es) != 1 || es[0].Value != "meta2" {
				return fmt.Errorf("%s: %+v", m.Name, es)
			}
		}
		return nil
	})
	if n := rs.get(ms[0].Name).Unregister(pid, "session:42"); n != 1 {
		t.Fatalf("Unregister removed %d", n)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, m := range ms {
			if es := rs.get(m.Name).Lookup("session:42"); len(es) != 0 {
				return fmt.Errorf("%s: %+v", m.Name, es)
			}
		}
		return nil
	})
}

func TestNamesVanishWithProcessAndNode(t *testing.T) {
	h, rs := startNames(t, 3, Config{}, nil)
	ms := h.Running()
	waitComplete(t, rs, ms)
	a := spawnEcho(t, ms[1].Runtime)
	b := spawnEcho(t, ms[2].Runtime)
	for i, pid := range []proc.PID{a, b} {
		reg := rs.get(ms[i+1].Name)
		for _, k := range []string{"x" + fmt.Sprint(i), "y" + fmt.Sprint(i)} {
			if err := reg.Register(pid, k, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := rs.get(ms[0].Name).Count(); n != 4 {
			return fmt.Errorf("%d entries", n)
		}
		return nil
	})
	ms[1].Runtime.Exit(a, errors.New("boom"))
	h.Kill(2)
	testutil.Eventually(t, 20*time.Second, func() error {
		if n := rs.get(ms[0].Name).Count(); n != 0 {
			return fmt.Errorf("%d entries left on %s: %v", n, ms[0].Name, rs.get(ms[0].Name).Select(func(Entry) bool { return true }))
		}
		if n := rs.get(ms[1].Name).Count(); n != 0 {
			return fmt.Errorf("%d entries left on %s", n, ms[1].Name)
		}
		return nil
	})
	// The process with no names left is no longer watched.
	if n := len(rs.get(ms[1].Name).pids); n != 0 {
		t.Fatalf("%d processes still held", n)
	}
}

func TestRegisterErrors(t *testing.T) {
	h, rs := startNames(t, 2, Config{}, nil)
	ms := h.Running()
	reg := rs.get(ms[0].Name)
	remote := spawnEcho(t, ms[1].Runtime)
	if err := reg.Register(remote, "k", nil); !errors.Is(err, ErrNotLocal) {
		t.Fatalf("remote pid: %v", err)
	}
	pid := spawnEcho(t, ms[0].Runtime)
	ms[0].Runtime.Exit(pid, proc.ErrKill)
	testutil.Eventually(t, 5*time.Second, func() error {
		if ms[0].Runtime.Alive(pid) {
			return errors.New("alive")
		}
		return nil
	})
	if err := reg.Register(pid, "k", nil); !errors.Is(err, ErrNotAlive) {
		t.Fatalf("dead pid: %v", err)
	}
	live := spawnEcho(t, ms[0].Runtime)
	if err := reg.Register(live, "", nil); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("empty key: %v", err)
	}
	type unregistered struct{ X int }
	if err := reg.Register(live, "k", unregistered{1}); err == nil {
		t.Fatal("value of an unregistered type accepted")
	}
	if reg.Count() != 0 {
		t.Fatalf("%d entries after failed registrations", reg.Count())
	}
}

func TestDuplicateKeysAcrossNodes(t *testing.T) {
	h, rs := startNames(t, 3, Config{Name: "topics", Keys: Duplicate}, nil)
	ms := h.Running()
	waitComplete(t, rs, ms)
	want := map[proc.PID]bool{}
	for _, m := range ms {
		pid := spawnEcho(t, m.Runtime)
		want[pid] = true
		for range 2 { // twice: duplicate registries keep both
			if err := rs.get(m.Name).Register(pid, "room:lobby", m.Name); err != nil {
				t.Fatal(err)
			}
		}
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, m := range ms {
			var got int
			rs.get(m.Name).Dispatch("room:lobby", func(es []Entry) {
				for _, e := range es {
					if want[e.PID] {
						got++
					}
				}
			})
			if got != 6 {
				return fmt.Errorf("%s dispatches to %d of 6", m.Name, got)
			}
			if n := rs.get(m.Name).CountMatch("room:lobby", func(v any) bool { return v == ms[0].Name }); n != 2 {
				return fmt.Errorf("%s: CountMatch %d", m.Name, n)
			}
		}
		return nil
	})
}

func TestSubscribeSeesRemoteChanges(t *testing.T) {
	h, rs := startNames(t, 2, Config{}, nil)
	ms := h.Running()
	waitComplete(t, rs, ms)
	evs := make(chan Event, 16)
	cancel := rs.get(ms[1].Name).Subscribe(func(e Event) { evs <- e })
	defer cancel()
	pid := spawnEcho(t, ms[0].Runtime)
	if err := rs.get(ms[0].Name).Register(pid, "k", 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancelSync := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelSync()
	if err := rs.get(ms[0].Name).Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ms[0].Runtime.Exit(pid, errors.New("bye"))
	want := []struct {
		k EventKind
		r Reason
	}{{Registered, ReasonNone}, {Unregistered, ReasonExited}}
	for _, w := range want {
		select {
		case e := <-evs:
			if e.Kind != w.k || e.Reason != w.r || e.Entry.PID != pid || e.Entry.Key != "k" {
				t.Fatalf("event %+v, want %v %v", e, w.k, w.r)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %v event", w.k)
		}
	}
}

// TestJoinerIsCompleteOnlyWithEverything: while a new node has not heard
// from every member, a miss says ErrIncomplete; once complete it sees
// every entry (Horde #116).
func TestJoinerIsCompleteOnlyWithEverything(t *testing.T) {
	h, rs := startNames(t, 3, Config{}, nil)
	ms := h.Running()
	waitComplete(t, rs, ms)
	const perNode = 300
	for i, m := range ms {
		reg := rs.get(m.Name)
		for j := range perNode {
			pid := spawnEcho(t, m.Runtime)
			if err := reg.Register(pid, fmt.Sprintf("k%d-%d", i, j), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, m := range ms {
		if err := rs.get(m.Name).Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	j := h.Add()
	reg := rs.get(j.Name)
	sawIncomplete := false
	testutil.Eventually(t, 30*time.Second, func() error {
		complete := reg.Complete()
		n := reg.Count()
		if complete && n != 3*perNode {
			t.Fatalf("joiner complete with %d of %d entries", n, 3*perNode)
		}
		if !complete {
			if _, err := reg.Resolve("k2-0"); err != nil && !errors.Is(err, ErrIncomplete) {
				t.Fatalf("miss while incomplete: %v", err)
			}
			sawIncomplete = true
			return errors.New("not complete")
		}
		return nil
	})
	if !sawIncomplete {
		t.Log("joiner was complete at first look")
	}
}

// TestMemberWithoutRegistry: a member that runs no registry of this name
// holds up neither completeness nor Sync.
func TestMemberWithoutRegistry(t *testing.T) {
	h, rs := startNames(t, 3, Config{}, func(c *clustertest.Config) {
		setup := c.Setup
		c.Setup = func(m *clustertest.Member) (clustertest.Service, error) {
			if m.Index == 2 {
				return nil, nil
			}
			return setup(m)
		}
	})
	ms := h.Running()[:2]
	waitComplete(t, rs, ms)
	pid := spawnEcho(t, ms[0].Runtime)
	if err := rs.get(ms[0].Name).Register(pid, "k", nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rs.get(ms[0].Name).Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

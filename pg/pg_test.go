package pg

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

const wait = 20 * time.Second

func eventually(t *testing.T, cond func() error) {
	t.Helper()
	testutil.Eventually(t, wait, cond)
}

var errorf = testutil.Errorf

func newRuntime(t *testing.T, name string) *proc.Runtime {
	t.Helper()
	rt, err := proc.New(proc.Config{Node: name, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

// idle is a process that records what it receives.
type idle struct {
	proc.Base
	mu   sync.Mutex
	msgs []any
}

func (b *idle) HandleInfo(_ *proc.Process, msg any) {
	b.mu.Lock()
	b.msgs = append(b.msgs, msg)
	b.mu.Unlock()
}

func (b *idle) events() []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Event
	for _, m := range b.msgs {
		if e, ok := m.(Event); ok {
			out = append(out, e)
		}
	}
	return out
}

func spawn(t *testing.T, rt *proc.Runtime, n int) []proc.PID {
	t.Helper()
	out := make([]proc.PID, n)
	for i := range out {
		pid, err := rt.Spawn(&idle{})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = pid
	}
	return out
}

func TestJoinLeaveMembers(t *testing.T) {
	rt := newRuntime(t, "a@test")
	s, err := StartLocal(rt, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := spawn(t, rt, 3)
	if err := s.Join("g", p[0], p[1]); err != nil {
		t.Fatal(err)
	}
	s.Join("g", p[0]) // twice: listed twice
	s.Join("h", p[2])
	if got := s.Members("g"); !slices.Equal(sorted(got), sorted([]proc.PID{p[0], p[0], p[1]})) {
		t.Fatalf("members %v", got)
	}
	if s.Count("g") != 3 || !slices.Equal(s.Groups(), []string{"g", "h"}) {
		t.Fatalf("count %d groups %v", s.Count("g"), s.Groups())
	}
	if err := s.Leave("g", p[0]); err != nil {
		t.Fatal(err)
	}
	if got := s.LocalMembers("g"); !slices.Equal(sorted(got), sorted([]proc.PID{p[0], p[1]})) {
		t.Fatalf("after one leave %v", got)
	}
	if err := s.Leave("g", p[2]); !errors.Is(err, ErrNotJoined) {
		t.Fatalf("leave of a non-member: %v", err)
	}
	rt.Exit(p[0], proc.ErrKill)
	rt.Exit(p[2], proc.ErrKill)
	eventually(t, func() error {
		if got := s.Members("g"); !slices.Equal(got, []proc.PID{p[1]}) || len(s.Groups()) != 1 {
			return errorf("members %v groups %v", got, s.Groups())
		}
		return nil
	})
	if err := s.Join("", p[1]); !errors.Is(err, ErrInvalidGroup) {
		t.Fatal(err)
	}
	if err := s.Join("g", proc.PID{Node: "x@y", ID: 1}); !errors.Is(err, ErrNotLocal) {
		t.Fatal(err)
	}
}

func TestMonitorAndWatch(t *testing.T) {
	rt := newRuntime(t, "a@test")
	s, _ := StartLocal(rt, Config{})
	defer s.Close()
	p := spawn(t, rt, 3)
	s.Join("g", p[0])
	mon := &idle{}
	mpid, _ := rt.Spawn(mon)
	ref, cur, err := s.Monitor(mpid, "g")
	if err != nil || !slices.Equal(cur, []proc.PID{p[0]}) {
		t.Fatal(cur, err)
	}
	sref, scur, _ := s.MonitorScope(mpid)
	if len(scur) != 1 {
		t.Fatal(scur)
	}
	var mu sync.Mutex
	var watched []Event
	wcur, cancel, _ := s.Watch("g", func(e Event) { mu.Lock(); watched = append(watched, e); mu.Unlock() })
	if !slices.Equal(wcur, []proc.PID{p[0]}) {
		t.Fatal(wcur)
	}
	s.Join("g", p[1], p[2])
	s.Join("other", p[1])
	s.Leave("g", p[1])
	rt.Exit(p[2], proc.ErrKill)
	eventually(t, func() error {
		if n := len(mon.events()); n != 7 { // 3 of the group, 4 of the scope
			return errorf("monitor got %d events", n)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(watched) != 3 {
			return errorf("watch got %d", len(watched))
		}
		return nil
	})
	var group []Event
	for _, e := range mon.events() {
		if e.Ref == ref {
			group = append(group, e)
		} else if e.Ref != sref {
			t.Fatalf("event of unknown ref %v", e)
		}
	}
	want := []Event{
		{Ref: ref, Kind: Joined, Group: "g", PIDs: []proc.PID{p[1], p[2]}},
		{Ref: ref, Kind: Left, Group: "g", PIDs: []proc.PID{p[1]}},
		{Ref: ref, Kind: Left, Group: "g", PIDs: []proc.PID{p[2]}},
	}
	if len(group) != 3 {
		t.Fatalf("group events %v", group)
	}
	for i := range want {
		if group[i].Kind != want[i].Kind || !slices.Equal(group[i].PIDs, want[i].PIDs) {
			t.Fatalf("event %d: %+v, want %+v", i, group[i], want[i])
		}
	}
	cancel()
	if !s.Demonitor(ref) || s.Demonitor(ref) {
		t.Fatal("demonitor")
	}
	s.Join("g", p[0])
	mu.Lock()
	n := len(watched)
	mu.Unlock()
	if n != 3 {
		t.Fatal("event after cancel")
	}
	// A monitoring process's exit ends its monitors.
	rt.Exit(mpid, proc.ErrKill)
	eventually(t, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.mu.monitors) != 0 {
			return errorf("%d monitors left", len(s.mu.monitors))
		}
		return nil
	})
}

package raft

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

// TestNoQuorumAndNoLeader isolates the leader: it refuses commands with
// ErrNoQuorum once its links are down, and the isolated node, deposed,
// with ErrNoLeader; neither was applied anywhere.
func TestNoQuorumAndNoLeader(t *testing.T) {
	tc := newTestCluster(t, 3, 11, Config{})
	names := tc.fk.Names()
	ms := tc.startGroup("g", names)
	l := tc.leader("g", names)
	if _, err := tc.command(l, "g", addCmd(1)); err != nil {
		t.Fatal(err)
	}
	tc.fk.Network().Partition(faultkit.Isolate(names, l))
	g := tc.host(l).Group("g")
	testutil.Eventually(t, 20*time.Second, func() error {
		_, err := g.Command(ctxT(t, 2*time.Second), addCmd(100))
		if errors.Is(err, ErrNoQuorum) || errors.Is(err, ErrNoLeader) {
			return nil
		}
		return fmt.Errorf("isolated leader answers %v", err)
	})
	var rest []string
	for _, n := range names {
		if n != l {
			rest = append(rest, n)
		}
	}
	nl := tc.leader("g", rest)
	if _, err := tc.command(nl, "g", addCmd(1)); err != nil {
		t.Fatal(err)
	}
	tc.fk.Network().Heal()
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, n := range names {
			if v := ms[n].value(); v != 2 {
				return fmt.Errorf("%s has %d, want 2 (the refused commands were applied?)", n, v)
			}
		}
		return nil
	})
}

// TestPipelineAndLeaderQuery pipelines commands with correlation ids and
// reads on the leader and (refused) on a follower.
func TestPipelineAndLeaderQuery(t *testing.T) {
	tc := newTestCluster(t, 3, 12, Config{})
	names := tc.fk.Names()
	tc.startGroup("g", names)
	l := tc.leader("g", names)
	var mu sync.Mutex
	got := map[uint64]Pipelined{}
	done := make(chan struct{}, 100)
	g := tc.host(l).Group("g")
	for i := range 100 {
		if err := g.Pipeline(addCmd(1), uint64(i), 10*time.Second, func(p Pipelined) {
			mu.Lock()
			got[p.Correlation] = p
			mu.Unlock()
			done <- struct{}{}
		}); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("pipelined commands not all answered")
		}
	}
	seen := map[int64]bool{}
	for i := range uint64(100) {
		p := got[i]
		if p.Err != nil || seen[p.Reply.(int64)] {
			t.Fatalf("pipelined %d: %+v", i, p)
		}
		seen[p.Reply.(int64)] = true
	}
	v, err := g.LeaderQuery(ctxT(t, 5*time.Second), func(m Machine) (any, error) { return m.(*counter).value(), nil })
	if err != nil || v.(int64) != 100 {
		t.Fatalf("leader query: %v %v", v, err)
	}
	var f string
	for _, n := range names {
		if n != l {
			f = n
		}
	}
	var nle *NotLeaderError
	if _, err := tc.host(f).Group("g").LeaderQuery(ctxT(t, 5*time.Second), func(Machine) (any, error) { return nil, nil }); !errors.As(err, &nle) || nle.Leader != l {
		t.Fatalf("leader query on a follower: %v, want NotLeaderError naming %s", err, l)
	}
	if _, err := g.Command(ctxT(t, 5*time.Second), make([]byte, 2<<20)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a 2 MiB command: %v", err)
	}
}

// effector is a machine that asks for effects: "send" sends its index to
// a process, "timer" proposes "tick" after 50 ms, "watch N" monitors node N
// and receives "down N".
type effector struct {
	counter
	to    proc.PID
	mu    sync.Mutex
	seen  []string
	enter []Role
}

func (e *effector) Apply(index uint64, cmd []byte) (any, []Effect) {
	e.mu.Lock()
	e.seen = append(e.seen, string(cmd))
	e.mu.Unlock()
	switch s := string(cmd); {
	case s == "send":
		return nil, []Effect{Send{To: e.to, Msg: index}}
	case s == "timer":
		return nil, []Effect{Timer{Name: "t", After: 50 * time.Millisecond, Command: []byte("tick")}}
	case len(s) > 6 && s[:6] == "watch ":
		return nil, []Effect{MonitorNode{Node: s[6:], Command: []byte("down " + s[6:])}}
	}
	return nil, nil
}

func (e *effector) StateEnter(r Role) []Effect {
	e.mu.Lock()
	e.enter = append(e.enter, r)
	e.mu.Unlock()
	return nil
}

func (e *effector) has(s string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, x := range e.seen {
		if x == s {
			return true
		}
	}
	return false
}

type mailbox struct {
	proc.Base
	got chan any
}

func (m *mailbox) HandleInfo(_ *proc.Process, msg any) { m.got <- msg }

// TestEffects runs effects on the leader only: one message per command,
// timers and node monitors turned into commands.
func TestEffects(t *testing.T) {
	tc := newTestCluster(t, 3, 13, Config{})
	names := tc.fk.Names()
	box := &mailbox{got: make(chan any, 16)}
	pid, err := tc.fk.Runtime(names[0]).Spawn(box)
	if err != nil {
		t.Fatal(err)
	}
	ms := map[string]*effector{}
	for _, n := range names {
		ms[n] = &effector{to: pid}
		if _, err := tc.host(n).StartGroup(ctxT(t, 10*time.Second), GroupConfig{Name: "e", Members: names, Machine: ms[n]}); err != nil {
			t.Fatal(err)
		}
	}
	l := tc.leader("e", names)
	if _, err := tc.command(l, "e", []byte("send")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-box.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no message from the Send effect")
	}
	select {
	case m := <-box.got:
		t.Fatalf("a second message %v: the effect ran on a follower too", m)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := tc.command(l, "e", []byte("timer")); err != nil {
		t.Fatal(err)
	}
	var victim string
	for _, n := range names {
		if n != l && n != names[0] {
			victim = n
		}
	}
	if victim == "" {
		victim = names[1]
		if victim == l {
			victim = names[2]
		}
	}
	if _, err := tc.command(l, "e", []byte("watch "+victim)); err != nil {
		t.Fatal(err)
	}
	tc.kill(victim)
	testutil.Eventually(t, 20*time.Second, func() error {
		if !ms[l].has("tick") {
			return errors.New("timer command not applied")
		}
		if !ms[l].has("down " + victim) {
			return errors.New("node-down command not applied")
		}
		return nil
	})
	ms[l].mu.Lock()
	defer ms[l].mu.Unlock()
	if len(ms[l].enter) == 0 || ms[l].enter[len(ms[l].enter)-1] != Leader {
		t.Fatalf("StateEnter calls %v, want the last to be leader", ms[l].enter)
	}
}

// versioned is a counter whose snapshot format has a version.
type versioned struct {
	counter
	version uint32
	from    uint32
}

func (v *versioned) Version() uint32 { return v.version }
func (v *versioned) RestoreVersion(from uint32, b []byte) error {
	v.from = from
	return v.Restore(b)
}

// TestMachineVersion restarts a group with a newer machine (it reads the
// old snapshot through RestoreVersion) and then with an older one (it
// refuses to start).
func TestMachineVersion(t *testing.T) {
	tc := newTestCluster(t, 1, 14, Config{SnapshotEntries: 5, KeepEntries: 1})
	n := tc.fk.Names()[0]
	m1 := &versioned{version: 1}
	_, err := tc.host(n).StartGroup(ctxT(t, 10*time.Second), GroupConfig{Name: "v", Members: []string{n}, Machine: m1})
	if err != nil {
		t.Fatal(err)
	}
	tc.leader("v", []string{n})
	for range 8 {
		if _, err := tc.command(n, "v", addCmd(1)); err != nil {
			t.Fatal(err)
		}
	}
	restart := func(m Machine) error {
		tc.kill(n)
		h := tc.restart(n)
		_, err := h.StartGroup(ctxT(t, 10*time.Second), GroupConfig{Name: "v", Machine: m})
		return err
	}
	m2 := &versioned{version: 2}
	if err := restart(m2); err != nil {
		t.Fatal(err)
	}
	if m2.from != 1 {
		t.Fatalf("version 2 restored from version %d", m2.from)
	}
	// The snapshot, then the log after it: all 8 commands.
	testutil.Eventually(t, 20*time.Second, func() error {
		if v := m2.value(); v != 8 {
			return fmt.Errorf("restarted machine has %d, want 8", v)
		}
		return nil
	})
	tc.leader("v", []string{n})
	for range 8 {
		if _, err := tc.command(n, "v", addCmd(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := restart(&versioned{version: 1}); !errors.Is(err, ErrMachineVersion) {
		t.Fatalf("an older machine on a newer snapshot: %v, want ErrMachineVersion", err)
	}
}

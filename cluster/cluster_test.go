package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
)

// startCluster starts n members, each joining member 0.
func startCluster(t testing.TB, h *harness, n int) []*tmember {
	t.Helper()
	ms := []*tmember{h.start(0)}
	for i := 1; i < n; i++ {
		ms = append(ms, h.start(i, 0))
	}
	return ms
}

func TestFiveConvergeAndFailure(t *testing.T) {
	h := newHarness(t, nil)
	var rec recorder
	ms := startCluster(t, h, 5)
	cancel := ms[0].c.Subscribe(rec.add)
	defer cancel()
	waitStates(t, 5*time.Second, ms, allAlive(seq(0, 5)...))
	testutil.Eventually(t, 5*time.Second, func() error {
		for _, m := range ms {
			if got := m.nd.Nodes(); len(got) != 4 {
				return fmt.Errorf("%s linked to %v", m.c.Name(), got)
			}
		}
		return nil
	})
	for _, m := range ms {
		if !m.c.HasQuorum() || len(m.c.Reachable()) != 5 {
			t.Fatalf("%s: quorum %v reachable %v", m.c.Name(), m.c.HasQuorum(), m.c.Reachable())
		}
	}

	// A process on member 1 monitors one on member 4; member 4's host dies.
	target, err := ms[4].rt.Spawn(proc.HandlerFunc(func(*proc.Process, any) {}))
	if err != nil {
		t.Fatal(err)
	}
	downs := make(chan proc.Down, 1)
	watcher, err := ms[1].rt.Spawn(proc.HandlerFunc(func(p *proc.Process, msg any) {
		switch m := msg.(type) {
		case proc.PID:
			p.Monitor(m)
		case proc.Down:
			downs <- m
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	ms[1].rt.Send(watcher, target)
	testutil.Eventually(t, 2*time.Second, func() error {
		if info, err := ms[4].rt.Info(target); err != nil || len(info.MonitoredBy) == 0 {
			return fmt.Errorf("not monitored yet: %v %+v", err, info)
		}
		return nil
	})

	h.kill(4)
	rest := ms[:4]
	waitStates(t, 10*time.Second, rest, map[string]State{name(4): StateDead})
	testutil.Eventually(t, 5*time.Second, func() error {
		for _, m := range rest {
			if slices.Contains(m.nd.Nodes(), name(4)) {
				return fmt.Errorf("%s still linked to %s", m.c.Name(), name(4))
			}
		}
		return nil
	})
	select {
	case d := <-downs:
		if !errors.Is(d.Reason, proc.ErrNoConnection) {
			t.Fatalf("DOWN reason %v, want ErrNoConnection", d.Reason)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no DOWN for the monitored process")
	}
	for _, m := range rest {
		if !m.c.HasQuorum() {
			t.Fatalf("%s lost quorum with 4 of 5", m.c.Name())
		}
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		k := rec.kinds(name(4))
		if len(k) == 0 || k[len(k)-1] != EventFailed {
			return fmt.Errorf("events for %s: %v", name(4), k)
		}
		return nil
	})
}

func TestFiftyConverge(t *testing.T) {
	if testing.Short() {
		t.Skip("50 members")
	}
	if raceEnabled {
		// 50 members and 1,225 links in one process run several times
		// slower under the race detector, so that probes time out on
		// two cores and members are suspected while alive: the test
		// then measures the machine. The smaller clusters' tests cover
		// the same code under the detector.
		t.Skip("50 members in one process: too slow under the race detector to be a fair test of failure detection")
	}
	const n = 50
	h := newHarness(t, func(int) Config {
		c := fastConfig()
		c.ProbeInterval = 500 * time.Millisecond
		c.ProbeTimeout = 250 * time.Millisecond
		c.GossipInterval = 100 * time.Millisecond
		c.PushPullInterval = 2 * time.Second
		c.ConnectTimeout = 3 * time.Second
		return c
	})
	// 1225 node links on two cores under the race detector: heartbeats
	// must tolerate scheduling delays.
	h.nodeMod = func(c *node.Config) {
		c.Heartbeat, c.HeartbeatTimeout = 500*time.Millisecond, 3*time.Second
		c.ConnectTimeout = 3 * time.Second
	}
	start := time.Now()
	ms := []*tmember{h.start(0)}
	for i := 1; i < n; i++ {
		ms = append(ms, h.start(i, (i-1)/2)) // a tree of seeds
	}
	waitStates(t, 60*time.Second, ms, allAlive(seq(0, n)...))
	var merges uint64
	for _, m := range ms {
		merges += m.c.Stats().LinkMerges.Load()
	}
	t.Logf("%d members converged in %v (%d state exchanges for links)", n, time.Since(start), merges)

	h.kill(n - 1)
	killed := time.Now()
	rest := ms[:n-1]
	waitStates(t, 20*time.Second, rest, map[string]State{name(n - 1): StateDead})
	t.Logf("all %d saw the dead member dead after %v", n-1, time.Since(killed))
	testutil.Eventually(t, 5*time.Second, func() error {
		for _, m := range rest {
			if slices.Contains(m.nd.Nodes(), name(n-1)) {
				return fmt.Errorf("%s still linked to the dead member", m.c.Name())
			}
		}
		return nil
	})
}

func TestRestartRejoinsWithHigherIncarnation(t *testing.T) {
	h := newHarness(t, nil)
	ms := startCluster(t, h, 4)
	waitStates(t, 5*time.Second, ms, allAlive(0, 1, 2, 3))
	before, _ := ms[0].c.Member(name(3))

	h.kill(3)
	waitStates(t, 10*time.Second, ms[:3], map[string]State{name(3): StateDead})

	h.start(3, 1) // same name, same addresses, a new runtime
	all := append(ms[:3:3], h.get(3))
	waitStates(t, 10*time.Second, all, allAlive(0, 1, 2, 3))
	for _, o := range ms[:3] {
		after, _ := o.c.Member(name(3))
		if after.Incarnation <= before.Incarnation || after.Creation <= before.Creation {
			t.Fatalf("%s sees incarnation %d creation %d after restart, before %d %d",
				o.c.Name(), after.Incarnation, after.Creation, before.Incarnation, before.Creation)
		}
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if !slices.Contains(ms[0].nd.Nodes(), name(3)) {
			return fmt.Errorf("not linked to the restarted member")
		}
		return nil
	})
}

func TestFastRestartBeforeDetection(t *testing.T) {
	h := newHarness(t, nil)
	ms := startCluster(t, h, 3)
	waitStates(t, 5*time.Second, ms, allAlive(0, 1, 2))
	before, _ := ms[0].c.Member(name(2))
	h.kill(2)
	h.start(2, 0) // back at once, before the others notice
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, o := range ms[:2] {
			m, _ := o.c.Member(name(2))
			if m.State != StateAlive || m.Creation <= before.Creation {
				return fmt.Errorf("%s sees %s %v creation %d", o.c.Name(), name(2), m.State, m.Creation)
			}
		}
		return nil
	})
}

func TestPartitionQuorumAndHeal(t *testing.T) {
	h := newHarness(t, nil)
	ms := startCluster(t, h, 5)
	waitStates(t, 5*time.Second, ms, allAlive(0, 1, 2, 3, 4))
	small, big := []int{0, 1}, []int{2, 3, 4}
	cut := func(block bool) {
		for _, a := range small {
			for _, b := range big {
				if block {
					h.nw.Block(host(a), host(b))
					h.nw.Block(host(b), host(a))
				} else {
					h.nw.Unblock(host(a), host(b))
					h.nw.Unblock(host(b), host(a))
				}
			}
		}
	}
	cut(true)
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, i := range big {
			if !ms[i].c.HasQuorum() {
				return fmt.Errorf("%s (big side) has no quorum: %v", ms[i].c.Name(), states(ms[i].c))
			}
			if r := ms[i].c.Reachable(); len(r) != 3 {
				return fmt.Errorf("%s reaches %v", ms[i].c.Name(), r)
			}
		}
		for _, i := range small {
			if ms[i].c.HasQuorum() {
				return fmt.Errorf("%s (small side) has quorum: %v", ms[i].c.Name(), states(ms[i].c))
			}
		}
		return nil
	})
	// The protocol declares the other side dead; quorum does not change.
	waitStates(t, 10*time.Second, []*tmember{ms[2], ms[3], ms[4]}, map[string]State{name(0): StateDead, name(1): StateDead})
	waitStates(t, 10*time.Second, []*tmember{ms[0], ms[1]}, map[string]State{name(2): StateDead, name(3): StateDead, name(4): StateDead})
	if !ms[2].c.HasQuorum() || ms[0].c.HasQuorum() {
		t.Fatal("quorum changed once the other side was declared dead")
	}

	cut(false)
	waitStates(t, 15*time.Second, ms, allAlive(0, 1, 2, 3, 4))
	testutil.Eventually(t, 5*time.Second, func() error {
		for _, m := range ms {
			if !m.c.HasQuorum() || len(m.nd.Nodes()) != 4 {
				return fmt.Errorf("%s: quorum %v links %v", m.c.Name(), m.c.HasQuorum(), m.nd.Nodes())
			}
		}
		return nil
	})
}

func TestMetaUpdatePropagates(t *testing.T) {
	h := newHarness(t, func(i int) Config {
		c := fastConfig()
		c.Meta = Meta{Region: "eu", Zone: fmt.Sprintf("eu-%d", i), Roles: []string{"worker"}}
		return c
	})
	ms := startCluster(t, h, 3)
	waitStates(t, 5*time.Second, ms, allAlive(0, 1, 2))
	var rec recorder
	defer ms[0].c.Subscribe(rec.add)()
	m1, _ := ms[0].c.Member(name(1))
	if m1.Meta.Zone != "eu-1" || !m1.Meta.HasRole("worker") || m1.Addr != ms[1].nd.Addr() {
		t.Fatalf("member 1 as seen by 0: %+v", m1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	want := Meta{Region: "us", Zone: "us-1", Roles: []string{"worker", "api"}, Tags: map[string]string{"v": "2"}}
	if err := ms[1].c.UpdateMeta(ctx, want); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		for _, o := range ms {
			m, _ := o.c.Member(name(1))
			if !m.Meta.Equal(want.clone()) || m.Incarnation <= m1.Incarnation {
				return fmt.Errorf("%s sees %+v", o.c.Name(), m)
			}
		}
		return nil
	})
	testutil.Eventually(t, 2*time.Second, func() error {
		if !rec.has(name(1), EventUpdated) {
			return fmt.Errorf("no update event: %v", rec.kinds(name(1)))
		}
		return nil
	})
	big := Meta{Tags: map[string]string{"x": string(make([]byte, 600))}}
	if err := ms[1].c.UpdateMeta(ctx, big); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("UpdateMeta of 600 bytes: %v", err)
	}
}

func TestLeaveIsLeftNotDead(t *testing.T) {
	h := newHarness(t, nil)
	ms := startCluster(t, h, 4)
	waitStates(t, 5*time.Second, ms, allAlive(0, 1, 2, 3))
	var rec recorder
	defer ms[0].c.Subscribe(rec.add)()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ms[3].c.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ms[3].c.Leave(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Leave: %v", err)
	}
	waitStates(t, 5*time.Second, ms[:3], map[string]State{name(3): StateLeft})
	testutil.Eventually(t, 5*time.Second, func() error {
		for _, m := range ms[:3] {
			if slices.Contains(m.nd.Nodes(), name(3)) {
				return fmt.Errorf("%s still linked to the member that left", m.c.Name())
			}
			if len(m.c.Voters()) != 3 {
				return fmt.Errorf("voters %v", m.c.Voters())
			}
		}
		return nil
	})
	if rec.has(name(3), EventFailed) {
		// Allowed only if followed by left, when the dead notice overtook the intent.
		k := rec.kinds(name(3))
		if k[len(k)-1] != EventLeft {
			t.Fatalf("events %v", k)
		}
	}
	if !rec.has(name(3), EventLeft) {
		t.Fatalf("no left event: %v", rec.kinds(name(3)))
	}
}

func TestEncryptedGossip(t *testing.T) {
	key := KeyFromSecret(cookie)
	other := KeyFromSecret([]byte("another cluster"))
	h := newHarness(t, func(i int) Config {
		c := fastConfig()
		c.SecretKey = key
		if i == 2 {
			c.SecretKey = other
		}
		return c
	})
	ms := []*tmember{h.start(0), h.start(1, 0)}
	waitStates(t, 5*time.Second, ms, allAlive(0, 1))
	m2 := h.start(2, 0) // wrong key: cannot join
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := m2.c.Join(ctx, gaddr(0)); err == nil {
		t.Fatal("a member with another key joined")
	}
	if _, ok := ms[0].c.Member(name(2)); ok {
		t.Fatal("member with the wrong key is known")
	}
	testutil.Eventually(t, 2*time.Second, func() error {
		if st := ms[0].c.Stats(); st.BytesSent.Load() == 0 || st.PacketsReceived.Load() == 0 {
			return fmt.Errorf("no gossip counted")
		}
		return nil
	})
}

func TestStartErrors(t *testing.T) {
	h := newHarness(t, nil)
	m := h.start(0)
	cfg := fastConfig()
	cfg.Transport = m.ep
	if _, err := Start(context.Background(), m.nd, cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("no Bind: %v", err)
	}
	cfg.Bind = gaddr(0)
	if _, err := Start(context.Background(), m.nd, cfg); err == nil {
		t.Fatal("second member on the same address started")
	}
	cfg.Bind = "h0:7000"
	if _, err := Start(context.Background(), m.nd, cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("non-IP address: %v", err)
	}
	if err := m.c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.c.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := m.c.Join(context.Background(), gaddr(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Join after Close: %v", err)
	}
	if err := m.c.Leave(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Leave after Close: %v", err)
	}
}

func TestSeedsRetriedInBackground(t *testing.T) {
	h := newHarness(t, nil)
	m1 := h.start(1, 0) // member 0 is not up yet
	m0 := h.start(0)
	waitStates(t, 5*time.Second, []*tmember{m0, m1}, allAlive(0, 1))
}

func TestSubscribeProcess(t *testing.T) {
	h := newHarness(t, nil)
	m0 := h.start(0)
	got := make(chan Event, 16)
	pid, err := m0.rt.Spawn(proc.HandlerFunc(func(_ *proc.Process, msg any) {
		if e, ok := msg.(Event); ok {
			got <- e
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	cancel := m0.c.SubscribeProcess(pid)
	defer cancel()
	h.start(1, 0)
	select {
	case e := <-got:
		if e.Kind != EventJoined || e.Member.Name != name(1) {
			t.Fatalf("first event %v %s", e.Kind, e.Member.Name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event delivered to the process")
	}
	// A process that does not exist ends its subscription at once.
	gone := proc.PID{Node: m0.rt.Node(), ID: 1 << 40, Creation: m0.rt.Creation()}
	m0.c.SubscribeProcess(gone)()
	testutil.Eventually(t, time.Second, func() error {
		m0.c.mu.Lock()
		n := len(m0.c.mu.subs)
		m0.c.mu.Unlock()
		if n != 1 {
			return fmt.Errorf("%d subscriptions", n)
		}
		return nil
	})
}

func TestRejoinAfterLeave(t *testing.T) {
	h := newHarness(t, nil)
	ms := startCluster(t, h, 3)
	waitStates(t, 5*time.Second, ms, allAlive(0, 1, 2))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	before := ms[2].c.LocalMember()
	if err := ms[2].c.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	waitStates(t, 5*time.Second, ms[:2], map[string]State{name(2): StateLeft})
	// The same node joins again with a new Cluster.
	cfg := fastConfig()
	cfg.Bind, cfg.Transport, cfg.Seeds, cfg.Logger = gaddr(2), ms[2].ep, []string{gaddr(0)}, testLogger()
	c, err := Start(ctx, ms[2].nd, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ms[2].c = c // closed by the harness
	waitStates(t, 10*time.Second, ms, allAlive(0, 1, 2))
	if m, _ := ms[0].c.Member(name(2)); m.Incarnation <= before.Incarnation || m.Creation != before.Creation {
		t.Fatalf("rejoined as %+v, before %+v", m, before)
	}
}

func TestSubscriberOrderNeverConcurrent(t *testing.T) {
	h := newHarness(t, func(int) Config {
		c := fastConfig()
		c.DisableAutoConnect = true // the members below are made up
		return c
	})
	m := h.start(0)
	const n = 500
	var (
		inFlight, overlaps atomic.Int32
		slowRec, fastRec   recorder
	)
	defer m.c.Subscribe(func(e Event) {
		if inFlight.Add(1) > 1 {
			overlaps.Add(1)
		}
		if e.Member.Name == "p250" {
			time.Sleep(20 * time.Millisecond) // a slow callback delays only its own subscription
		}
		slowRec.add(e)
		inFlight.Add(-1)
	})()
	defer m.c.Subscribe(fastRec.add)()
	for i := range n {
		m.c.step(func(tb *table, now time.Time) []Event {
			tb.authenticated(fmt.Sprintf("p%d", i), now)
			return tb.alive(fmt.Sprintf("p%d", i), "10.9.9.9:1", wm(uint64(i+1), uint64(i+1)), now)
		})
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		slowRec.mu.Lock()
		defer slowRec.mu.Unlock()
		if len(slowRec.evs) != n || len(fastRec.kinds("p499")) != 1 {
			return fmt.Errorf("%d of %d events", len(slowRec.evs), n)
		}
		return nil
	})
	for i, e := range slowRec.evs {
		if e.Member.Name != fmt.Sprintf("p%d", i) || e.Kind != EventJoined {
			t.Fatalf("event %d is %v %s", i, e.Kind, e.Member.Name)
		}
	}
	if overlaps.Load() != 0 {
		t.Fatalf("%d concurrent calls of one subscriber", overlaps.Load())
	}
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/node/certs"
)

// tlsHarness runs members whose nodes use TLS only (no cookie), with
// certificates of ca, except the members listed in strangers, whose
// certificates come from another CA but who trust ca's certificate, as a
// stranger holding only the public ca.pem would.
func tlsHarness(t *testing.T, ca, other *certs.CA, strangers ...int) *harness {
	h := newHarness(t, nil)
	h.nodeModI = func(i int, c *node.Config) {
		issuer := ca
		if slices.Contains(strangers, i) {
			issuer = other
		}
		cert, err := issuer.Issue(name(i))
		if err != nil {
			t.Fatal(err)
		}
		c.Cookie = nil
		c.TLS = &node.TLSConfig{Certificate: cert, Roots: ca.Pool()}
	}
	return h
}

// TestStrangerWithCACertificateCannotJoin: in a TLS-only cluster a stranger
// that holds the CA's certificate (public) but no certificate it signed
// cannot join, not even with the gossip key the CA file used to give.
func TestStrangerWithCACertificateCannotJoin(t *testing.T) {
	ca, err := certs.NewCA("cluster")
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.NewCA("stranger")
	if err != nil {
		t.Fatal(err)
	}
	h := tlsHarness(t, ca, other, 9)
	// Everyone, the stranger included, also encrypts gossip with a key
	// derived from the CA certificate, as nodes once did with TLS only:
	// the key is no credential.
	keyFromCA := KeyFromSecret(ca.CertPEM())
	h.cfg = func(i int) Config {
		c := fastConfig()
		c.SecretKey = keyFromCA
		return c
	}
	ms := startCluster(t, h, 3)
	waitStates(t, 10*time.Second, ms, allAlive(0, 1, 2))

	stranger := h.start(9)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := stranger.c.Join(ctx, gaddr(0)); err == nil {
		t.Fatal("the stranger joined")
	}
	// Keep trying for a while, as its background rejoin does.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		stranger.c.Join(ctx, gaddr(1))
		for _, m := range ms {
			if _, ok := m.c.Member(name(9)); ok {
				t.Fatalf("%s lists the stranger", m.c.Name())
			}
			if v := m.c.Voters(); len(v) != 3 || !m.c.HasQuorum() {
				t.Fatalf("%s: voters %v quorum %v", m.c.Name(), v, m.c.HasQuorum())
			}
		}
		if got := stranger.c.Members(); len(got) != 1 {
			t.Fatalf("the stranger sees %v", got)
		}
	}
	st := ms[0].c.Stats()
	if st.AuthRefused.Load() == 0 {
		t.Fatalf("no refusal counted: %+v", st)
	}
}

// TestRelayedStrangerNeverListed: a member gossips about a node that never
// authenticated (memberlist learns of it, as from a careless or hostile
// peer); no member lists it or reaches it, and once the protocol declares
// it dead it is gone for good, never a dead voter.
func TestRelayedStrangerNeverListed(t *testing.T) {
	h := newHarness(t, nil)
	ms := startCluster(t, h, 3)
	waitStates(t, 5*time.Second, ms, allAlive(0, 1, 2))
	// A description of a made-up member arrives from the protocol.
	for _, m := range ms {
		m.c.step(func(tb *table, now time.Time) []Event {
			return tb.alive("ghost@h99", "10.9.9.9:7946", wm(uint64(now.UnixNano()), uint64(now.UnixNano())), now)
		})
	}
	for _, m := range ms {
		if _, ok := m.c.Member("ghost@h99"); ok || len(m.c.Members()) != 3 || len(m.c.Reachable()) != 3 {
			t.Fatalf("%s lists the ghost: %v", m.c.Name(), m.c.Members())
		}
		if !m.c.HasQuorum() {
			t.Fatalf("%s lost quorum", m.c.Name())
		}
	}
	// Declared dead by the protocol: forgotten, not a dead voter.
	for _, m := range ms {
		m.c.step(func(tb *table, now time.Time) []Event { return tb.gone("ghost@h99", now) })
		if v := m.c.Voters(); len(v) != 3 {
			t.Fatalf("%s voters %v", m.c.Name(), v)
		}
	}
}

// TestLeaveBothAtOnce: the two members of a two-member cluster leave at the
// same moment; neither waits for a notice nobody is left to hear.
func TestLeaveBothAtOnce(t *testing.T) {
	h := newHarness(t, func(int) Config { return Config{} }) // default timings: gossip every 200 ms
	ms := startCluster(t, h, 2)
	waitStates(t, 5*time.Second, ms, allAlive(0, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	errs := make(chan error, 2)
	// The second starts a moment later: the first is gone before the
	// second's notice could be gossiped the times memberlist wants.
	for i, m := range ms {
		go func() {
			time.Sleep(time.Duration(i) * 50 * time.Millisecond)
			errs <- m.c.Leave(ctx)
		}()
	}
	for range ms {
		if err := <-errs; err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Leave: %v", err)
		}
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("leaving took %v", took)
	}
	t.Logf("both left in %v", time.Since(start).Round(time.Millisecond))
}

// TestDeadVotes: a dead member stops counting toward quorum after
// DeadVoteTimeout on the side that holds a majority, never on the side
// that does not, and counts again once it is back.
func TestDeadVotes(t *testing.T) {
	h := newHarness(t, func(int) Config {
		c := fastConfig()
		c.DeadVoteTimeout = 500 * time.Millisecond
		c.ReapDeadAfter = time.Hour
		return c
	})
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
	waitStates(t, 15*time.Second, []*tmember{ms[2], ms[3], ms[4]}, map[string]State{name(0): StateDead, name(1): StateDead})
	waitStates(t, 15*time.Second, []*tmember{ms[0], ms[1]}, map[string]State{name(2): StateDead, name(3): StateDead, name(4): StateDead})
	// The big side stops counting the dead after the timeout.
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, i := range big {
			if v := ms[i].c.Voters(); len(v) != 3 || !ms[i].c.HasQuorum() {
				return fmt.Errorf("%s: voters %v quorum %v", ms[i].c.Name(), v, ms[i].c.HasQuorum())
			}
		}
		return nil
	})
	// The small side never does, however long it waits.
	waitedSince := time.Now()
	for time.Since(waitedSince) < 4*500*time.Millisecond {
		for _, i := range small {
			if v := ms[i].c.Voters(); len(v) != 5 || ms[i].c.HasQuorum() {
				t.Fatalf("%s (small side): voters %v quorum %v", ms[i].c.Name(), v, ms[i].c.HasQuorum())
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A further failure on the big side: two of the three it counts.
	h.kill(4)
	waitStates(t, 15*time.Second, []*tmember{ms[2], ms[3]}, map[string]State{name(4): StateDead})
	for _, i := range []int{2, 3} {
		if !ms[i].c.HasQuorum() {
			t.Fatalf("%s lost quorum with two of the three members it counts", ms[i].c.Name())
		}
	}
	// Heal: the members back count again.
	cut(false)
	waitStates(t, 20*time.Second, ms[:4], allAlive(0, 1, 2, 3))
	testutil.Eventually(t, 5*time.Second, func() error {
		for _, m := range ms[:4] {
			if v := m.c.Voters(); !slices.Contains(v, name(0)) || !slices.Contains(v, name(2)) || !m.c.HasQuorum() {
				return fmt.Errorf("%s: voters %v quorum %v", m.c.Name(), v, m.c.HasQuorum())
			}
		}
		return nil
	})
}

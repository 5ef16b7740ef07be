package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/node/certs"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport"
)

func tcp() transport.Transport { return transport.NewTCP(transport.TCPConfig{}) }

// exchange checks that a and b carry a call both ways.
func exchange(t *testing.T, a, b *testNode) {
	t.Helper()
	ctx := context.Background()
	for _, pair := range [][2]*testNode{{a, b}, {b, a}} {
		srv := spawn(t, pair[1].rt, echo{})
		if v, err := pair[0].rt.Call(ctx, srv, "over the link"); err != nil || v != "over the link" {
			t.Fatalf("%s → %s: %v %v", pair[0].n.Name(), pair[1].n.Name(), v, err)
		}
	}
}

func TestTCPWithCookie(t *testing.T) {
	a := startNode(t, "a@127.0.0.1", tcp(), "127.0.0.1:0", nil)
	b := startNode(t, "b@127.0.0.1", tcp(), "127.0.0.1:0", nil)
	if err := a.n.Connect(context.Background(), "b@127.0.0.1", b.n.Addr()); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
}

func tlsFor(t *testing.T, ca *certs.CA, name string) func(*Config) {
	t.Helper()
	cert, err := ca.Issue(name)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) {
		c.Cookie = nil
		c.TLS = &TLSConfig{Certificate: cert, Roots: ca.Pool()}
	}
}

func TestTCPWithMutualTLS(t *testing.T) {
	ca, err := certs.NewCA("grove test")
	if err != nil {
		t.Fatal(err)
	}
	a := startNode(t, "a@127.0.0.1", tcp(), "127.0.0.1:0", tlsFor(t, ca, "a@127.0.0.1"))
	b := startNode(t, "b@127.0.0.1", tcp(), "127.0.0.1:0", tlsFor(t, ca, "b@127.0.0.1"))
	if err := a.n.Connect(context.Background(), "b@127.0.0.1", b.n.Addr()); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
}

func TestRefusedLinks(t *testing.T) {
	ca, _ := certs.NewCA("grove test")
	other, _ := certs.NewCA("another CA")
	wrongName, _ := ca.Issue("mallory@127.0.0.1")
	cases := []struct {
		name   string
		dialer func(*Config)
	}{
		{"wrong cookie", func(c *Config) { c.Cookie = []byte("not the cookie") }},
		{"untrusted certificate", tlsFor(t, other, "a@127.0.0.1")},
		{"certificate of another node", func(c *Config) {
			c.Cookie = nil
			c.TLS = &TLSConfig{Certificate: wrongName, Roots: ca.Pool()}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			serverCfg := func(c *Config) {}
			if tc.name != "wrong cookie" {
				serverCfg = tlsFor(t, ca, "b@127.0.0.1")
			}
			b := startNode(t, "b@127.0.0.1", tcp(), "127.0.0.1:0", serverCfg)
			a := startNode(t, "a@127.0.0.1", tcp(), "127.0.0.1:0", tc.dialer)
			err := a.n.Connect(context.Background(), "b@127.0.0.1", b.n.Addr())
			if !errors.Is(err, proc.ErrNoConnection) {
				t.Fatalf("connect = %v, want a refusal", err)
			}
			eventually(t, func() error {
				if b.n.Stats().Refused.Load() == 0 {
					return fmt.Errorf("server counted no refusal")
				}
				return nil
			})
			if len(a.n.Nodes())+len(b.n.Nodes()) != 0 {
				t.Fatal("a refused link was registered")
			}
		})
	}
}

func TestDuplicateNameIsRefused(t *testing.T) {
	nw := newNet(t)
	b := startNode(t, "b@mem", nw.Endpoint("b"), "b:1", nil)
	a1 := startNode(t, "a@mem", nw.Endpoint("a1"), "a1:1", nil)
	if err := a1.n.Connect(context.Background(), "b@mem", "b:1"); err != nil {
		t.Fatal(err)
	}
	// A second node claiming the same name and incarnation is an impostor
	// or a bug; make one by reusing the runtime's creation.
	a2 := startNode(t, "a@mem", nw.Endpoint("a2"), "a2:1", nil)
	a2.n.hs.Creation = a1.rt.Creation()
	if err := a2.n.Connect(context.Background(), "b@mem", "b:1"); err == nil {
		t.Fatal("duplicate node accepted")
	}
	exchange(t, a1, b)
}

func TestRestartedNodeIsANewIncarnation(t *testing.T) {
	nw := newNet(t)
	a := startNode(t, "a@mem", nw.Endpoint("a"), "a:1", nil)
	b1 := startNode(t, "b@mem", nw.Endpoint("b"), "b:1", nil)
	if err := a.n.Connect(context.Background(), "b@mem", "b:1"); err != nil {
		t.Fatal(err)
	}
	old := spawn(t, b1.rt, echo{})
	watcher := newInbox()
	wp := spawn(t, a.rt, watcher)
	monitorFrom(t, a.rt, wp, old)
	b1.close()
	nw.Endpoint("b").Close()
	if d := watcher.recv(t).(proc.Down); !errors.Is(d.Reason, proc.ErrNoConnection) {
		t.Fatalf("down %#v", d)
	}
	b2 := startNode(t, "b@mem", nw.Endpoint("b2"), "b:1", nil)
	// a keeps b wanted and redials it.
	eventually(t, func() error {
		if len(a.n.Nodes()) != 1 {
			return fmt.Errorf("not reconnected")
		}
		return nil
	})
	exchange(t, a, b2)
	// The old incarnation's PID names no process of the new one.
	if _, err := a.rt.Call(context.Background(), old, "x"); !errors.Is(err, proc.ErrNoProc) {
		t.Fatalf("call to old incarnation: %v", err)
	}
}

func TestSilentPartitionIsDetectedByHeartbeat(t *testing.T) {
	a, b, nw := memPair(t)
	target := spawn(t, b.rt, echo{})
	watcher := newInbox()
	wp := spawn(t, a.rt, watcher)
	monitorFrom(t, a.rt, wp, target)
	nw.Block("a", "b")
	nw.Block("b", "a")
	if d := watcher.recv(t).(proc.Down); !errors.Is(d.Reason, proc.ErrNoConnection) {
		t.Fatalf("down %#v", d)
	}
	nw.Unblock("a", "b")
	nw.Unblock("b", "a")
	eventually(t, func() error {
		if len(a.n.Nodes()) != 1 {
			return fmt.Errorf("not reconnected after heal")
		}
		return nil
	})
	exchange(t, a, b)
}

func TestSimultaneousConnectKeepsOneLink(t *testing.T) {
	for range 10 {
		nw := newNet(t)
		a := startNode(t, "a@mem", nw.Endpoint("a"), "a:1", nil)
		b := startNode(t, "b@mem", nw.Endpoint("b"), "b:1", nil)
		errs := make(chan error, 2)
		go func() { errs <- a.n.Connect(context.Background(), "b@mem", "b:1") }()
		go func() { errs <- b.n.Connect(context.Background(), "a@mem", "a:1") }()
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		exchange(t, a, b)
		if a.n.Stats().Connects.Load() != 1 || b.n.Stats().Connects.Load() != 1 {
			t.Fatalf("links registered: a %d, b %d", a.n.Stats().Connects.Load(), b.n.Stats().Connects.Load())
		}
		a.close()
		b.close()
	}
}

// A dial that others waited for succeeded, but its link died before they
// looked: they get ErrNoConnection, not a nil link.
func TestWaiterOfADialWhoseLinkDied(t *testing.T) {
	nw := newNet(t)
	a := startNode(t, "a@mem", nw.Endpoint("a"), "a:1", nil)
	d := &dialing{done: make(chan struct{})}
	close(d.done) // succeeded (no error), and no link is registered
	p, err := a.n.waitDial(context.Background(), "b@mem", d)
	if p != nil || !errors.Is(err, proc.ErrNoConnection) {
		t.Fatalf("waitDial = %v, %v; want no link and ErrNoConnection", p, err)
	}
	d = &dialing{done: make(chan struct{}), err: errors.New("refused")}
	close(d.done)
	if _, err := a.n.waitDial(context.Background(), "b@mem", d); err == nil || err.Error() != "refused" {
		t.Fatalf("failed attempt: %v", err)
	}
}

func TestFailedConnectKeepsTrying(t *testing.T) {
	nw := newNet(t)
	a := startNode(t, "a@mem", nw.Endpoint("a"), "a:1", nil)
	if err := a.n.Connect(context.Background(), "b@mem", "b:1"); err == nil {
		t.Fatal("connected to a node that is not there")
	}
	b := startNode(t, "b@mem", nw.Endpoint("b"), "b:1", nil)
	eventually(t, func() error {
		if len(a.n.Nodes()) != 1 {
			return fmt.Errorf("a has not reached b yet")
		}
		return nil
	})
	exchange(t, a, b)
}

// TestWrongCookieIsReportedPromptly dials a node whose name sorts lower
// with a wrong cookie: the refusal is final at once, not taken for the
// simultaneous-dial tie-break and waited on for the connect timeout, and
// the error says "no connection" once.
func TestWrongCookieIsReportedPromptly(t *testing.T) {
	nw := newNet(t)
	slow := func(c *Config) { c.ConnectTimeout = 10 * time.Second }
	a := startNode(t, "a@mem", nw.Endpoint("a"), "a:1", slow)
	b := startNode(t, "b@mem", nw.Endpoint("b"), "b:1", func(c *Config) {
		slow(c)
		c.Cookie = []byte("not the cookie")
	})
	start := time.Now()
	b.n.AddAddress("a@mem", "a:1")
	srv := spawn(t, a.rt, echo{})
	_, err := b.rt.Call(context.Background(), srv, "hello")
	if !errors.Is(err, proc.ErrNoConnection) {
		t.Fatalf("call with a wrong cookie: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("wrong cookie reported after %v (connect timeout 10s)", d)
	}
	if s := err.Error(); strings.Count(s, proc.ErrNoConnection.Error()) != 1 {
		t.Fatalf("error stutters: %q", s)
	}
	// The dialled side proves first: the dialer refuses its proof.
	if got := b.n.Stats().Refusals()["bad_cookie"]; got == 0 {
		t.Fatalf("dialer's refusals: %v", b.n.Stats().Refusals())
	}
	eventually(t, func() error {
		if got := a.n.Stats().Refusals()["bad_cookie"]; got == 0 {
			return fmt.Errorf("server's refusals: %v", a.n.Stats().Refusals())
		}
		return nil
	})
}

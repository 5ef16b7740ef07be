package peerset

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server records the changes its set reports.
type server struct {
	proc.Base
	set *Set
	mu  sync.Mutex
	log []Change
}

func (s *server) Init(p *proc.Process) error { s.set.Start(p); return nil }

func (s *server) HandleInfo(p *proc.Process, msg any) {
	changes, _ := s.set.Handle(p, msg)
	s.mu.Lock()
	s.log = append(s.log, changes...)
	s.mu.Unlock()
}

func (s *server) changes() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Change(nil), s.log...)
}

const service = "test.peerset"

func start(t *testing.T, c *faultkit.Cluster, name string) (*server, proc.PID) {
	t.Helper()
	s := &server{set: New(c.Node(name), service)}
	pid, err := c.Runtime(name).Spawn(s, proc.WithName(service))
	if err != nil {
		t.Fatal(err)
	}
	return s, pid
}

// waitPeer waits until s knows pid as its peer and its last change says so.
func waitPeer(t *testing.T, s *server, pid proc.PID) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		ps := s.set.Peers()
		ch := s.changes()
		if len(ps) != 1 || ps[0].PID != pid || len(ch) == 0 || !ch[len(ch)-1].Up || ch[len(ch)-1].Peer.PID != pid {
			return testutil.Errorf("peers %v, changes %v", ps, ch)
		}
		return nil
	})
}

// The set finds the peer, loses it when its server stops, when the link
// resets and when its node restarts, and finds it again each time.
func TestPeers(t *testing.T) {
	c, err := faultkit.NewCluster(context.Background(), faultkit.ClusterConfig{Size: 2, Register: RegisterTypes})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, b := c.Names()[0], c.Names()[1]
	sa, pa := start(t, c, a)
	sb, pb := start(t, c, b)
	waitPeer(t, sa, pb)
	waitPeer(t, sb, pa)

	// b's server stops and starts again: a sees it go and come back.
	if err := Stop(c.Runtime(b), pb); err != nil {
		t.Fatal(err)
	}
	// The set forgets the peer before its server has handled the change:
	// wait for both.
	testutil.Eventually(t, 20*time.Second, func() error {
		if sa.set.Len() != 0 {
			return testutil.Errorf("peers %v", sa.set.Peers())
		}
		if ch := sa.changes(); ch[len(ch)-1].Up {
			return testutil.Errorf("last change %+v", ch[len(ch)-1])
		}
		return nil
	})
	// The reason is the server's, or noproc when the set's monitor of it
	// reached b's node after the server had stopped (as in Erlang).
	if r := sa.changes(); !errors.Is(r[len(r)-1].Reason, proc.ErrShutdown) && !errors.Is(r[len(r)-1].Reason, proc.ErrNoProc) {
		t.Fatalf("last change %+v", r[len(r)-1])
	}
	sb, pb = start(t, c, b)
	waitPeer(t, sa, pb)

	// The link resets: both lose each other, and greet again once it is back.
	n := len(sa.changes())
	c.Network().Memnet().ResetLink(a, b)
	testutil.Eventually(t, 20*time.Second, func() error {
		ch := sa.changes()
		for _, x := range ch[n:] {
			if !x.Up && errors.Is(x.Reason, proc.ErrNoConnection) {
				return nil
			}
		}
		return testutil.Errorf("no down after the reset: %v", ch[n:])
	})
	waitPeer(t, sa, pb)
	waitPeer(t, sb, pa)

	// b's node restarts: a drops the old server and finds the new one.
	if err := c.Restart(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	_, pb2 := start(t, c, b)
	waitPeer(t, sa, pb2)
	if pb2.Creation == pb.Creation || sa.set.Current(pb) || !sa.set.Current(pb2) {
		t.Fatalf("old %v new %v", pb, pb2)
	}
}

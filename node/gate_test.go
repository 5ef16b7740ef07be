package node

import (
	"net"
	"testing"
	"time"
)

// addrConn is a net.Conn with a fixed remote address that records Close.
type addrConn struct {
	net.Conn
	addr   net.Addr
	closed bool
}

func (c *addrConn) RemoteAddr() net.Addr { return c.addr }
func (c *addrConn) Close() error         { c.closed = true; return nil }

func connFrom(ip string, port int) *addrConn {
	return &addrConn{addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: port}}
}

func TestGateCapsPerAddress(t *testing.T) {
	g := newGate(100, 3)
	now := time.Unix(0, 0)
	var ps []*pending
	for i := range 3 {
		p, kind := g.admit(connFrom("10.0.0.1", 1000+i), now)
		if p == nil {
			t.Fatalf("connection %d refused: %v", i, kind)
		}
		ps = append(ps, p)
	}
	if p, kind := g.admit(connFrom("10.0.0.1", 2000), now); p != nil || kind != refusedLimitAddr {
		t.Fatalf("fourth from one address: %v %v", p, kind)
	}
	if p, _ := g.admit(connFrom("10.0.0.2", 1), now); p == nil {
		t.Fatal("another address refused")
	}
	g.leave(ps[0])
	if p, _ := g.admit(connFrom("10.0.0.1", 3000), now); p == nil {
		t.Fatal("a freed slot was not reusable")
	}
	if g.inFlight() != 4 {
		t.Fatalf("in flight %d, want 4", g.inFlight())
	}
}

func TestGateEvictsFromTheBusiestAddress(t *testing.T) {
	g := newGate(4, 10)
	now := time.Unix(0, 0)
	var flood []*addrConn
	for i := range 4 {
		c := connFrom("10.0.0.1", i)
		if p, _ := g.admit(c, now); p == nil {
			t.Fatal("flood refused below the cap")
		}
		flood = append(flood, c)
	}
	// The flooder cannot add more: the total is reached and it is the
	// busiest address itself.
	if p, kind := g.admit(connFrom("10.0.0.1", 99), now); p != nil || kind != refusedLimitTotal {
		t.Fatalf("flooder past the total: %v %v", p, kind)
	}
	// A newcomer evicts the flooder's oldest handshake.
	p, _ := g.admit(connFrom("10.0.0.9", 1), now)
	if p == nil {
		t.Fatal("newcomer locked out by a single flooding address")
	}
	if !flood[0].closed {
		t.Fatal("the oldest flood connection was not closed")
	}
	if g.inFlight() != 4 {
		t.Fatalf("in flight %d, want 4", g.inFlight())
	}
	// Equal shares do not evict each other.
	g2 := newGate(2, 2)
	g2.admit(connFrom("10.0.0.1", 1), now)
	g2.admit(connFrom("10.0.0.2", 1), now)
	if p, kind := g2.admit(connFrom("10.0.0.3", 1), now); p != nil || kind != refusedLimitTotal {
		t.Fatalf("evicted from an address holding one: %v %v", p, kind)
	}
}

func TestGateLeaveReportsEviction(t *testing.T) {
	now := time.Unix(0, 0)
	// Fill a gate of two with two handshakes from one address.
	g := newGate(2, 2)
	p1, _ := g.admit(connFrom("10.0.0.1", 1), now)
	p2, _ := g.admit(connFrom("10.0.0.1", 2), now)
	p3, _ := g.admit(connFrom("10.0.0.2", 1), now)
	if p3 == nil {
		t.Fatal("newcomer refused")
	}
	if !g.leave(p1) {
		t.Fatal("evicted handshake not reported as evicted")
	}
	if g.leave(p2) || g.leave(p3) {
		t.Fatal("handshakes that were not evicted reported as evicted")
	}
	if g.inFlight() != 0 {
		t.Fatalf("in flight %d after all left", g.inFlight())
	}
	// Leaving twice frees one slot only.
	g.leave(p2)
	if g.inFlight() != 0 {
		t.Fatalf("in flight %d after a double leave", g.inFlight())
	}
}

package node

import (
	"net"
	"sync"
	"time"
)

// gate bounds what connections that have not authenticated yet may hold:
// at most maxTotal handshakes in flight, at most maxPerAddr from one remote
// address. Each admitted connection costs one goroutine and the handshake's
// small buffers until it authenticates, fails, or its deadline passes.
//
// When the total is reached, a connection from an address holding fewer
// handshakes than the busiest address evicts that address's oldest one, so
// that a flood from a few addresses cannot lock out a node dialling from
// another; a flood spread over more addresses than maxTotal can.
type gate struct {
	maxTotal, maxPerAddr int

	mu struct {
		sync.Mutex
		total  int
		byAddr map[string][]*pending // oldest first
	}
}

// pending is an admitted connection that has not authenticated yet.
type pending struct {
	conn    net.Conn
	addr    string
	since   time.Time
	evicted bool // guarded by gate.mu
	left    bool // guarded by gate.mu
}

func newGate(maxTotal, maxPerAddr int) *gate {
	g := &gate{maxTotal: maxTotal, maxPerAddr: maxPerAddr}
	g.mu.byAddr = make(map[string][]*pending)
	return g
}

// remoteHost is the address a connection is counted under: the IP of a
// TCP peer, the whole address otherwise.
func remoteHost(conn net.Conn) string {
	a := conn.RemoteAddr()
	if a == nil {
		return ""
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	s := a.String()
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}

// admit lets conn start its handshake, or refuses it with the kind of
// limit it hit. An evicted connection is closed here; its handshake then
// fails on its own goroutine.
func (g *gate) admit(conn net.Conn, now time.Time) (*pending, refusal) {
	addr := remoteHost(conn)
	g.mu.Lock()
	mine := len(g.mu.byAddr[addr])
	if mine >= g.maxPerAddr {
		g.mu.Unlock()
		return nil, refusedLimitAddr
	}
	var victim *pending
	if g.mu.total >= g.maxTotal {
		victim = g.victimLocked(mine)
		if victim == nil {
			g.mu.Unlock()
			return nil, refusedLimitTotal
		}
		victim.evicted = true
		g.removeLocked(victim)
	}
	p := &pending{conn: conn, addr: addr, since: now}
	g.mu.byAddr[addr] = append(g.mu.byAddr[addr], p)
	g.mu.total++
	g.mu.Unlock()
	if victim != nil {
		victim.conn.Close()
	}
	return p, 0
}

// victimLocked picks the oldest handshake of the address holding the most,
// if it holds more than mine+1 (evicting from an equal share would only
// trade one flooder's connection for another's).
func (g *gate) victimLocked(mine int) *pending {
	var best []*pending
	for _, ps := range g.mu.byAddr {
		if len(ps) > len(best) {
			best = ps
		}
	}
	if len(best) <= mine+1 {
		return nil
	}
	return best[0]
}

func (g *gate) removeLocked(p *pending) {
	if p.left {
		return
	}
	p.left = true
	ps := g.mu.byAddr[p.addr]
	for i, q := range ps {
		if q == p {
			ps = append(ps[:i], ps[i+1:]...)
			break
		}
	}
	if len(ps) == 0 {
		delete(g.mu.byAddr, p.addr)
	} else {
		g.mu.byAddr[p.addr] = ps
	}
	g.mu.total--
}

// leave ends p's handshake slot and reports whether p was evicted.
func (g *gate) leave(p *pending) (evicted bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removeLocked(p)
	return p.evicted
}

// inFlight returns the number of handshakes in flight.
func (g *gate) inFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mu.total
}

// Package connlimit bounds what peers that have not authenticated yet can
// hold on a server: at most MaxPerHost connections from one host and
// MaxTotal in all. A connection takes a slot when it is accepted and gives
// it back once its peer has authenticated (or it closes). A host over its
// share is refused at once; when every slot is taken, the oldest connection
// of the host holding the most slots is closed to make room, if that host
// holds at least two more than the newcomer's (evicting from an equal share
// would only trade one flooder's connection for another's), and the
// newcomer is refused otherwise. So a flood from a few hosts neither grows
// without bound nor locks out a legitimate peer from another host, whose
// handshake needs a slot for a few milliseconds only; a flood spread over
// more hosts than MaxTotal can. An IPv6 "host" is its /64 network (see
// Host): a single subscriber or cloud instance commonly holds a whole /64,
// so counting its addresses one by one would hand it 2^64 shares.
//
// # Usage
//
//	lim := connlimit.New(connlimit.Config{})
//	conn, _ := ln.Accept()
//	slot, err := lim.Admit(connlimit.Host(conn.RemoteAddr()), conn)
//	if err != nil { conn.Close(); ... } // ErrHostFull, ErrFull: counted, refused
//	peer, err := authenticate(conn)     // bounded by a deadline
//	if !slot.Release() { ... }          // false: evicted meanwhile (conn was closed)
package connlimit

import (
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
)

// Errors of Admit.
var (
	// ErrHostFull: the host holds MaxPerHost slots.
	ErrHostFull = errors.New("connlimit: too many unauthenticated connections from this host")
	// ErrFull: all MaxTotal slots are taken, by hosts holding no more
	// than the newcomer's host plus one.
	ErrFull = errors.New("connlimit: too many unauthenticated connections")
)

// Config bounds the slots. Zero fields mean the defaults.
type Config struct {
	// MaxTotal bounds the connections holding a slot. Default 256.
	MaxTotal int
	// MaxPerHost bounds the slots of one host. Default 16.
	MaxPerHost int
}

// Stats counts the limiter's decisions.
type Stats struct {
	Admitted atomic.Uint64 // slots given
	Refused  atomic.Uint64 // Admit calls refused with ErrHostFull or ErrFull
	Evicted  atomic.Uint64 // slots taken back to make room, their connections closed
}

// Limiter hands out slots. It is safe for concurrent use.
type Limiter struct {
	cfg   Config
	stats Stats

	mu struct {
		sync.Mutex
		hosts map[string][]*Slot // by host, oldest first
		total int
	}
}

// New returns a limiter.
func New(cfg Config) *Limiter {
	if cfg.MaxTotal <= 0 {
		cfg.MaxTotal = 256
	}
	if cfg.MaxPerHost <= 0 {
		cfg.MaxPerHost = 16
	}
	l := &Limiter{cfg: cfg}
	l.mu.hosts = map[string][]*Slot{}
	return l
}

// Stats returns the limiter's counters.
func (l *Limiter) Stats() *Stats { return &l.stats }

// Pending returns how many slots are taken.
func (l *Limiter) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.total
}

// Slot is one connection's claim; Release gives it back.
type Slot struct {
	l       *Limiter
	host    string
	c       io.Closer
	held    bool // guarded by l.mu
	evicted bool // guarded by l.mu
}

// Admit takes a slot for c, a connection from host. It refuses with
// ErrHostFull when host holds MaxPerHost slots; when all MaxTotal slots are
// taken it evicts the oldest slot of the host holding the most, and closes
// that slot's connection, or refuses with ErrFull if that host holds fewer
// than two more slots than host.
func (l *Limiter) Admit(host string, c io.Closer) (*Slot, error) {
	s := &Slot{l: l, host: host, c: c, held: true}
	var victim *Slot
	l.mu.Lock()
	mine := len(l.mu.hosts[host])
	if mine >= l.cfg.MaxPerHost {
		l.mu.Unlock()
		l.stats.Refused.Add(1)
		return nil, ErrHostFull
	}
	if l.mu.total >= l.cfg.MaxTotal {
		if victim = l.evictLocked(mine); victim == nil {
			l.mu.Unlock()
			l.stats.Refused.Add(1)
			return nil, ErrFull
		}
	}
	l.mu.hosts[host] = append(l.mu.hosts[host], s)
	l.mu.total++
	l.mu.Unlock()
	l.stats.Admitted.Add(1)
	if victim != nil {
		l.stats.Evicted.Add(1)
		victim.c.Close()
	}
	return s, nil
}

// evictLocked takes back the oldest slot of the host that holds the most,
// if it holds more than mine+1.
func (l *Limiter) evictLocked(mine int) *Slot {
	var worst string
	most := 0
	for h, ss := range l.mu.hosts {
		if len(ss) > most || len(ss) == most && h < worst {
			worst, most = h, len(ss)
		}
	}
	if most <= mine+1 {
		return nil
	}
	v := l.mu.hosts[worst][0]
	l.removeLocked(v)
	v.evicted = true
	return v
}

func (l *Limiter) removeLocked(s *Slot) {
	ss := l.mu.hosts[s.host]
	if i := slices.Index(ss, s); i >= 0 {
		ss = slices.Delete(ss, i, i+1)
	}
	if len(ss) == 0 {
		delete(l.mu.hosts, s.host)
	} else {
		l.mu.hosts[s.host] = ss
	}
	s.held = false
	l.mu.total--
}

// Release gives the slot back. It reports false if the slot had been
// evicted (its connection closed by the limiter). It is idempotent.
func (s *Slot) Release() bool {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.held {
		l.removeLocked(s)
	}
	return !s.evicted
}

// Host returns the key a connection's slots are counted under: the IP of
// an IPv4 peer (an IPv4-mapped IPv6 address counts as IPv4), the /64
// network of an IPv6 peer written "2001:db8:1:2::/64", the host of any
// other "host:port" string, or the whole string.
func Host(a net.Addr) string {
	if a == nil {
		return ""
	}
	if t, ok := a.(*net.TCPAddr); ok {
		return ipKey(t.IP)
	}
	s := a.String()
	if h, _, err := net.SplitHostPort(s); err == nil {
		if ip := net.ParseIP(h); ip != nil {
			return ipKey(ip)
		}
		return h
	}
	return s
}

func ipKey(ip net.IP) string {
	if ip.To4() != nil || len(ip) != net.IPv6len {
		return ip.String()
	}
	n := net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}
	return n.String()
}

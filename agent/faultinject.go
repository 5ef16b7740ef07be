package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/grovedev/grove/transport"
)

// Fault injection (--fault-injection, off by default) cuts this node off
// from named peers inside Grove's own transport, for node links and gossip
// alike, so that a real partition can be made between node processes
// without root or firewall rules:
//
//	GET    /v1/faults               the blocked peers and what the layer dropped
//	PUT    /v1/faults/block/{node}  block the peer: its node link and gossip addresses
//	DELETE /v1/faults/block/{node}  unblock it
//	DELETE /v1/faults               unblock every peer
//
// A blocked peer's connections that this node dialed go silent in both
// directions (writes are lost, reads see nothing until their deadline), as
// a network partition leaves them, and dials to its addresses fail. A
// connection the peer dialed carries no name this layer could check, so a
// full partition blocks on both sides: each node blocks the other. A
// connection silenced once stays silent; the links and gossip of the healed
// network are new connections.

// faults is the shared state of the fault layer of one agent.
type faults struct {
	log *slog.Logger

	mu      sync.Mutex
	blocked map[string][]string // peer name -> its addresses
	addrs   map[string]bool     // union of blocked addresses
	conns   map[*faultConn]struct{}

	lostWrites    atomic.Uint64 // writes discarded on silenced connections
	lostBytes     atomic.Uint64
	refusedDials  atomic.Uint64
	silencedConns atomic.Uint64
}

func newFaults(log *slog.Logger) *faults {
	return &faults{log: log, blocked: map[string][]string{}, addrs: map[string]bool{}, conns: map[*faultConn]struct{}{}}
}

// wrap puts the fault layer around inner.
func (f *faults) wrap(inner transport.Transport) transport.Transport {
	return &faultTransport{f: f, inner: inner}
}

// errBlocked is what a dial to a blocked peer returns.
var errBlocked = errors.New("blocked by fault injection")

// block silences every connection to addrs of peer and refuses new ones.
func (f *faults) block(peer string, addrs []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocked[peer] = addrs
	f.rebuildLocked()
	for c := range f.conns {
		if f.addrs[c.addr] && c.silenced.CompareAndSwap(false, true) {
			f.silencedConns.Add(1)
		}
	}
	f.log.Warn("fault injection: peer blocked", slog.String("peer", peer), slog.Any("addrs", addrs))
}

// unblock lets new connections to peer through; false if it was not
// blocked.
func (f *faults) unblock(peer string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.blocked[peer]; !ok {
		return false
	}
	delete(f.blocked, peer)
	f.rebuildLocked()
	f.log.Warn("fault injection: peer unblocked", slog.String("peer", peer))
	return true
}

func (f *faults) unblockAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.blocked)
	f.rebuildLocked()
	f.log.Warn("fault injection: every peer unblocked")
}

func (f *faults) rebuildLocked() {
	clear(f.addrs)
	for _, as := range f.blocked {
		for _, a := range as {
			f.addrs[a] = true
		}
	}
}

func (f *faults) isBlocked(addr string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addrs[addr]
}

func (f *faults) track(c *faultConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns[c] = struct{}{}
	if f.addrs[c.addr] && c.silenced.CompareAndSwap(false, true) {
		f.silencedConns.Add(1)
	}
}

func (f *faults) untrack(c *faultConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, c)
}

// faultsStatus is the answer of GET /v1/faults.
type faultsStatus struct {
	Blocked         map[string][]string `json:"blocked"`
	LostWrites      uint64              `json:"lost_writes"`
	LostBytes       uint64              `json:"lost_bytes"`
	RefusedDials    uint64              `json:"refused_dials"`
	SilencedConns   uint64              `json:"silenced_connections"`
	OpenDialedConns int                 `json:"open_dialed_connections"`
}

func (f *faults) status() faultsStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := faultsStatus{Blocked: map[string][]string{}, LostWrites: f.lostWrites.Load(), LostBytes: f.lostBytes.Load(),
		RefusedDials: f.refusedDials.Load(), SilencedConns: f.silencedConns.Load(), OpenDialedConns: len(f.conns)}
	for p, as := range f.blocked {
		st.Blocked[p] = slices.Clone(as)
	}
	return st
}

type faultTransport struct {
	f     *faults
	inner transport.Transport
}

func (t *faultTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if t.f.isBlocked(addr) {
		t.f.refusedDials.Add(1)
		return nil, fmt.Errorf("dial %s: %w", addr, errBlocked)
	}
	c, err := t.inner.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	fc := &faultConn{Conn: c, f: t.f, addr: addr}
	t.f.track(fc)
	return fc, nil
}

// Listen passes through: an accepted connection names no peer this layer
// could check (see the comment at the top of the file).
func (t *faultTransport) Listen(ctx context.Context, addr string) (net.Listener, error) {
	return t.inner.Listen(ctx, addr)
}

func (t *faultTransport) Close() error { return t.inner.Close() }

// faultConn is a dialed connection; once silenced, what is written is lost
// and what arrives is discarded, deadlines and Close still working.
type faultConn struct {
	net.Conn
	f        *faults
	addr     string
	silenced atomic.Bool
	once     sync.Once
}

func (c *faultConn) Write(b []byte) (int, error) {
	if c.silenced.Load() {
		c.f.lostWrites.Add(1)
		c.f.lostBytes.Add(uint64(len(b)))
		return len(b), nil
	}
	return c.Conn.Write(b)
}

func (c *faultConn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if !c.silenced.Load() {
			return n, err
		}
		if err != nil {
			return 0, err
		}
		// Bytes that arrived on a silenced connection are lost; wait on
		// for the read deadline (the inner connection honours it) or Close.
	}
}

func (c *faultConn) Close() error {
	c.once.Do(func() { c.f.untrack(c) })
	return c.Conn.Close()
}

func init() { extendAdmin((*Agent).faultRoutes) }

// faultRoutes registers the fault-injection endpoints, only when the node
// runs with --fault-injection.
func (a *Agent) faultRoutes(mux *http.ServeMux, _ *prometheus.Registry) {
	if a.faults == nil {
		return
	}
	f := a.faults
	mux.HandleFunc("GET /v1/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, f.status())
	})
	mux.HandleFunc("PUT /v1/faults/block/{node}", func(w http.ResponseWriter, r *http.Request) {
		peer := r.PathValue("node")
		if peer == a.cfg.Name {
			http.Error(w, "a node cannot block itself", http.StatusBadRequest)
			return
		}
		m, ok := a.cluster.Member(peer)
		if !ok {
			http.Error(w, fmt.Sprintf("no member %q known to the membership", peer), http.StatusNotFound)
			return
		}
		var addrs []string
		for _, ad := range []string{m.Addr, m.GossipAddr} {
			if ad != "" && !slices.Contains(addrs, ad) {
				addrs = append(addrs, ad)
			}
		}
		f.block(peer, addrs)
		writeJSON(w, map[string]any{"blocked": peer, "addrs": addrs})
	})
	mux.HandleFunc("DELETE /v1/faults/block/{node}", func(w http.ResponseWriter, r *http.Request) {
		peer := r.PathValue("node")
		if !f.unblock(peer) {
			http.Error(w, fmt.Sprintf("%q is not blocked", peer), http.StatusNotFound)
			return
		}
		writeJSON(w, map[string]any{"unblocked": peer})
	})
	mux.HandleFunc("DELETE /v1/faults", func(w http.ResponseWriter, _ *http.Request) {
		f.unblockAll()
		writeJSON(w, map[string]any{"unblocked": "all"})
	})
}

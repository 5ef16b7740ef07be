package cluster

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// wireState is the wiring loop's record of one member it connects.
type wireState struct {
	addr     string // address given to a successful Connect; "" if none yet
	inFlight bool
	next     time.Time // no attempt before
	backoff  time.Duration
}

type connectResult struct {
	name, addr string
	err        error
}

const (
	wireTick       = 250 * time.Millisecond
	wireBackoffMin = 100 * time.Millisecond
	wireBackoffMax = 5 * time.Second
)

// wireLoop keeps the node connected to every member the membership
// protocol holds alive, and disconnects members declared dead or left (so
// that node.Node stops redialing them, and their links and monitors fire).
// node.Connect keeps a node connected once a first attempt succeeded; the
// loop retries first attempts with jittered backoff.
func (c *Cluster) wireLoop() {
	states := map[string]*wireState{}
	mismatched := map[string]bool{}
	results := make(chan connectResult)
	tick := time.NewTicker(wireTick)
	defer tick.Stop()
	defer func() {
		// Closing: stop keeping the members connected.
		for name := range states {
			c.node.Disconnect(name)
		}
	}()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.kick:
		case r := <-results:
			c.connected(states, r)
		case <-tick.C:
			c.reconcileLinks(mismatched)
		}
		want := map[string]string{}
		c.mu.Lock()
		for name, r := range c.mu.t.members {
			// Members not yet visible too: connecting proves their name.
			if r.swimAlive && !r.m.Local && r.m.Addr != "" {
				want[name] = r.m.Addr
			}
		}
		c.mu.Unlock()
		if c.leaving.Load() {
			want = nil
		}
		now := time.Now()
		for name, addr := range want {
			ws := states[name]
			if ws == nil {
				ws = &wireState{backoff: wireBackoffMin}
				states[name] = ws
			}
			if ws.inFlight || ws.addr == addr || now.Before(ws.next) {
				continue
			}
			ws.inFlight = true
			c.goFunc(func() {
				ctx, cancel := context.WithTimeout(c.ctx, c.cfg.ConnectTimeout)
				err := c.node.Connect(ctx, name, addr)
				cancel()
				select {
				case results <- connectResult{name, addr, err}:
				case <-c.ctx.Done():
				}
			})
		}
		for name, ws := range states {
			if _, ok := want[name]; ok || ws.inFlight {
				continue
			}
			c.node.Disconnect(name) // also clears a failed Connect's wish
			delete(states, name)
		}
	}
}

// connected records the outcome of a Connect.
func (c *Cluster) connected(states map[string]*wireState, r connectResult) {
	ws := states[r.name]
	if ws == nil {
		return
	}
	ws.inFlight = false
	if r.err != nil {
		c.log.Debug("connect to member failed", slog.String("peer", r.name), slog.Any("err", r.err))
		ws.next = time.Now().Add(ws.backoff/2 + rand.N(ws.backoff/2+1))
		ws.backoff = min(2*ws.backoff, wireBackoffMax)
		c.step(func(t *table, now time.Time) []Event { return t.connectFailed(r.name, now) })
		return
	}
	ws.addr, ws.backoff = r.addr, wireBackoffMin
}

// reconcileLinks corrects the members' link facts from the node's list of
// links when they disagree on two ticks in a row: node events about one
// peer can arrive out of order (the nodedown of a link that a new link
// already replaced), and a fact left wrong would keep a member suspect.
//
// It also cuts again a link to a member that left, which a redial already
// in flight when the member was disconnected may have brought back.
func (c *Cluster) reconcileLinks(mismatched map[string]bool) {
	linked := map[string]bool{}
	for _, n := range c.node.Nodes() {
		linked[n] = true
	}
	var stray []string
	c.step(func(t *table, now time.Time) []Event {
		for name := range linked {
			if r := t.members[name]; r != nil && t.visible(r) && r.m.State == StateLeft && r.replaced <= r.m.Creation {
				stray = append(stray, name)
			}
		}
		var evs []Event
		for name, r := range t.members {
			if r.m.Local || !r.swimAlive || r.linkUp == linked[name] {
				delete(mismatched, name)
				continue
			}
			if !mismatched[name] {
				mismatched[name] = true
				continue
			}
			delete(mismatched, name)
			evs = append(evs, t.link(name, linked[name], 0, now)...)
		}
		for name := range mismatched {
			if t.members[name] == nil {
				delete(mismatched, name)
			}
		}
		return evs
	})
	for _, name := range stray {
		c.node.Disconnect(name)
	}
}

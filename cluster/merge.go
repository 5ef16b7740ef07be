package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/grovedev/grove/node"
)

// GossipAddrFunc is the function (node.Register) through which a member
// tells a node linked to it its gossip address; the member registers it on
// its node at Start.
const GossipAddrFunc = "grove.cluster.gossip_addr"

func (c *Cluster) gossipAddrRPC(context.Context, any) (any, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	return c.GossipAddr(), nil
}

// authenticated is told by the gossip transport of every peer that passed
// the handshake.
func (c *Cluster) authenticated(name string) {
	c.step(func(t *table, now time.Time) []Event { return t.authenticated(name, now) })
}

// nodeEvent folds a node link going up or down into the member's state and,
// when a link brings news (a node this member does not know, or knows dead
// or in an earlier life), merges state with that node at once rather than
// at the next periodic exchange: a restarted member learns the cluster from
// the links its peers redial, and a member that joined through a seed is
// known to every member it connects to without waiting for gossip.
func (c *Cluster) nodeEvent(e node.Event) {
	if !e.Up {
		c.log.Debug("node link down", slog.String("peer", e.Node), slog.Any("reason", e.Reason))
	}
	merge, urgent := false, false
	c.step(func(t *table, now time.Time) []Event {
		evs := t.link(e.Node, e.Up, e.Creation, now)
		merge = e.Up && t.needsMerge(e.Node, e.Creation)
		urgent = merge && t.mergeUrgent(e.Node)
		return evs
	})
	if merge && !c.leaving.Load() {
		select {
		case c.mergeCh <- mergeReq{e.Node, urgent}:
		default:
			// The loop is behind; its next sweep finds the node anyway.
			select {
			case c.kickMerge <- struct{}{}:
			default:
			}
		}
	}
}

const (
	mergeBackoffMin = 100 * time.Millisecond
	mergeBackoffMax = 5 * time.Second
	// maxMerges bounds the exchanges in flight: when many links come up
	// at once, the first exchange usually makes the others needless.
	maxMerges = 2
)

type mergeReq struct {
	name   string
	urgent bool // at once, rather than after gossip had its chance
}

type mergeResult struct {
	name string
	err  error
}

// mergeLoop merges state with linked nodes that bring news, one exchange
// per node at a time, retrying failures with backoff while the link is up
// and the news is still news.
func (c *Cluster) mergeLoop() {
	type state struct {
		next     time.Time
		backoff  time.Duration
		inFlight bool
	}
	todo := map[string]*state{}
	results := make(chan mergeResult)
	tick := time.NewTicker(wireTick)
	defer tick.Stop()
	for {
		sweep := false
		select {
		case <-c.ctx.Done():
			return
		case req := <-c.mergeCh:
			if todo[req.name] == nil {
				st := &state{backoff: mergeBackoffMin}
				if !req.urgent {
					st.next = time.Now().Add(2 * c.cfg.GossipInterval)
				}
				todo[req.name] = st
			}
		case <-c.kickMerge:
			sweep = true
		case r := <-results:
			st := todo[r.name]
			st.inFlight = false
			if r.err == nil {
				delete(todo, r.name)
				break
			}
			c.log.Debug("merge with linked node failed", slog.String("peer", r.name), slog.Any("err", r.err))
			st.next = time.Now().Add(st.backoff)
			st.backoff = min(2*st.backoff, mergeBackoffMax)
		case <-tick.C:
			sweep = true
		}
		if c.leaving.Load() {
			continue
		}
		linked := map[string]bool{}
		for _, n := range c.node.Nodes() {
			linked[n] = true
		}
		if sweep {
			c.mu.Lock()
			for n := range linked {
				if todo[n] == nil && c.mu.t.needsMerge(n, 0) {
					todo[n] = &state{backoff: mergeBackoffMin, next: time.Now().Add(2 * c.cfg.GossipInterval)}
				}
			}
			c.mu.Unlock()
		}
		now := time.Now()
		inFlight := 0
		for _, st := range todo {
			if st.inFlight {
				inFlight++
			}
		}
		names := slices.Sorted(maps.Keys(todo))
		for _, name := range names {
			st := todo[name]
			if st.inFlight || now.Before(st.next) {
				continue
			}
			if inFlight >= maxMerges {
				break // one exchange often brings the news of the others
			}
			// A link to a later life has marked the member dead already:
			// needsMerge needs no incarnation here.
			c.mu.Lock()
			still := c.mu.t.needsMerge(name, 0)
			c.mu.Unlock()
			if !linked[name] || !still {
				delete(todo, name)
				continue
			}
			st.inFlight = true
			inFlight++
			c.goFunc(func() {
				err := c.mergeWith(name)
				select {
				case results <- mergeResult{name, err}:
				case <-c.ctx.Done():
				}
			})
		}
	}
}

// mergeWith asks the linked node name for its gossip address and runs a
// state exchange with it. A node that runs no membership is marked as such
// (it stops counting against quorum) unless it is known as a member, whose
// membership may be starting still.
func (c *Cluster) mergeWith(name string) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.ConnectTimeout+c.cfg.StreamTimeout)
	defer cancel()
	rctx, rcancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	v, err := c.node.RPC(rctx, name, GossipAddrFunc, nil)
	rcancel()
	if errors.Is(err, node.ErrNoSuchFunction) {
		known := false
		c.step(func(t *table, now time.Time) []Event {
			r := t.members[name]
			known = r != nil && t.visible(r)
			t.outsider(name)
			return nil
		})
		if known {
			return err
		}
		return nil
	}
	if err != nil {
		return err
	}
	addr, ok := v.(string)
	if !ok {
		return fmt.Errorf("cluster: gossip address of %s is a %T", name, v)
	}
	c.stats.LinkMerges.Add(1)
	_, err = c.join(ctx, addr)
	return err
}

package resilience

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
)

// ErrNotStarted is wrapped, with the context's error, by the result of an
// item of a bulk call that was never sent because the context ended first.
var ErrNotStarted = errors.New("resilience: not started")

// BulkConfig tunes BulkRPC and BulkCall. The zero value is usable.
type BulkConfig struct {
	// Concurrency bounds the items in flight. Default 16.
	Concurrency int
	// PerNode, if set, bounds the items in flight to any one node, so that
	// one slow node holds at most that many of the Concurrency slots.
	PerNode int
	// Breakers, if set, puts every item behind the breaker of its node: an
	// item for a node whose breaker is open fails at once with ErrOpen.
	Breakers *NodeBreakers
	// Retry, if set, retries every item as the policy says: only for
	// idempotent calls.
	Retry *RetryPolicy
}

// Validate reports a configuration that cannot work.
func (c BulkConfig) Validate() error {
	if c.Concurrency < 0 || c.PerNode < 0 {
		return fmt.Errorf("resilience: negative Concurrency %d or PerNode %d", c.Concurrency, c.PerNode)
	}
	if c.Retry != nil {
		return c.Retry.Validate()
	}
	return nil
}

// RPCRequest is one item of BulkRPC: function Function on node Node with
// Arg.
type RPCRequest struct {
	Node, Function string
	Arg            any
}

// CallRequest is one item of BulkCall: a call of To with Req.
type CallRequest struct {
	To  proc.Dest
	Req any
}

// Result is the outcome of one item of a bulk call.
type Result struct {
	Value any
	Err   error
}

// BulkRPC makes many RPCs to many nodes through n, at most
// cfg.Concurrency at once (and cfg.PerNode per node), and returns their
// results in the order of reqs, once all are done. Items start in the
// order given, except that an item whose node is at its PerNode bound
// waits while later items for other nodes go ahead. When ctx ends, the
// items not yet started are not sent (their error wraps ErrNotStarted);
// those in flight end with ctx. The error is only for an invalid cfg.
func BulkRPC(ctx context.Context, n *node.Node, reqs []RPCRequest, cfg BulkConfig) ([]Result, error) {
	keys := make([]string, len(reqs))
	for i, r := range reqs {
		keys[i] = r.Node
	}
	return bulk(ctx, keys, cfg, func(ctx context.Context, i int) (any, error) {
		r := reqs[i]
		if cfg.Breakers != nil {
			return cfg.Breakers.RPC(ctx, r.Node, r.Function, r.Arg)
		}
		return n.RPC(ctx, r.Node, r.Function, r.Arg)
	})
}

// BulkCall makes many calls, of local or remote processes, through n's
// runtime, as BulkRPC does RPCs.
func BulkCall(ctx context.Context, n *node.Node, reqs []CallRequest, cfg BulkConfig) ([]Result, error) {
	keys := make([]string, len(reqs))
	for i, r := range reqs {
		keys[i] = nodeOf(r.To)
	}
	return bulk(ctx, keys, cfg, func(ctx context.Context, i int) (any, error) {
		r := reqs[i]
		if cfg.Breakers != nil {
			return cfg.Breakers.Call(ctx, r.To, r.Req)
		}
		return n.Runtime().CallTo(ctx, r.To, r.Req)
	})
}

// bulk runs do for every item, keyed by node, within the bounds of cfg.
func bulk(ctx context.Context, keys []string, cfg BulkConfig, do func(ctx context.Context, i int) (any, error)) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	limit := cfg.Concurrency
	if limit == 0 {
		limit = 16
	}
	out := make([]Result, len(keys))
	run := func(ctx context.Context, i int) {
		if cfg.Retry != nil {
			out[i].Value, out[i].Err = RetryValue(ctx, *cfg.Retry, func(ctx context.Context) (any, error) { return do(ctx, i) })
			return
		}
		out[i].Value, out[i].Err = do(ctx, i)
	}
	for _, i := range runBounded(ctx, newScheduler(keys, limit, cfg.PerNode), run) {
		out[i].Err = fmt.Errorf("%w: %w", ErrNotStarted, ctx.Err())
	}
	return out, nil
}

// runBounded runs every item s hands out, each on a goroutine of its own,
// and waits for all of them. When ctx ends it starts no more and returns
// the items it did not start.
func runBounded(ctx context.Context, s *scheduler, run func(ctx context.Context, i int)) []int {
	done := make(chan int)
	running := 0
	stop := ctx.Done()
	for {
		for stop != nil {
			if ctx.Err() != nil {
				stop = nil
				break
			}
			i, ok := s.take()
			if !ok {
				break
			}
			running++
			go func() {
				run(ctx, i)
				done <- i
			}()
		}
		if running == 0 {
			return s.remaining()
		}
		select {
		case i := <-done:
			running--
			s.done(i)
		case <-stop:
			stop = nil
		}
	}
}

// scheduler decides, without I/O, which item of a bulk call starts next:
// the first one in order whose node is below its bound, while the total is
// below its bound.
type scheduler struct {
	limit, perKey int
	keys          []string
	queues        map[string][]int // items not started, by key, in order
	order         []string         // keys, in order of first item
	inflight      int
	perInflight   map[string]int
}

func newScheduler(keys []string, limit, perKey int) *scheduler {
	s := &scheduler{limit: limit, perKey: perKey, keys: keys, queues: map[string][]int{}, perInflight: map[string]int{}}
	for i, k := range keys {
		if _, ok := s.queues[k]; !ok {
			s.order = append(s.order, k)
		}
		s.queues[k] = append(s.queues[k], i)
	}
	return s
}

// take returns the next item to start, if one may start now.
func (s *scheduler) take() (int, bool) {
	if s.inflight >= s.limit {
		return 0, false
	}
	best, bestKey := -1, ""
	for _, k := range s.order {
		q := s.queues[k]
		if len(q) == 0 || (s.perKey > 0 && s.perInflight[k] >= s.perKey) {
			continue
		}
		if best < 0 || q[0] < best {
			best, bestKey = q[0], k
		}
	}
	if best < 0 {
		return 0, false
	}
	s.queues[bestKey] = s.queues[bestKey][1:]
	s.inflight++
	s.perInflight[bestKey]++
	return best, true
}

// done records that item i ended.
func (s *scheduler) done(i int) {
	s.inflight--
	s.perInflight[s.keys[i]]--
}

// remaining returns the items never started, in order.
func (s *scheduler) remaining() []int {
	var out []int
	for _, k := range s.order {
		out = append(out, s.queues[k]...)
	}
	slices.Sort(out)
	return out
}

package pgstore

import (
	"context"
	"sync"
)

// horizon tracks the $all horizon: the highest position that readers may
// read up to without ever skipping a position that commits later.
//
// A sample is (hi, xips): hi the last position drawn from the sequence,
// xips the appenders running after hi was read (the virtual transaction ids
// of those holding the schema's shared advisory lock, which the append
// function takes first and a transaction releases only once its commit is
// visible). Every position ≤ hi was drawn by an appender that already held
// the lock, so that appender is in xips, or had ended and is visible. Once
// every appender of xips has released the lock, nothing at or below hi can
// appear any more: hi is safe. A new sample is taken on every advance, and
// the pending one is kept until its transactions end, so under a steady
// stream of appends the horizon trails by one sample and never stalls.
//
// It is a deterministic core: the database is behind the query function.
type horizon struct {
	mu struct {
		sync.Mutex
		safe    uint64
		pending *sample
	}
}

type sample struct {
	done bool     // the transactions of the pending sample have ended
	hi   uint64   // the last position drawn
	xips []string // transactions in progress after hi was read
}

// advance takes a sample (telling the query which transactions it waits
// for) and returns the new safe position.
func (h *horizon) advance(ctx context.Context, query func(ctx context.Context, pending []string) (sample, error)) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var waiting []string
	if h.mu.pending != nil {
		waiting = h.mu.pending.xips
	}
	sm, err := query(ctx, waiting)
	if err != nil {
		return h.mu.safe, err
	}
	h.observeLocked(sm)
	return h.mu.safe, nil
}

// observeLocked applies a sample. h.mu is held.
func (h *horizon) observeLocked(sm sample) {
	if h.mu.pending != nil && sm.done {
		h.mu.safe = max(h.mu.safe, h.mu.pending.hi)
		h.mu.pending = nil
	}
	if len(sm.xips) == 0 {
		h.mu.safe = max(h.mu.safe, sm.hi)
		h.mu.pending = nil
		return
	}
	if h.mu.pending == nil && sm.hi > h.mu.safe {
		h.mu.pending = &sample{hi: sm.hi, xips: sm.xips}
	}
}

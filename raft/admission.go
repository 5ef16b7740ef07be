package raft

import (
	"context"
	"sync"
)

// admission bounds the commands a host has accepted and not yet finished
// with (queued for the engine, proposed, waiting to be applied), by count
// and by bytes: a flood of commands from many goroutines is refused or
// held at the door instead of growing the engine's queue without bound.
// Waiters are served first come, first served, before newcomers.
type admission struct {
	maxCount, maxBytes int64
	mu                 struct {
		sync.Mutex
		count, bytes int64
		waiters      []*admissionWaiter
	}
}

type admissionWaiter struct {
	cost    int64
	ch      chan struct{}
	granted bool
}

// commandCost is what a command of n bytes counts against the bound.
func commandCost(n int) int64 { return int64(n) + 64 }

func (a *admission) fitsLocked(cost int64) bool {
	m := &a.mu
	return m.count < a.maxCount && (m.bytes+cost <= a.maxBytes || m.count == 0)
}

func (a *admission) takeLocked(cost int64) {
	a.mu.count++
	a.mu.bytes += cost
}

// try admits a command of cost if it fits now and nobody waits.
func (a *admission) try(cost int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.mu.waiters) > 0 || !a.fitsLocked(cost) {
		return false
	}
	a.takeLocked(cost)
	return true
}

// wait admits a command of cost, waiting for room until ctx ends.
func (a *admission) wait(ctx context.Context, cost int64) error {
	a.mu.Lock()
	if len(a.mu.waiters) == 0 && a.fitsLocked(cost) {
		a.takeLocked(cost)
		a.mu.Unlock()
		return nil
	}
	w := &admissionWaiter{cost: cost, ch: make(chan struct{})}
	a.mu.waiters = append(a.mu.waiters, w)
	a.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
	}
	a.mu.Lock()
	if w.granted {
		a.mu.Unlock()
		a.release(cost)
		return ctx.Err()
	}
	for i, x := range a.mu.waiters {
		if x == w {
			a.mu.waiters = append(a.mu.waiters[:i], a.mu.waiters[i+1:]...)
			break
		}
	}
	a.grantLocked() // the next one may fit now
	a.mu.Unlock()
	return ctx.Err()
}

// release returns a command's room and admits the waiters that now fit.
func (a *admission) release(cost int64) {
	a.mu.Lock()
	a.mu.count--
	a.mu.bytes -= cost
	a.grantLocked()
	a.mu.Unlock()
}

func (a *admission) grantLocked() {
	for len(a.mu.waiters) > 0 && a.fitsLocked(a.mu.waiters[0].cost) {
		w := a.mu.waiters[0]
		a.mu.waiters[0] = nil
		a.mu.waiters = a.mu.waiters[1:]
		a.takeLocked(w.cost)
		w.granted = true
		close(w.ch)
	}
}

// inUse returns the admitted count and bytes.
func (a *admission) inUse() (count, bytes int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mu.count, a.mu.bytes
}

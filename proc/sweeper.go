package proc

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// retirePeriod is how long the goroutine of a process without messages
// stays parked (between two and three periods) before the process goes idle
// and gives the goroutine up.
const retirePeriod = 100 * time.Millisecond

// sweeper retires the goroutines of processes that stay parked: every
// period it nudges each parked process it tracks, and a process parked for
// two periods goes idle when nudged. Parking costs a sweeper lock only the
// first time a process parks since it was last dropped from the list.
type sweeper struct {
	epoch atomic.Uint64 // periods elapsed
	mu    sync.Mutex
	procs []*Process // guarded by mu
	wg    sync.WaitGroup
	tick  func() // called on each tick, from the sweeper's goroutine
}

func (s *sweeper) start(ctx context.Context) {
	s.wg.Add(1)
	go s.loop(ctx)
}

func (s *sweeper) wait() { s.wg.Wait() }

func (s *sweeper) loop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(retirePeriod)
	defer t.Stop()
	var keep []*Process
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.procs = nil
			s.mu.Unlock()
			return
		case <-t.C:
		}
		if s.tick != nil {
			s.tick()
		}
		s.epoch.Add(1)
		s.mu.Lock()
		list := s.procs
		s.procs = keep[:0]
		s.mu.Unlock()
		keep = list
		for i, p := range list {
			list[i] = nil
			if !s.stillParked(p) {
				continue
			}
			select {
			case p.wake <- struct{}{}:
			default:
			}
			s.mu.Lock()
			s.procs = append(s.procs, p)
			s.mu.Unlock()
		}
		s.mu.Lock()
		tracked := len(s.procs)
		s.mu.Unlock()
		if cap(keep) > 1024 && cap(keep) > 4*tracked {
			// A burst of parked processes has gone: give its room back.
			keep = nil
		}
	}
}

// stillParked drops p from the list unless it is parked; a parked p keeps
// its place.
func (s *sweeper) stillParked(p *Process) bool {
	p.swept.Store(false)
	if p.mbox.status.Load() != statusParked {
		return false
	}
	// p may have parked before the flag was cleared and so not re-listed
	// itself: keep it, unless it listed itself meanwhile.
	return p.swept.CompareAndSwap(false, true)
}

// track puts a parking process on the list.
func (s *sweeper) track(p *Process) {
	if p.swept.Load() || !p.swept.CompareAndSwap(false, true) {
		return
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
}

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
// period it looks at each parked process it tracks, and wakes one that has
// been parked for two periods, which then goes idle. A process parked for
// less is not woken: a parked process costs no wake-up until it retires,
// however long it keeps parking between messages (a subscriber that gets a
// message every few tens of milliseconds stays parked for good). Parking
// costs a sweeper lock only the first time a process parks since it was
// last dropped from the list.

type sweeper struct {
	epoch atomic.Uint64 // periods elapsed
	mu    sync.Mutex
	procs []*Process // guarded by mu
	spare []*Process // the sweeper goroutine's: the list's other buffer
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
		s.sweep()
	}
}

// sweep starts a period: it wakes the tracked processes parked for two
// periods and keeps tracking those parked for less. It returns how many it
// woke.
func (s *sweeper) sweep() (woken int) {
	now := s.epoch.Add(1)
	s.mu.Lock()
	list := s.procs
	s.procs = s.spare[:0] // processes that park meanwhile go here
	s.mu.Unlock()
	n := 0
	for _, p := range list {
		if !s.stillParked(p) {
			continue
		}
		if now >= p.parkedAt.Load()+2 {
			// Due: it retires when woken. One parked anew after a stale
			// read finds its time not come and parks on.
			select {
			case p.wake <- struct{}{}:
				woken++
			default:
			}
		}
		list[n] = p
		n++
	}
	clear(list[n:])
	s.mu.Lock()
	fresh := s.procs
	s.procs = append(list[:n], fresh...)
	tracked := len(s.procs)
	s.mu.Unlock()
	clear(fresh)
	s.spare = fresh[:0]
	if cap(s.spare) > 1024 && cap(s.spare) > 4*tracked {
		// A burst of parked processes has gone: give its room back.
		s.spare = nil
	}
	return woken
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

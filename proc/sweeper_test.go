package proc

import "testing"

// parkedForTest returns a process that looks parked to the sweeper, with
// no goroutine behind it: a wake-up stays in its channel for the test.
func parkedForTest(s *sweeper) *Process {
	p := &Process{wake: make(chan struct{}, 1)}
	p.mbox.status.Store(statusParked)
	p.parkedAt.Store(s.epoch.Load())
	s.track(p)
	return p
}

func woken(p *Process) bool {
	select {
	case <-p.wake:
		return true
	default:
		return false
	}
}

// The sweeper wakes a parked process only when it is due to retire, two
// periods after it parked: a process that keeps parking anew between
// messages is never woken by it, however long it stays parked.
func TestSweeperWakesOnlyProcessesDueToRetire(t *testing.T) {
	var s sweeper
	due := parkedForTest(&s)
	busy := parkedForTest(&s)
	if n := s.sweep(); n != 0 || woken(due) || woken(busy) {
		t.Fatalf("first period: %d woken, want none", n)
	}
	busy.parkedAt.Store(s.epoch.Load()) // a message came, and it parked again
	if n := s.sweep(); n != 1 || !woken(due) || woken(busy) {
		t.Fatalf("second period: %d woken, want the one parked two periods ago", n)
	}
	due.mbox.status.Store(statusIdle) // it retired
	for range 100 {
		busy.parkedAt.Store(s.epoch.Load())
		if n := s.sweep(); n != 0 || woken(busy) {
			t.Fatal("a process parking anew every period was woken")
		}
	}
	s.mu.Lock()
	tracked := len(s.procs)
	s.mu.Unlock()
	if tracked != 1 {
		t.Fatalf("%d processes tracked, want the one still parked", tracked)
	}
	busy.mbox.status.Store(statusRunning)
	s.sweep()
	s.mu.Lock()
	tracked = len(s.procs)
	s.mu.Unlock()
	if tracked != 0 {
		t.Fatalf("%d processes tracked after the last one ran", tracked)
	}
}

// Package clock is the source of time for everything in Grove.
//
// Every timer and timestamp in Grove goes through a Clock, so that tests (and
// the fault-injection kit) can skew, jump or freeze time on one node without
// touching the others. Real is the wall clock of the machine.
package clock

import "time"

// Clock tells the time and schedules callbacks.
//
// Implementations are safe for concurrent use by many goroutines.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call scheduled by AfterFunc.
type Timer interface {
	// Stop prevents the call from running. It reports whether it stopped the
	// call, false when the call has already run or been stopped.
	Stop() bool
}

// Real is the machine's clock.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Package intensity counts restarts within a sliding window of time, the
// restart intensity of OTP supervisors. It is pure: callers pass the time.
package intensity

import "time"

// Window allows at most Max restarts within Period. The zero Window allows
// none. A Window is not safe for concurrent use; a supervisor owns one.
type Window struct {
	Max    int
	Period time.Duration
	stamps []time.Time // restarts within the period, oldest first
}

// Add records a restart at now and reports whether the restarts of the last
// Period (now included) are still at most Max. A restart is forgotten once
// Period has fully elapsed since it, as in OTP.
func (w *Window) Add(now time.Time) bool {
	kept := w.stamps[:0]
	for _, t := range w.stamps {
		if now.Sub(t) < w.Period {
			kept = append(kept, t)
		}
	}
	w.stamps = append(kept, now)
	if len(w.stamps) > w.Max {
		// Only the count matters from now on: keep the memory bounded.
		w.stamps = w.stamps[len(w.stamps)-w.Max-1:]
		return false
	}
	return true
}

// Len returns the number of restarts remembered, at most Max+1.
func (w *Window) Len() int { return len(w.stamps) }

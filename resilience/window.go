package resilience

import "time"

// window counts outcomes over a sliding time window made of buckets: the
// window at time now holds the buckets whose index is within the last
// len(buckets) of now's. It is a pure value: every method takes the time.
type window struct {
	width   time.Duration // of one bucket
	buckets []bucket      // ring, by bucket index mod len
	epoch   time.Time     // the time of bucket index 0
}

type bucket struct {
	idx       int64 // the absolute bucket index these counts belong to
	successes int
	failures  int
}

func newWindow(span time.Duration, n int, epoch time.Time) window {
	width := span / time.Duration(n)
	if width <= 0 {
		width = 1
	}
	return window{width: width, buckets: make([]bucket, n), epoch: epoch}
}

func (w *window) index(now time.Time) int64 {
	d := now.Sub(w.epoch)
	if d < 0 {
		// A clock that stepped back counts into the first bucket.
		return 0
	}
	return int64(d / w.width)
}

// add records one outcome at now.
func (w *window) add(now time.Time, failed bool) {
	i := w.index(now)
	b := &w.buckets[i%int64(len(w.buckets))]
	if b.idx != i {
		*b = bucket{idx: i}
	}
	if failed {
		b.failures++
	} else {
		b.successes++
	}
}

// counts returns the outcomes within the window at now.
func (w *window) counts(now time.Time) (total, failures int) {
	cur := w.index(now)
	for _, b := range w.buckets {
		if b.idx > cur-int64(len(w.buckets)) && b.idx <= cur && b.successes+b.failures > 0 {
			total += b.successes + b.failures
			failures += b.failures
		}
	}
	return total, failures
}

func (w *window) reset() {
	clear(w.buckets)
	for i := range w.buckets {
		w.buckets[i].idx = -1
	}
}

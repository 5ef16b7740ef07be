package names

import (
	"fmt"
	"testing"
	"time"
)

// TestVisibleWithinOneInterval: a registration is visible on every
// connected node within one sync interval of its local acknowledgement —
// here well within, since it is sent at once; the interval is long so
// that a round cannot be what delivered it.
func TestVisibleWithinOneInterval(t *testing.T) {
	const interval = 2 * time.Second
	h, rs := startNames(t, 3, Config{Interval: interval}, nil)
	ms := h.Running()
	waitComplete(t, rs, ms)
	var worst time.Duration
	for i := range 20 {
		m := ms[i%3]
		pid := spawnEcho(t, m.Runtime)
		key := fmt.Sprint("v", i)
		if err := rs.get(m.Name).Register(pid, key, nil); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		for {
			seen := 0
			for _, o := range ms {
				if got, ok := rs.get(o.Name).WhereIs(key); ok && got == pid {
					seen++
				}
			}
			if seen == len(ms) {
				break
			}
			if el := time.Since(t0); el > interval {
				t.Fatalf("%s visible on %d of %d nodes %v after it was registered", key, seen, len(ms), el)
			}
			time.Sleep(time.Millisecond)
		}
		worst = max(worst, time.Since(t0))
	}
	t.Logf("slowest of 20 registrations visible everywhere after %v (interval %v)", worst, interval)
}

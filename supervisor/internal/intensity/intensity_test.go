package intensity

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	t0 := time.Unix(100, 0)
	w := Window{Max: 2, Period: 10 * time.Second}
	steps := []struct {
		at time.Duration
		ok bool
	}{
		{0, true},
		{time.Second, true},
		{9 * time.Second, false},  // three within 10 s
		{10 * time.Second, false}, // 1 s, 9 s and 10 s are within the window
		{19*time.Second + 1, true},
		{25 * time.Second, true}, // 19 s (just past) and 25 s; 10 s expired
	}
	for i, s := range steps {
		if ok := w.Add(t0.Add(s.at)); ok != s.ok {
			t.Fatalf("step %d (at %v): Add = %v, want %v", i, s.at, ok, s.ok)
		}
		if w.Len() > w.Max+1 {
			t.Fatalf("step %d: %d stamps kept", i, w.Len())
		}
	}
}

func TestWindowZeroAllowsNone(t *testing.T) {
	var w Window
	if w.Add(time.Unix(0, 0)) {
		t.Fatal("zero window allowed a restart")
	}
}

func TestWindowPeriodBoundary(t *testing.T) {
	t0 := time.Unix(100, 0)
	w := Window{Max: 1, Period: time.Second}
	w.Add(t0)
	// A restart exactly one period later: the first one has left the window.
	if !w.Add(t0.Add(time.Second)) {
		t.Fatal("restart one full period later refused")
	}
	if w.Add(t0.Add(time.Second + time.Nanosecond)) {
		t.Fatal("second restart within the period allowed")
	}
}

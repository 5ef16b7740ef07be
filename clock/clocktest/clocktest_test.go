package clocktest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAdvanceFiresDueTimersInOrder(t *testing.T) {
	c := New(time.Unix(100, 0))
	var got []int
	c.AfterFunc(3*time.Second, func() { got = append(got, 3) })
	c.AfterFunc(1*time.Second, func() { got = append(got, 1) })
	c.AfterFunc(2*time.Second, func() { got = append(got, 2) })
	c.Advance(2 * time.Second)
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("after 2s fired %v, want [1 2]", got)
	}
	if c.Pending() != 1 {
		t.Fatalf("Pending = %d, want 1", c.Pending())
	}
	c.Advance(time.Second)
	if len(got) != 3 || got[2] != 3 {
		t.Fatalf("after 3s fired %v, want [1 2 3]", got)
	}
	if want := time.Unix(103, 0); !c.Now().Equal(want) {
		t.Fatalf("Now = %v, want %v", c.Now(), want)
	}
}

func TestStop(t *testing.T) {
	c := New(time.Unix(0, 0))
	fired := false
	tm := c.AfterFunc(time.Second, func() { fired = true })
	if !tm.Stop() {
		t.Fatal("first Stop = false, want true")
	}
	if tm.Stop() {
		t.Fatal("second Stop = true, want false")
	}
	c.Advance(time.Hour)
	if fired {
		t.Fatal("stopped timer fired")
	}
	tm = c.AfterFunc(time.Second, func() {})
	c.Advance(time.Second)
	if tm.Stop() {
		t.Fatal("Stop after firing = true, want false")
	}
}

func TestSetBackwardsDelaysTimers(t *testing.T) {
	c := New(time.Unix(10, 0))
	fired := false
	c.AfterFunc(5*time.Second, func() { fired = true })
	c.Set(time.Unix(5, 0))
	c.Advance(9 * time.Second)
	if fired {
		t.Fatal("timer fired before its deadline was reached")
	}
	c.Advance(time.Second)
	if !fired {
		t.Fatal("timer did not fire at its deadline")
	}
}

func TestCallbackMayRescheduleAndAdvance(t *testing.T) {
	c := New(time.Unix(0, 0))
	var n atomic.Int32
	var tick func()
	tick = func() {
		if n.Add(1) < 3 {
			c.AfterFunc(time.Second, tick)
		}
	}
	c.AfterFunc(time.Second, tick)
	for range 5 {
		c.Advance(time.Second)
	}
	if n.Load() != 3 {
		t.Fatalf("ticks = %d, want 3", n.Load())
	}
	c.AfterFunc(0, func() { c.Advance(time.Second) })
	c.Advance(0)
	if want := time.Unix(6, 0); !c.Now().Equal(want) {
		t.Fatalf("Now = %v, want %v", c.Now(), want)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := New(time.Unix(0, 0))
	var fired atomic.Int32
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				c.AfterFunc(time.Millisecond, func() { fired.Add(1) })
				c.Advance(time.Millisecond)
				_ = c.Now()
			}
		}()
	}
	wg.Wait()
	c.Advance(time.Second)
	if fired.Load() != 400 {
		t.Fatalf("fired = %d, want 400", fired.Load())
	}
}

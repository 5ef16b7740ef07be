package registry

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/proc"
)

func TestListenersSeeEveryEventInOrder(t *testing.T) {
	for _, kind := range []Kind{Unique, Duplicate} {
		t.Run(kind.String(), func(t *testing.T) {
			rt := newRuntime(t)
			in := newInbox()
			lpid, err := rt.Spawn(in)
			if err != nil {
				t.Fatal(err)
			}
			var log eventLog
			r := newRegistry(t, rt, Config{Keys: kind, Partitions: 4,
				Listeners: []proc.PID{lpid}, Callbacks: []func(Event){log.add}})
			a, b := spawn(t, rt), spawn(t, rt)

			mustRegister := func(pid proc.PID, key, value any) {
				t.Helper()
				if err := r.Register(pid, key, value); err != nil {
					t.Fatal(err)
				}
			}
			mustRegister(a, "k1", 1)
			mustRegister(b, "k2", 2)
			_ = r.Register(b, "k1", 3) // fails in a unique registry: no event
			r.Unregister(a, "k1")
			r.Unregister(a, "nothing") // no event
			mustRegister(a, "k3", 4)
			if _, _, err := r.UpdateValue(a, "k3", func(any) any { return 5 }); err != nil && kind == Unique {
				t.Fatal(err) // no event either way
			}
			r.UnregisterMatch(b, "k2", func(v any) bool { return v == 2 })
			if err := rt.Exit(a, proc.ErrKill); err != nil {
				t.Fatal(err)
			}
			waitGone(t, r, a)

			k3 := 4
			if kind == Unique {
				k3 = 5 // the value at removal
			}
			want := []Event{
				Registered{r, "k1", a, 1},
				Registered{r, "k2", b, 2},
			}
			if kind == Duplicate {
				want = append(want, Registered{r, "k1", b, 3})
			}
			want = append(want,
				Unregistered{r, "k1", a, 1, nil},
				Registered{r, "k3", a, 4},
				Unregistered{r, "k2", b, 2, nil},
				Unregistered{r, "k3", a, k3, proc.ErrKilled},
			)
			if got := log.snapshot(); !reflect.DeepEqual(got, want) {
				t.Fatalf("callback saw\n%v\nwant\n%v", got, want)
			}
			for i, w := range want {
				if got := in.recv(t); !reflect.DeepEqual(got, w) {
					t.Fatalf("listener message %d = %v, want %v", i, got, w)
				}
			}
			select {
			case m := <-in.ch:
				t.Fatalf("unexpected message %v", m)
			default:
			}
		})
	}
}

// Under concurrent writers and exits, every listener sees the same total
// order, and each key's events follow its history: in a unique registry a
// key alternates between Registered and the Unregistered of the same entry.
// Each process's events follow its history too: nothing comes after the
// removals caused by its exit.
func TestListenersOrderUnderConcurrency(t *testing.T) {
	rt := newRuntime(t)
	in := newInbox()
	lpid, err := rt.Spawn(in)
	if err != nil {
		t.Fatal(err)
	}
	var log eventLog
	r := newRegistry(t, rt, Config{Keys: Unique, Partitions: 4,
		Listeners: []proc.PID{lpid}, Callbacks: []func(Event){log.add}})

	const workers, rounds, keys = 4, 300, 5
	var mu sync.Mutex
	pids := make([]proc.PID, workers)
	for w := range pids {
		pids[w] = spawn(t, rt)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	// The killer takes processes down while workers register for them, so
	// that removals on exit race with registrations.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			mu.Lock()
			pid := pids[i%workers]
			mu.Unlock()
			_ = rt.Exit(pid, proc.ErrKill)
			runtime.Gosched()
		}
	}()
	var writers sync.WaitGroup
	for w := range workers {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range rounds {
				mu.Lock()
				pid := pids[w]
				mu.Unlock()
				key := (w + i) % keys
				err := r.Register(pid, key, i)
				if errors.Is(err, ErrNotAlive) {
					mu.Lock()
					pids[w] = spawn(t, rt)
					mu.Unlock()
				} else if err == nil && i%3 == 0 {
					r.Unregister(pid, key)
				}
			}
		}()
	}
	writers.Wait()
	close(done)
	wg.Wait()
	for _, pid := range pids {
		_ = rt.Exit(pid, proc.ErrKill)
	}
	eventually(t, func() error {
		if n := r.Count(); n != 0 {
			return fmt.Errorf("%d entries left after every process exited", n)
		}
		return nil
	})
	events := log.snapshot()
	for i, ev := range events {
		if got := in.recv(t); !reflect.DeepEqual(got, ev) {
			t.Fatalf("listener message %d = %v, callback saw %v", i, got, ev)
		}
	}
	holder := make(map[any]*Registered)
	exited := make(map[proc.PID]bool) // processes whose exit removals began
	for i, ev := range events {
		switch ev := ev.(type) {
		case Registered:
			if exited[ev.PID] {
				t.Fatalf("event %d: %v after the removals of its process's exit", i, ev)
			}
			if h := holder[ev.Key]; h != nil {
				t.Fatalf("event %d: %v registered while %v holds it", i, ev, h.PID)
			}
			holder[ev.Key] = &ev
		case Unregistered:
			h := holder[ev.Key]
			if h == nil || h.PID != ev.PID || h.Value != ev.Value {
				t.Fatalf("event %d: %v without its Registered (holder %v)", i, ev, h)
			}
			delete(holder, ev.Key)
			if ev.Reason != nil {
				exited[ev.PID] = true
			} else if exited[ev.PID] {
				t.Fatalf("event %d: %v after the removals of its process's exit", i, ev)
			}
		}
	}
	if len(holder) != 0 {
		t.Fatalf("keys never unregistered: %v", fmt.Sprint(holder))
	}
}

// A listener that is gone misses events without disturbing the registry.
func TestDeadListener(t *testing.T) {
	rt := newRuntime(t)
	l := spawn(t, rt)
	r := newRegistry(t, rt, Config{Listeners: []proc.PID{l}})
	if err := rt.Exit(l, proc.ErrKill); err != nil {
		t.Fatal(err)
	}
	pid := spawn(t, rt)
	if err := r.Register(pid, "k", nil); err != nil {
		t.Fatal(err)
	}
	if n := r.Unregister(pid, "k"); n != 1 {
		t.Fatalf("Unregister = %d", n)
	}
}

// Callbacks may read the registry.
func TestCallbackReads(t *testing.T) {
	rt := newRuntime(t)
	var r *Registry
	var seen []int
	r = newRegistry(t, rt, Config{Callbacks: []func(Event){func(ev Event) {
		if reg, ok := ev.(Registered); ok {
			seen = append(seen, len(r.Lookup(reg.Key)), len(r.Keys(reg.PID)), r.Count())
		}
	}}})
	pid := spawn(t, rt)
	if err := r.Register(pid, "k", nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seen, []int{1, 1, 1}) {
		t.Fatalf("callback read %v", seen)
	}
}

// A panicking callback neither breaks the registry nor keeps the events
// from the other callbacks.
func TestPanickingCallback(t *testing.T) {
	rt := newRuntime(t)
	var log eventLog
	r := newRegistry(t, rt, Config{Callbacks: []func(Event){
		func(Event) { panic("callback bug") },
		log.add,
	}})
	pid := spawn(t, rt)
	if err := r.Register(pid, "k", nil); err != nil {
		t.Fatal(err)
	}
	if err := rt.Exit(pid, proc.ErrKill); err != nil {
		t.Fatal(err)
	}
	waitGone(t, r, pid)
	if evs := log.snapshot(); len(evs) != 2 {
		t.Fatalf("events after a panicking callback: %v", evs)
	}
	// The registry is still usable.
	other := spawn(t, rt)
	if err := r.Register(other, "k", nil); err != nil {
		t.Fatal(err)
	}
}

// A listener whose mailbox is full misses the event; the registration
// still succeeds and later events reach it once it has room.
func TestFullListener(t *testing.T) {
	rt := newRuntime(t)
	block, release := make(chan struct{}), make(chan struct{})
	got := make(chan any, 16)
	l, err := rt.Spawn(proc.HandlerFunc(func(_ *proc.Process, msg any) {
		switch msg {
		case "block":
			close(block)
			<-release
		case "filler":
		default:
			got <- msg
		}
	}), proc.WithMailboxBound(4))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Send(l, "block"); err != nil {
		t.Fatal(err)
	}
	<-block // the listener is busy: fill its mailbox
	for rt.Send(l, "filler") == nil {
	}
	r := newRegistry(t, rt, Config{Listeners: []proc.PID{l}})
	pid := spawn(t, rt)
	if err := r.Register(pid, "missed", nil); err != nil {
		t.Fatal(err)
	}
	close(release)
	eventually(t, func() error {
		info, err := rt.Info(l)
		if err != nil {
			return err
		}
		if info.MailboxLen > 0 {
			return fmt.Errorf("listener has %d messages queued", info.MailboxLen)
		}
		return nil
	})
	if err := r.Register(pid, "seen", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-got:
		if reg, ok := ev.(Registered); !ok || reg.Key != "seen" {
			t.Fatalf("first event received: %v, want the registration of seen", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
}

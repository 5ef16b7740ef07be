package registry

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkRegisterUnregister registers and unregisters one key of a process
// that holds no other: each iteration also installs and cancels the exit
// watch.
func BenchmarkRegisterUnregister(b *testing.B) {
	for _, kind := range []Kind{Unique, Duplicate} {
		b.Run(kind.String(), func(b *testing.B) {
			rt := newRuntime(b)
			r := newRegistry(b, rt, Config{Keys: kind})
			pid := spawn(b, rt)
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Register(pid, "key", nil); err != nil {
					b.Fatal(err)
				}
				r.Unregister(pid, "key")
			}
		})
	}
}

// BenchmarkRegisterUnregisterHeld is the same with the process holding
// another key, so that the watch stays installed.
func BenchmarkRegisterUnregisterHeld(b *testing.B) {
	rt := newRuntime(b)
	r := newRegistry(b, rt, Config{})
	pid := spawn(b, rt)
	if err := r.Register(pid, "anchor", nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Register(pid, "key", nil); err != nil {
			b.Fatal(err)
		}
		r.Unregister(pid, "key")
	}
}

// BenchmarkRegisterUnregisterParallel has every goroutine work on keys of
// its own process.
func BenchmarkRegisterUnregisterParallel(b *testing.B) {
	rt := newRuntime(b)
	r := newRegistry(b, rt, Config{})
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		pid, err := rt.Spawn(idle)
		if err != nil {
			b.Error(err)
			return
		}
		key := fmt.Sprint("key", next.Add(1))
		for pb.Next() {
			if err := r.Register(pid, key, nil); err != nil {
				b.Error(err)
				return
			}
			r.Unregister(pid, key)
		}
	})
}

// BenchmarkLookupParallel looks up 1,000 registered names from all cores.
func BenchmarkLookupParallel(b *testing.B) {
	rt := newRuntime(b)
	r := newRegistry(b, rt, Config{})
	const n = 1000
	keys := make([]any, n) // boxed once, so that the loop measures the registry only
	for i := range n {
		keys[i] = fmt.Sprint("name", i)
		if err := r.Register(spawn(b, rt), keys[i], i); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if es := r.Lookup(keys[i%n]); len(es) != 1 {
				b.Error("missing entry")
				return
			}
			i++
		}
	})
}

// BenchmarkWhereIsParallel resolves names as Via does.
func BenchmarkWhereIsParallel(b *testing.B) {
	rt := newRuntime(b)
	r := newRegistry(b, rt, Config{})
	const n = 1000
	keys := make([]any, n) // boxed once, so that the loop measures the registry only
	for i := range n {
		keys[i] = fmt.Sprint("name", i)
		if err := r.Register(spawn(b, rt), keys[i], i); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := r.WhereIs(keys[i%n]); !ok {
				b.Error("missing entry")
				return
			}
			i++
		}
	})
}

// BenchmarkDispatch1000 hands the 1,000 entries of a topic to a function
// that sends each of them a message; the messages go to processes that
// drop them.
func BenchmarkDispatch1000(b *testing.B) {
	rt := newRuntime(b)
	r := newRegistry(b, rt, Config{Keys: Duplicate})
	for range 1000 {
		if err := r.Register(spawn(b, rt), "topic", nil); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("iterate", func(b *testing.B) {
		b.ReportAllocs()
		sum := 0
		for b.Loop() {
			r.Dispatch("topic", func(es []Entry) { sum += len(es) })
		}
		if sum == 0 {
			b.Fatal("no entries")
		}
	})
	b.Run("send", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Dispatch("topic", func(es []Entry) {
				for _, e := range es {
					if err := rt.Send(e.PID, 1); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
}

// BenchmarkRegisterWithListener measures the cost of events delivered to a
// callback.
func BenchmarkRegisterWithListener(b *testing.B) {
	rt := newRuntime(b)
	var n atomic.Int64
	r := newRegistry(b, rt, Config{Callbacks: []func(Event){func(Event) { n.Add(1) }}})
	pid := spawn(b, rt)
	if err := r.Register(pid, "anchor", nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Register(pid, "key", nil); err != nil {
			b.Fatal(err)
		}
		r.Unregister(pid, "key")
	}
}

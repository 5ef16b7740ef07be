package registry

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/grovedev/grove/proc"
)

// Many goroutines register, unregister and read while processes die and are
// replaced. Afterwards, with every process gone, nothing may be left: no
// entry, no watch, no per-process state, and every Registered event has its
// Unregistered.
func TestConcurrentRegistrationsAndExits(t *testing.T) {
	for _, kind := range []Kind{Unique, Duplicate} {
		t.Run(kind.String(), func(t *testing.T) {
			rt := newRuntime(t)
			var log eventLog
			r := newRegistry(t, rt, Config{Keys: kind, Partitions: 4, Callbacks: []func(Event){log.add}})

			const procs, writers, readers, ops, keys = 16, 6, 2, 400, 12
			var mu sync.Mutex
			pool := make([]proc.PID, procs)
			var all []proc.PID
			for i := range pool {
				pool[i] = spawn(t, rt)
				all = append(all, pool[i])
			}
			current := func(i int) proc.PID {
				mu.Lock()
				defer mu.Unlock()
				return pool[i]
			}
			replace := func(i int) {
				pid, err := rt.Spawn(idle)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				pool[i] = pid
				all = append(all, pid)
				mu.Unlock()
			}

			var stop atomic.Bool
			var registered atomic.Int64
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 1))
					for range ops {
						i := rng.IntN(procs)
						pid := current(i)
						key := rng.IntN(keys)
						switch op := rng.IntN(10); {
						case op < 6:
							err := r.Register(pid, key, w)
							switch {
							case err == nil:
								registered.Add(1)
							case errors.Is(err, ErrNotAlive), errors.Is(err, ErrAlreadyRegistered):
							default:
								t.Error(err)
							}
						case op < 8:
							r.Unregister(pid, key)
						case op < 9:
							r.UnregisterMatch(pid, key, func(v any) bool { return v == w })
						default:
							// Die in one of the three ways and get replaced.
							switch rng.IntN(3) {
							case 0:
								_ = rt.Exit(pid, proc.ErrKill)
							case 1:
								_ = rt.Send(pid, "crash")
							default:
								_ = rt.Send(pid, "stop")
							}
							replace(i)
						}
					}
				}()
			}
			var readWG sync.WaitGroup
			for range readers {
				readWG.Add(1)
				go func() {
					defer readWG.Done()
					for !stop.Load() {
						for key := range keys {
							es := r.Lookup(key)
							if kind == Unique && len(es) > 1 {
								t.Errorf("unique key %d has %d entries", key, len(es))
							}
							r.Dispatch(key, func(es []Entry) {
								for _, e := range es {
									if e.Key != key {
										t.Errorf("Dispatch(%d) gave an entry of %v", key, e.Key)
									}
								}
							})
							_, _ = r.WhereIs(key)
						}
						_ = r.Count()
						_ = r.Select(func(_ any, _ proc.PID, v any) bool { return v == 0 })
					}
				}()
			}
			wg.Wait()
			stop.Store(true)
			readWG.Wait()
			if registered.Load() == 0 {
				t.Fatal("no registration succeeded")
			}

			mu.Lock()
			pids := append([]proc.PID(nil), all...)
			mu.Unlock()
			for _, pid := range pids {
				_ = rt.Exit(pid, proc.ErrKill)
			}
			// Processes told to crash or stop exit on their own goroutines.
			eventually(t, func() error {
				if n := r.Count(); n != 0 {
					return fmt.Errorf("%d entries left", n)
				}
				if n := r.watches.Load(); n != 0 {
					return fmt.Errorf("%d watches left", n)
				}
				return nil
			})
			for i := range r.pids {
				sh := &r.pids[i]
				sh.mu.Lock()
				n := len(sh.mu.m)
				sh.mu.Unlock()
				if n != 0 {
					t.Fatalf("pid index shard %d holds %d states", i, n)
				}
			}
			if b := log.balance(); len(b) != 0 {
				t.Fatalf("unbalanced events: %v", b)
			}
		})
	}
}

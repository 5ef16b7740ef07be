package registry

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/grovedev/grove/proc"
	"pgregory.net/rapid"
)

// model is the naive registry the real one is checked against: a list of
// entries and the set of live processes.
type model struct {
	kind    Kind
	entries []Entry
	alive   map[proc.PID]bool
}

func (m *model) holder(key any) (proc.PID, bool) {
	for _, e := range m.entries {
		if e.Key == key {
			return e.PID, true
		}
	}
	return proc.PID{}, false
}

// remove deletes the entries of pid (under key, when keyed) whose value
// satisfies match (all when nil), returning how many.
func (m *model) remove(pid proc.PID, keyed bool, key any, match func(any) bool) int {
	n := 0
	m.entries = slices.DeleteFunc(m.entries, func(e Entry) bool {
		del := e.PID == pid && (!keyed || e.Key == key) && (match == nil || match(e.Value))
		if del {
			n++
		}
		return del
	})
	return n
}

func (m *model) filter(f func(Entry) bool) []Entry {
	var out []Entry
	for _, e := range m.entries {
		if f(e) {
			out = append(out, e)
		}
	}
	return sortEntries(out)
}

var modelKeys = []any{0, 1, 2, "a", "b"}

func TestModel(t *testing.T) {
	rt := newRuntime(t)
	for _, kind := range []Kind{Unique, Duplicate} {
		t.Run(kind.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) { runModel(t, rt, kind) })
		})
	}
}

func runModel(t *rapid.T, rt *proc.Runtime, kind Kind) {
	parts := rapid.IntRange(1, 4).Draw(t, "partitions")
	r, err := New(rt, Config{Keys: kind, Partitions: parts})
	if err != nil {
		t.Fatal(err)
	}
	m := &model{kind: kind, alive: make(map[proc.PID]bool)}
	var pids []proc.PID
	defer func() {
		for _, pid := range pids {
			_ = rt.Exit(pid, proc.ErrKill)
		}
	}()
	newProc := func() {
		pid, err := rt.Spawn(idle)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
		m.alive[pid] = true
	}
	newProc()
	drawPID := func(t *rapid.T) proc.PID { return rapid.SampledFrom(pids).Draw(t, "pid") }
	drawKey := func(t *rapid.T) any { return rapid.SampledFrom(modelKeys).Draw(t, "key") }
	drawValue := func(t *rapid.T) int { return rapid.IntRange(0, 3).Draw(t, "value") }

	t.Repeat(map[string]func(*rapid.T){
		"spawn": func(t *rapid.T) {
			if len(pids) >= 6 {
				t.Skip("enough processes")
			}
			newProc()
		},
		"register": func(t *rapid.T) {
			pid, key, v := drawPID(t), drawKey(t), drawValue(t)
			err := r.Register(pid, key, v)
			switch h, held := m.holder(key); {
			case !m.alive[pid]:
				if !errors.Is(err, ErrNotAlive) {
					t.Fatalf("Register of a dead process: %v", err)
				}
			case kind == Unique && held:
				var are *AlreadyRegisteredError
				if !errors.As(err, &are) || are.PID != h {
					t.Fatalf("Register of a held key: %v, holder %v", err, h)
				}
			default:
				if err != nil {
					t.Fatalf("Register: %v", err)
				}
				m.entries = append(m.entries, Entry{key, pid, v})
			}
		},
		"unregister": func(t *rapid.T) {
			pid, key := drawPID(t), drawKey(t)
			if got, want := r.Unregister(pid, key), m.remove(pid, true, key, nil); got != want {
				t.Fatalf("Unregister removed %d, want %d", got, want)
			}
		},
		"unregisterMatch": func(t *rapid.T) {
			pid, key, v := drawPID(t), drawKey(t), drawValue(t)
			match := func(x any) bool { return x == v }
			if got, want := r.UnregisterMatch(pid, key, match), m.remove(pid, true, key, match); got != want {
				t.Fatalf("UnregisterMatch removed %d, want %d", got, want)
			}
		},
		"updateValue": func(t *rapid.T) {
			pid, key, v := drawPID(t), drawKey(t), drawValue(t)
			_, old, err := r.UpdateValue(pid, key, func(any) any { return v })
			if kind == Duplicate {
				if !errors.Is(err, ErrNotUnique) {
					t.Fatalf("UpdateValue on duplicate: %v", err)
				}
				return
			}
			for i, e := range m.entries {
				if e.Key == key && e.PID == pid {
					if err != nil || old != e.Value {
						t.Fatalf("UpdateValue = old %v, %v; want old %v", old, err, e.Value)
					}
					m.entries[i].Value = v
					return
				}
			}
			if !errors.Is(err, ErrNotRegistered) {
				t.Fatalf("UpdateValue of an unheld key: %v", err)
			}
		},
		"kill": func(t *rapid.T) {
			pid := drawPID(t)
			_ = rt.Exit(pid, proc.ErrKill)
			m.alive[pid] = false
			m.remove(pid, false, nil, nil)
			waitExited(t, rt, r, pid)
		},
		"stop": func(t *rapid.T) {
			pid := drawPID(t)
			if !m.alive[pid] {
				t.Skip("dead already")
			}
			if err := rt.Send(pid, rapid.SampledFrom([]string{"stop", "crash"}).Draw(t, "how")); err != nil {
				t.Fatal(err)
			}
			m.alive[pid] = false
			m.remove(pid, false, nil, nil)
			waitExited(t, rt, r, pid)
		},
		"select": func(t *rapid.T) {
			v := drawValue(t)
			pid := drawPID(t)
			got := sortEntries(r.Select(func(_ any, p proc.PID, x any) bool { return p == pid || x == v }))
			want := m.filter(func(e Entry) bool { return e.PID == pid || e.Value == v })
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Select = %v, want %v", got, want)
			}
			if n := r.CountSelect(func(_ any, p proc.PID, x any) bool { return p == pid || x == v }); n != len(want) {
				t.Fatalf("CountSelect = %d, want %d", n, len(want))
			}
		},
		"": func(t *rapid.T) { checkModel(t, r, m, pids) },
	})
}

// waitExited waits until pid has exited and the registry has handled it.
func waitExited(t *rapid.T, rt *proc.Runtime, r *Registry, pid proc.PID) {
	eventually(t, func() error {
		if rt.Alive(pid) || len(r.Keys(pid)) > 0 {
			return errors.New("process or its keys still there")
		}
		return nil
	})
}

// checkModel compares every read of the registry with the model.
func checkModel(t *rapid.T, r *Registry, m *model, pids []proc.PID) {
	if got, want := r.Count(), len(m.entries); got != want {
		t.Fatalf("Count = %d, want %d", got, want)
	}
	even := func(v any) bool { return v.(int)%2 == 0 }
	for _, key := range modelKeys {
		want := m.filter(func(e Entry) bool { return e.Key == key })
		if got := sortEntries(r.Lookup(key)); !reflect.DeepEqual(got, want) {
			t.Fatalf("Lookup(%v) = %v, want %v", key, got, want)
		}
		wantEven := m.filter(func(e Entry) bool { return e.Key == key && even(e.Value) })
		if got := sortEntries(r.Match(key, even)); !reflect.DeepEqual(got, wantEven) {
			t.Fatalf("Match(%v, even) = %v, want %v", key, got, wantEven)
		}
		if got := r.CountMatch(key, even); got != len(wantEven) {
			t.Fatalf("CountMatch(%v, even) = %d, want %d", key, got, len(wantEven))
		}
		pid, ok := r.WhereIs(key)
		if m.kind == Duplicate {
			if ok {
				t.Fatalf("WhereIs(%v) on a duplicate registry = %v", key, pid)
			}
		} else if h, held := m.holder(key); ok != held || pid != h {
			t.Fatalf("WhereIs(%v) = %v %v, want %v %v", key, pid, ok, h, held)
		}
		var dispatched []Entry
		r.Dispatch(key, func(es []Entry) { dispatched = append(dispatched, es...) })
		if got := sortEntries(dispatched); !reflect.DeepEqual(got, want) {
			t.Fatalf("Dispatch(%v) gave %v, want %v", key, got, want)
		}
	}
	for _, pid := range pids {
		var wantKeys []any
		for _, e := range m.filter(func(e Entry) bool { return e.PID == pid }) {
			wantKeys = append(wantKeys, e.Key)
		}
		gotKeys := r.Keys(pid)
		slices.SortFunc(gotKeys, compareAny)
		slices.SortFunc(wantKeys, compareAny)
		if len(gotKeys) != len(wantKeys) || (len(gotKeys) > 0 && !reflect.DeepEqual(gotKeys, wantKeys)) {
			t.Fatalf("Keys(%v) = %v, want %v", pid, gotKeys, wantKeys)
		}
		for _, key := range modelKeys {
			var want []any
			for _, e := range m.filter(func(e Entry) bool { return e.PID == pid && e.Key == key }) {
				want = append(want, e.Value)
			}
			got := r.Values(key, pid)
			slices.SortFunc(got, compareAny)
			if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
				t.Fatalf("Values(%v, %v) = %v, want %v", key, pid, got, want)
			}
		}
	}
	// One watch per process holding entries, none for the others.
	holders := make(map[proc.PID]bool)
	for _, e := range m.entries {
		holders[e.PID] = true
	}
	if got := r.watches.Load(); got != int64(len(holders)) {
		t.Fatalf("%d watches for %d processes holding entries", got, len(holders))
	}
}

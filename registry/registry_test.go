package registry

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/grovedev/grove/proc"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"duplicate", Config{Keys: Duplicate, Partitions: 3}, true},
		{"unknown kind", Config{Keys: Kind(7)}, false},
		{"negative partitions", Config{Partitions: -1}, false},
		{"zero listener", Config{Listeners: []proc.PID{{}}}, false},
		{"nil callback", Config{Callbacks: []func(Event){nil}}, false},
	} {
		err := tc.cfg.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	if _, err := New(nil, Config{}); err == nil {
		t.Error("New(nil runtime) succeeded")
	}
	rt := newRuntime(t)
	if _, err := New(rt, Config{Partitions: -2}); err == nil {
		t.Error("New with an invalid config succeeded")
	}
	r := newRegistry(t, rt, Config{})
	if r.Kind() != Unique || r.Partitions() < 1 {
		t.Errorf("defaults: kind %v, %d partitions", r.Kind(), r.Partitions())
	}
	if Unique.String() != "unique" || Duplicate.String() != "duplicate" || Kind(9).String() != "Kind(9)" {
		t.Error("Kind.String")
	}
}

func TestUniqueRegisterLookup(t *testing.T) {
	rt := newRuntime(t)
	r := newRegistry(t, rt, Config{Keys: Unique, Partitions: 4})
	a, b := spawn(t, rt), spawn(t, rt)

	if err := r.Register(a, "k", 1); err != nil {
		t.Fatal(err)
	}
	err := r.Register(b, "k", 2)
	var are *AlreadyRegisteredError
	if !errors.Is(err, ErrAlreadyRegistered) || !errors.As(err, &are) || are.PID != a || are.Key != "k" {
		t.Fatalf("second register: %v, want AlreadyRegisteredError held by %v", err, a)
	}
	// The holder itself gets the same answer, naming itself.
	if err := r.Register(a, "k", 3); !errors.As(err, &are) || are.PID != a {
		t.Fatalf("re-register by holder: %v", err)
	}
	if got := r.Lookup("k"); !reflect.DeepEqual(got, []Entry{{"k", a, 1}}) {
		t.Fatalf("Lookup = %v", got)
	}
	if got := r.Lookup("missing"); len(got) != 0 {
		t.Fatalf("Lookup(missing) = %v", got)
	}
	if pid, ok := r.WhereIs("k"); !ok || pid != a {
		t.Fatalf("WhereIs = %v %v", pid, ok)
	}
	if _, ok := r.WhereIs("missing"); ok {
		t.Fatal("WhereIs(missing) found something")
	}
	if err := r.Register(b, 42, "b"); err != nil {
		t.Fatal(err)
	}
	if r.Count() != 2 {
		t.Fatalf("Count = %d", r.Count())
	}
	if got := r.Keys(a); !reflect.DeepEqual(got, []any{"k"}) {
		t.Fatalf("Keys(a) = %v", got)
	}
	if got := r.Values("k", a); !reflect.DeepEqual(got, []any{1}) {
		t.Fatalf("Values(k, a) = %v", got)
	}
	if got := r.Values("k", b); len(got) != 0 {
		t.Fatalf("Values(k, b) = %v", got)
	}

	// Unregister by a process that does not hold the key does nothing.
	if n := r.Unregister(b, "k"); n != 0 {
		t.Fatalf("Unregister by non-holder removed %d", n)
	}
	if n := r.Unregister(a, "k"); n != 1 {
		t.Fatalf("Unregister removed %d", n)
	}
	if n := r.Unregister(a, "k"); n != 0 {
		t.Fatalf("second Unregister removed %d", n)
	}
	if err := r.Register(b, "k", 2); err != nil {
		t.Fatalf("register after unregister: %v", err)
	}
	if pid, _ := r.WhereIs("k"); pid != b {
		t.Fatalf("WhereIs after re-register = %v", pid)
	}
	if got := r.Keys(a); len(got) != 0 {
		t.Fatalf("Keys(a) = %v", got)
	}
}

func TestDuplicateRegisterLookup(t *testing.T) {
	rt := newRuntime(t)
	r := newRegistry(t, rt, Config{Keys: Duplicate, Partitions: 4})
	a, b := spawn(t, rt), spawn(t, rt)

	for _, reg := range []struct {
		pid proc.PID
		v   int
	}{{a, 1}, {b, 2}, {a, 3}} {
		if err := r.Register(reg.pid, "topic", reg.v); err != nil {
			t.Fatal(err)
		}
	}
	want := []Entry{{"topic", a, 1}, {"topic", a, 3}, {"topic", b, 2}}
	if got := sortEntries(r.Lookup("topic")); !reflect.DeepEqual(got, want) {
		t.Fatalf("Lookup = %v, want %v", got, want)
	}
	if _, ok := r.WhereIs("topic"); ok {
		t.Fatal("WhereIs on a duplicate registry found a process")
	}
	if got := r.Keys(a); !reflect.DeepEqual(got, []any{"topic", "topic"}) {
		t.Fatalf("Keys(a) = %v", got)
	}
	vals := r.Values("topic", a)
	slices.SortFunc(vals, compareAny)
	if !reflect.DeepEqual(vals, []any{1, 3}) {
		t.Fatalf("Values(topic, a) = %v", vals)
	}
	if n := r.CountMatch("topic", nil); n != 3 {
		t.Fatalf("CountMatch(nil) = %d", n)
	}
	odd := func(v any) bool { return v.(int)%2 == 1 }
	if n := r.CountMatch("topic", odd); n != 2 {
		t.Fatalf("CountMatch(odd) = %d", n)
	}
	if got := sortEntries(r.Match("topic", odd)); !reflect.DeepEqual(got, []Entry{{"topic", a, 1}, {"topic", a, 3}}) {
		t.Fatalf("Match(odd) = %v", got)
	}
	if n := r.UnregisterMatch(a, "topic", func(v any) bool { return v == 1 }); n != 1 {
		t.Fatalf("UnregisterMatch removed %d", n)
	}
	if got := sortEntries(r.Lookup("topic")); !reflect.DeepEqual(got, []Entry{{"topic", a, 3}, {"topic", b, 2}}) {
		t.Fatalf("Lookup after UnregisterMatch = %v", got)
	}
	if got := r.Keys(a); !reflect.DeepEqual(got, []any{"topic"}) {
		t.Fatalf("Keys(a) after UnregisterMatch = %v", got)
	}
	if n := r.Unregister(a, "topic"); n != 1 {
		t.Fatalf("Unregister removed %d", n)
	}
	if got := r.Lookup("topic"); !reflect.DeepEqual(got, []Entry{{"topic", b, 2}}) {
		t.Fatalf("Lookup after Unregister = %v", got)
	}
	if r.Count() != 1 {
		t.Fatalf("Count = %d", r.Count())
	}
	if n := r.Unregister(b, "topic"); n != 1 || r.Count() != 0 || len(r.Lookup("topic")) != 0 {
		t.Fatalf("last Unregister: removed %d, count %d", n, r.Count())
	}
}

// Removing entries from the middle of a big duplicate key keeps every other
// entry findable by its process.
func TestDuplicateRemovalKeepsIndex(t *testing.T) {
	rt := newRuntime(t)
	r := newRegistry(t, rt, Config{Keys: Duplicate, Partitions: 1})
	var pids []proc.PID
	for i := range 20 {
		pid := spawn(t, rt)
		pids = append(pids, pid)
		for j := range i%3 + 1 {
			if err := r.Register(pid, "k", i*10+j); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < 20; i += 2 {
		if r.UnregisterMatch(pids[i], "k", func(v any) bool { return v.(int)%10 == 0 }) != 1 {
			t.Fatalf("UnregisterMatch %d", i)
		}
	}
	for i := 0; i < 20; i += 3 {
		r.Unregister(pids[i], "k")
	}
	var want []Entry
	for i, pid := range pids {
		if i%3 == 0 {
			continue
		}
		for j := range i%3 + 1 {
			if i%2 == 0 && j == 0 {
				continue
			}
			want = append(want, Entry{"k", pid, i*10 + j})
		}
	}
	if got := sortEntries(r.Lookup("k")); !reflect.DeepEqual(got, want) {
		t.Fatalf("Lookup = %v\nwant %v", got, want)
	}
	for i, pid := range pids {
		vals := r.Values("k", pid)
		n := 0
		for _, e := range want {
			if e.PID == pid {
				n++
			}
		}
		if len(vals) != n {
			t.Fatalf("Values(k, pids[%d]) = %v, want %d values", i, vals, n)
		}
	}
}

func TestUpdateValue(t *testing.T) {
	rt := newRuntime(t)
	r := newRegistry(t, rt, Config{})
	a, b := spawn(t, rt), spawn(t, rt)
	if err := r.Register(a, "counter", 1); err != nil {
		t.Fatal(err)
	}
	nv, ov, err := r.UpdateValue(a, "counter", func(old any) any { return old.(int) + 1 })
	if err != nil || nv != 2 || ov != 1 {
		t.Fatalf("UpdateValue = %v %v %v", nv, ov, err)
	}
	if got := r.Values("counter", a); !reflect.DeepEqual(got, []any{2}) {
		t.Fatalf("Values = %v", got)
	}
	if _, _, err := r.UpdateValue(b, "counter", func(any) any { return 0 }); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("UpdateValue by non-holder: %v", err)
	}
	if _, _, err := r.UpdateValue(a, "missing", func(any) any { return 0 }); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("UpdateValue of missing key: %v", err)
	}
	if _, _, err := r.UpdateValue(a, []int{1}, func(any) any { return 0 }); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("UpdateValue of invalid key: %v", err)
	}
	d := newRegistry(t, rt, Config{Keys: Duplicate})
	if _, _, err := d.UpdateValue(a, "counter", func(any) any { return 0 }); !errors.Is(err, ErrNotUnique) {
		t.Fatalf("UpdateValue on duplicate registry: %v", err)
	}
}

func TestRegisterErrors(t *testing.T) {
	rt := newRuntime(t)
	for _, kind := range []Kind{Unique, Duplicate} {
		t.Run(kind.String(), func(t *testing.T) {
			r := newRegistry(t, rt, Config{Keys: kind})
			pid := spawn(t, rt)
			if err := r.Register(pid, []int{1}, nil); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("slice key: %v", err)
			}
			if err := r.Register(pid, struct{ f any }{[]int{}}, nil); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("struct holding a slice: %v", err)
			}
			nan := math.NaN()
			if err := r.Register(pid, nan, nil); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("NaN key: %v", err)
			}
			if err := r.Register(pid, struct{ f float64 }{nan}, nil); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("struct holding a NaN: %v", err)
			}
			if got := r.Lookup([]int{1}); got != nil {
				t.Errorf("Lookup of invalid key = %v", got)
			}
			if n := r.Unregister(pid, map[int]int{}); n != 0 {
				t.Errorf("Unregister of invalid key = %d", n)
			}
			if n := r.CountMatch([]int{}, nil); n != 0 {
				t.Errorf("CountMatch of invalid key = %d", n)
			}
			if _, ok := r.WhereIs([]int{}); ok {
				t.Error("WhereIs of invalid key found something")
			}
			if v := r.Values([]int{}, pid); v != nil {
				t.Errorf("Values of invalid key = %v", v)
			}
			r.Dispatch([]int{}, func([]Entry) { t.Error("Dispatch of invalid key called fn") })

			remote := proc.PID{Node: "other@host", Creation: 1, ID: pid.ID}
			if err := r.Register(remote, "k", nil); !errors.Is(err, ErrNotLocal) {
				t.Errorf("remote pid: %v", err)
			}
			stale := proc.PID{Node: pid.Node, Creation: pid.Creation, ID: 1 << 40}
			if err := r.Register(stale, "k", nil); !errors.Is(err, ErrNotAlive) {
				t.Errorf("unknown pid: %v", err)
			}
			if r.Count() != 0 {
				t.Errorf("Count = %d after failed registrations", r.Count())
			}
			if n := r.watches.Load(); n != 0 {
				t.Errorf("%d watches after failed registrations", n)
			}
			// nil is a valid key, as in a Go map.
			if err := r.Register(pid, nil, "v"); err != nil {
				t.Errorf("nil key: %v", err)
			}
			if got := r.Lookup(nil); len(got) != 1 {
				t.Errorf("Lookup(nil) = %v", got)
			}
		})
	}
}

func TestSelectAndCount(t *testing.T) {
	rt := newRuntime(t)
	for _, kind := range []Kind{Unique, Duplicate} {
		t.Run(kind.String(), func(t *testing.T) {
			r := newRegistry(t, rt, Config{Keys: kind, Partitions: 3})
			a, b := spawn(t, rt), spawn(t, rt)
			var want []Entry
			for i := range 10 {
				pid := a
				if i%2 == 1 {
					pid = b
				}
				if err := r.Register(pid, i, i*i); err != nil {
					t.Fatal(err)
				}
				want = append(want, Entry{i, pid, i * i})
			}
			if r.Count() != 10 {
				t.Fatalf("Count = %d", r.Count())
			}
			all := sortEntries(r.Select(func(any, proc.PID, any) bool { return true }))
			if !reflect.DeepEqual(all, want) {
				t.Fatalf("Select(all) = %v", all)
			}
			ofB := sortEntries(r.Select(func(_ any, pid proc.PID, v any) bool { return pid == b && v.(int) > 10 }))
			if !reflect.DeepEqual(ofB, []Entry{{5, b, 25}, {7, b, 49}, {9, b, 81}}) {
				t.Fatalf("Select(b, >10) = %v", ofB)
			}
			if got := r.Select(func(any, proc.PID, any) bool { return false }); len(got) != 0 {
				t.Fatalf("Select(none) = %v", got)
			}
			if n := r.CountSelect(func(_ any, pid proc.PID, _ any) bool { return pid == a }); n != 5 {
				t.Fatalf("CountSelect(a) = %d", n)
			}
		})
	}
}

func TestDispatch(t *testing.T) {
	rt := newRuntime(t)
	r := newRegistry(t, rt, Config{Keys: Duplicate})
	calls := 0
	r.Dispatch("empty", func([]Entry) { calls++ })
	if calls != 0 {
		t.Fatal("Dispatch called fn for a key without entries")
	}
	in := newInbox()
	var subs []proc.PID
	for range 5 {
		pid, err := rt.Spawn(in)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, pid)
		if err := r.Register(pid, "room", nil); err != nil {
			t.Fatal(err)
		}
	}
	r.Dispatch("room", func(es []Entry) {
		calls++
		if len(es) != 5 {
			t.Errorf("Dispatch gave %d entries", len(es))
		}
		for _, e := range es {
			// fn runs without registry locks: calling the registry is fine.
			if len(r.Keys(e.PID)) != 1 {
				t.Errorf("Keys(%v) inside Dispatch", e.PID)
			}
			if err := rt.Send(e.PID, "hello"); err != nil {
				t.Error(err)
			}
		}
	})
	if calls != 1 {
		t.Fatalf("Dispatch called fn %d times", calls)
	}
	for range subs {
		if m := in.recv(t); m != "hello" {
			t.Fatalf("got %v", m)
		}
	}
	// fn may write to the registry too.
	r.Dispatch("room", func(es []Entry) {
		for _, e := range es {
			r.Unregister(e.PID, "room")
		}
	})
	if r.Count() != 0 {
		t.Fatalf("Count = %d after unregistering from Dispatch", r.Count())
	}

	u := newRegistry(t, rt, Config{Keys: Unique})
	if err := u.Register(subs[0], "solo", "v"); err != nil {
		t.Fatal(err)
	}
	u.Dispatch("solo", func(es []Entry) {
		if !reflect.DeepEqual(es, []Entry{{"solo", subs[0], "v"}}) {
			t.Errorf("unique Dispatch gave %v", es)
		}
	})
}

// One watch per registered process, dropped with its last key.
func TestOneWatchPerProcess(t *testing.T) {
	rt := newRuntime(t)
	for _, kind := range []Kind{Unique, Duplicate} {
		t.Run(kind.String(), func(t *testing.T) {
			r := newRegistry(t, rt, Config{Keys: kind, Partitions: 4})
			a, b := spawn(t, rt), spawn(t, rt)
			for i := range 5 {
				if err := r.Register(a, i, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.Register(b, "b", nil); err != nil {
				t.Fatal(err)
			}
			if n := r.watches.Load(); n != 2 {
				t.Fatalf("%d watches for 2 processes", n)
			}
			for i := range 4 {
				r.Unregister(a, i)
			}
			if n := r.watches.Load(); n != 2 {
				t.Fatalf("%d watches with a key left", n)
			}
			r.Unregister(a, 4)
			if n := r.watches.Load(); n != 1 {
				t.Fatalf("%d watches after a's last key", n)
			}
			if ps := r.lookState(a); ps != nil {
				t.Fatal("state of a kept after its last key")
			}
			// A process without keys in the registry can exit without a trace.
			if err := rt.Send(a, "stop"); err != nil {
				t.Fatal(err)
			}
			if err := rt.Send(b, "stop"); err != nil {
				t.Fatal(err)
			}
			eventually(t, func() error {
				if n := r.watches.Load(); n != 0 {
					return errors.New("watch of b still counted")
				}
				return nil
			})
			waitGone(t, r, b)
		})
	}
}

func TestReadsOfUnknownProcess(t *testing.T) {
	rt := newRuntime(t)
	for _, kind := range []Kind{Unique, Duplicate} {
		r := newRegistry(t, rt, Config{Keys: kind})
		pid := spawn(t, rt)
		if ks := r.Keys(pid); ks != nil {
			t.Errorf("%v: Keys of an unregistered process = %v", kind, ks)
		}
		if vs := r.Values("k", pid); vs != nil {
			t.Errorf("%v: Values of an unregistered process = %v", kind, vs)
		}
		if n := r.Unregister(pid, "k"); n != 0 {
			t.Errorf("%v: Unregister of an unregistered process = %d", kind, n)
		}
		if n := r.UnregisterMatch(pid, "k", nil); n != 0 {
			t.Errorf("%v: UnregisterMatch with a nil predicate = %d", kind, n)
		}
	}
}

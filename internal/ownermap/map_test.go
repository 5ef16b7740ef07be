package ownermap

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/internal/clustertest"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/grovedev/grove/node/internal/frame.(*Writer).loop"),
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

type testMaps struct {
	mu   sync.Mutex
	maps map[string]*Map
	evs  map[string][]Event
}

func startMaps(t *testing.T, n int, unique bool) (*clustertest.Harness, *testMaps) {
	tm := &testMaps{maps: map[string]*Map{}, evs: map[string][]Event{}}
	h := clustertest.Start(t, clustertest.Config{
		Size:     n,
		Register: func(r *codec.Registry) error { return RegisterTypes(r) },
		Setup: func(m *clustertest.Member) (clustertest.Service, error) {
			name := m.Name
			mp, err := Start(m.Cluster, Config{Name: "test", Unique: unique, Interval: 50 * time.Millisecond},
				Hooks{Events: func(evs []Event) {
					tm.mu.Lock()
					tm.evs[name] = append(tm.evs[name], evs...)
					tm.mu.Unlock()
				}})
			if err != nil {
				return nil, err
			}
			tm.mu.Lock()
			tm.maps[name] = mp
			tm.mu.Unlock()
			return mp, nil
		},
	})
	return h, tm
}

func (tm *testMaps) get(name string) *Map {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.maps[name]
}

func TestMapOverCluster(t *testing.T) {
	h, tm := startMaps(t, 3, true)
	ms := h.Running()
	for _, m := range ms {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := tm.get(m.Name).WaitComplete(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	a := ms[0]
	pid, err := a.Runtime.Spawn(proc.HandlerFunc(func(*proc.Process, any) {}))
	if err != nil {
		t.Fatal(err)
	}
	e, err := tm.get(a.Name).Put("k", pid, "hello")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tm.get(a.Name).WaitAcked(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		got := tm.get(m.Name).Lookup("k")
		if len(got) != 1 || got[0].PID != pid || got[0].Value != "hello" {
			t.Fatalf("%s: Lookup = %v", m.Name, got)
		}
	}
	h.Kill(0)
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, m := range ms[1:] {
			mp := tm.get(m.Name)
			if got := mp.Lookup("k"); len(got) != 0 {
				return fmt.Errorf("%s still sees %v", m.Name, got)
			}
			if o := mp.Orphans(); len(o) != 1 || o[0].Ref != e.Ref {
				return fmt.Errorf("%s orphans %v", m.Name, o)
			}
		}
		return nil
	})
	tm.mu.Lock()
	evs := tm.evs[ms[1].Name]
	tm.mu.Unlock()
	if len(evs) != 2 || evs[0].Kind != Added || evs[1].Kind != Removed || evs[1].Reason != ReasonNodeDown {
		t.Fatalf("events on %s: %+v", ms[1].Name, evs)
	}
}

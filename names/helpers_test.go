package names

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/internal/clustertest"
	"github.com/grovedev/grove/proc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/grovedev/grove/node/internal/frame.(*Writer).loop"),
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

// regs keeps the registry of every running member.
type regs struct {
	mu sync.Mutex
	m  map[string]*Registry
}

func (r *regs) get(name string) *Registry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[name]
}

// startNames starts n members, each running a registry with cfg.
func startNames(t testing.TB, n int, cfg Config, mod func(*clustertest.Config)) (*clustertest.Harness, *regs) {
	t.Helper()
	rs := &regs{m: map[string]*Registry{}}
	if cfg.Interval == 0 {
		cfg.Interval = 50 * time.Millisecond
	}
	hc := clustertest.Config{
		Size:     n,
		Register: func(r *codec.Registry) error { return RegisterTypes(r) },
		Setup: func(m *clustertest.Member) (clustertest.Service, error) {
			reg, err := New(m.Cluster, cfg)
			if err != nil {
				return nil, err
			}
			rs.mu.Lock()
			rs.m[m.Name] = reg
			rs.mu.Unlock()
			return reg, nil
		},
	}
	if mod != nil {
		mod(&hc)
	}
	h := clustertest.Start(t, hc)
	return h, rs
}

// echo answers every call with its node's name and the request.
type echo struct{ proc.Base }

func (echo) HandleCall(p *proc.Process, _ proc.From, req any) (any, error) {
	return p.Runtime().Node() + ":" + req.(string), nil
}

func spawnEcho(t testing.TB, rt *proc.Runtime) proc.PID {
	t.Helper()
	pid, err := rt.Spawn(echo{})
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// exitWatch records how processes end.
type exitWatch struct {
	mu      sync.Mutex
	reasons map[proc.PID]error
}

func (w *exitWatch) watch(rt *proc.Runtime, pid proc.PID) {
	rt.Watch(pid, func(p proc.PID, reason error) {
		w.mu.Lock()
		if w.reasons == nil {
			w.reasons = map[proc.PID]error{}
		}
		w.reasons[p] = reason
		w.mu.Unlock()
	})
}

func (w *exitWatch) reason(pid proc.PID) (error, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.reasons[pid]
	return r, ok
}

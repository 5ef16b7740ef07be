package distsup

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/faultkit/history"
	"github.com/grovedev/grove/internal/clustertest"
	"github.com/grovedev/grove/proc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/grovedev/grove/node/internal/frame.(*Writer).loop"),
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

// tracker records which processes of which child run, and a history of
// the time each process ran its child: from Init until it exited or began
// a handoff (from then on it only holds or forwards).
type tracker struct {
	mu    sync.Mutex
	live  map[string]map[proc.PID]bool
	rec   *history.Recorder
	calls map[proc.PID]*history.Call
}

func newTracker() *tracker {
	return &tracker{live: map[string]map[proc.PID]bool{}, rec: history.NewRecorder(), calls: map[proc.PID]*history.Call{}}
}

func (t *tracker) started(id string, p *proc.Process) {
	pid := p.Self()
	t.mu.Lock()
	if t.live[id] == nil {
		t.live[id] = map[proc.PID]bool{}
	}
	t.live[id][pid] = true
	t.calls[pid] = t.rec.Invoke(0, "run", id, pid.String())
	t.mu.Unlock()
	p.Runtime().Watch(pid, func(proc.PID, error) {
		t.mu.Lock()
		delete(t.live[id], pid)
		t.mu.Unlock()
		t.ended(pid)
	})
}

// ended closes the run of pid.
func (t *tracker) ended(pid proc.PID) {
	t.mu.Lock()
	c := t.calls[pid]
	delete(t.calls, pid)
	t.mu.Unlock()
	if c != nil {
		c.OK(nil)
	}
}

func (t *tracker) count(id string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.live[id])
}

// running returns the IDs with their number of live processes.
func (t *tracker) running() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{}
	for id, ps := range t.live {
		if len(ps) > 0 {
			out[id] = len(ps)
		}
	}
	return out
}

// overlaps checks, from the history, that no two processes ever ran one
// child at the same time.
func (t *tracker) overlaps() error {
	type run struct {
		from, to time.Duration
		pid      any
	}
	runs := map[string][]run{}
	for _, op := range t.rec.History().Operations() {
		if op.Invoke.F != "run" {
			continue
		}
		to := op.Complete.Time
		if to < 0 {
			to = 1<<63 - 1
		}
		runs[op.Invoke.Key] = append(runs[op.Invoke.Key], run{op.Invoke.Time, to, op.Invoke.Value})
	}
	var errs []error
	for id, rs := range runs {
		sort.Slice(rs, func(i, j int) bool { return rs[i].from < rs[j].from })
		for i := 1; i < len(rs); i++ {
			if rs[i].from < rs[i-1].to {
				errs = append(errs, fmt.Errorf("%s: %v ran from %v while %v ran %v–%v", id, rs[i].pid, rs[i].from, rs[i-1].pid, rs[i-1].from, rs[i-1].to))
			}
		}
	}
	return errors.Join(errs...)
}

// worker is a test child: it counts what it receives, answers calls
// with its count, and hands its count off.
type worker struct {
	proc.Base
	id   string
	t    *tracker
	n    int
	trap bool
}

type (
	bump    struct{}
	getN    struct{}
	exitNow struct{ Normal bool }
)

func (w *worker) Init(p *proc.Process) error {
	if w.trap {
		p.TrapExit(true)
	}
	w.t.started(w.id, p)
	return nil
}

func (w *worker) HandleCast(p *proc.Process, msg any) {
	switch m := msg.(type) {
	case bump:
		w.n++
	case exitNow:
		if m.Normal {
			p.Stop(proc.ErrNormal)
		} else {
			p.Stop(errors.New("crash"))
		}
	}
}

func (w *worker) HandleInfo(p *proc.Process, msg any) {
	if _, ok := msg.(bump); ok {
		w.n++
	}
}

func (w *worker) HandleCall(p *proc.Process, _ proc.From, req any) (any, error) {
	switch req.(type) {
	case getN:
		return w.n, nil
	case bump:
		w.n++
		return w.n, nil
	}
	return nil, proc.ErrUnhandled
}

func (w *worker) BeginHandoff(p *proc.Process) (any, error) {
	w.t.ended(p.Self())
	return w.n, nil
}

func (w *worker) EndHandoff(_ *proc.Process, state any) error {
	if n, ok := state.(int); ok {
		w.n = n
	}
	return nil
}

func registerTest(r *codec.Registry) error {
	if err := RegisterTypes(r); err != nil {
		return err
	}
	codec.MustRegister[bump](r, "test.bump")
	codec.MustRegister[getN](r, "test.getN")
	codec.MustRegister[exitNow](r, "test.exitNow")
	return nil
}

// sups keeps the supervisor of every running member.
type sups struct {
	mu sync.Mutex
	m  map[string]*Supervisor
}

func (s *sups) get(name string) *Supervisor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[name]
}

type supService struct{ s *Supervisor }

func (x supService) Close() error { return x.s.Close() }

func (x supService) Drain(ctx context.Context) error { return x.s.Drain(ctx) }

func startSups(t testing.TB, n int, cfg Config, tr *tracker, mod func(*clustertest.Config)) (*clustertest.Harness, *sups) {
	t.Helper()
	ss := &sups{m: map[string]*Supervisor{}}
	if cfg.Interval == 0 {
		cfg.Interval = 50 * time.Millisecond
	}
	hc := clustertest.Config{
		Size:     n,
		Register: registerTest,
		Setup: func(m *clustertest.Member) (clustertest.Service, error) {
			s, err := Start(m.Cluster, cfg)
			if err != nil {
				return nil, err
			}
			if err := s.Register("worker", func(id string, arg any) (proc.Behavior, error) {
				trap, _ := arg.(bool)
				return &worker{id: id, t: tr, trap: trap}, nil
			}); err != nil {
				return nil, err
			}
			ss.mu.Lock()
			ss.m[m.Name] = s
			ss.mu.Unlock()
			return supService{s}, nil
		},
	}
	if mod != nil {
		mod(&hc)
	}
	return clustertest.Start(t, hc), ss
}

// exactlyOnce checks that every id runs as exactly one process, and that
// every running member's table shows that process.
func exactlyOnce(h *clustertest.Harness, ss *sups, tr *tracker, ids []string) error {
	ms := h.Running()
	for _, id := range ids {
		if n := tr.count(id); n != 1 {
			return fmt.Errorf("%s runs %d times", id, n)
		}
	}
	for _, m := range ms {
		s := ss.get(m.Name)
		for _, id := range ids {
			pid, ok := s.WhereIs(id)
			if !ok {
				return fmt.Errorf("%s does not see %s", m.Name, id)
			}
			tr.mu.Lock()
			live := tr.live[id][pid]
			tr.mu.Unlock()
			if !live {
				return fmt.Errorf("%s sees %s as %v, not running", m.Name, id, pid)
			}
		}
	}
	extra := []string{}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for id := range tr.running() {
		if !want[id] {
			extra = append(extra, id)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("unexpected children running: %v", extra)
	}
	return nil
}

package proc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// actor is the behaviour of the model test: it does what it is told and
// records the Exit and Down messages it gets.
type actor struct {
	Base
	trap bool
	log  *actorLog
}

type actorLog struct {
	mu    sync.Mutex
	exits map[PID][]Exit // by receiver
	downs map[PID][]Down // by receiver
}

type (
	doLink    struct{ to PID }
	doMonitor struct{ to PID }
	doCrash   struct{}
	doStop    struct{}
)

func (a *actor) Init(p *Process) error {
	p.TrapExit(a.trap)
	return nil
}

func (a *actor) HandleCall(p *Process, _ From, req any) (any, error) {
	switch r := req.(type) {
	case doLink:
		return nil, p.Link(r.to)
	case doMonitor:
		return p.Monitor(r.to), nil
	}
	return nil, ErrUnhandled
}

func (a *actor) HandleCast(p *Process, msg any) {
	switch msg.(type) {
	case doCrash:
		panic("injected")
	case doStop:
		p.Stop(ErrNormal)
	}
}

func (a *actor) HandleInfo(p *Process, msg any) {
	a.log.mu.Lock()
	defer a.log.mu.Unlock()
	switch m := msg.(type) {
	case Exit:
		a.log.exits[p.Self()] = append(a.log.exits[p.Self()], m)
	case Down:
		a.log.downs[p.Self()] = append(a.log.downs[p.Self()], m)
	}
}

// model is the naive oracle: who is alive, who is linked, and which Exit
// and Down messages each process must have received.
type model struct {
	alive    map[PID]bool
	trap     map[PID]bool
	links    map[PID]map[PID]bool
	monitors map[PID][]PID // target → watchers
	reason   map[PID]string
	exits    map[PID]map[PID]string // receiver → sender → kinds of reason, in order, each followed by ";"
	downs    map[PID]map[PID]string // watcher → target → kind (one monitor per pair)
	// maybe holds DOWNs whose watcher died in the same cascade as the
	// target: whether the DOWN or the watcher's own death comes first
	// depends on the order the cascade visits links, so either is right.
	maybe     map[PID]map[PID]string
	stepDowns [][2]PID // DOWNs expected during the current step
}

// endStep turns the DOWNs of watchers that died in this step into maybes.
func (m *model) endStep() {
	for _, d := range m.stepDowns {
		w, t := d[0], d[1]
		if !m.alive[w] {
			m.maybe[w][t] = m.downs[w][t]
			delete(m.downs[w], t)
		}
	}
	m.stepDowns = m.stepDowns[:0]
}

func reasonKind(err error) string {
	var ce *CrashError
	switch {
	case errors.As(err, &ce):
		return "crash"
	case errors.Is(err, ErrKilled):
		return "killed"
	case errors.Is(err, ErrNormal):
		return "normal"
	case errors.Is(err, ErrNoProc):
		return "noproc"
	}
	return err.Error()
}

// die applies the exit of pid with reason kind, cascading over links.
func (m *model) die(pid PID, kind string) {
	if !m.alive[pid] {
		return
	}
	m.alive[pid] = false
	m.reason[pid] = kind
	// Links first, then monitors, as the runtime does: a watcher that the
	// exit's link signal kills gets no DOWN.
	defer func() {
		for _, w := range m.monitors[pid] {
			if m.alive[w] {
				m.downs[w][pid] = kind
				m.stepDowns = append(m.stepDowns, [2]PID{w, pid})
			}
		}
	}()
	for peer := range m.links[pid] {
		delete(m.links[peer], pid)
		if !m.alive[peer] {
			continue
		}
		switch {
		case m.trap[peer]:
			m.exits[peer][pid] += kind + ";"
		case kind != "normal":
			m.die(peer, kind)
		}
	}
	m.links[pid] = nil
}

func TestLinksAndMonitorsMatchModel(t *testing.T) {
	rapid.Check(t, func(rt_ *rapid.T) {
		rt, err := New(Config{Node: "model@localhost", Logger: quietLogger()})
		if err != nil {
			rt_.Fatal(err)
		}
		defer rt.Close(context.Background())
		log := &actorLog{exits: map[PID][]Exit{}, downs: map[PID][]Down{}}
		m := &model{
			alive: map[PID]bool{}, trap: map[PID]bool{}, links: map[PID]map[PID]bool{},
			monitors: map[PID][]PID{}, reason: map[PID]string{},
			exits: map[PID]map[PID]string{}, downs: map[PID]map[PID]string{},
			maybe: map[PID]map[PID]string{},
		}
		var pids []PID
		livePID := func(label string) PID {
			var live []PID
			for _, p := range pids {
				if m.alive[p] {
					live = append(live, p)
				}
			}
			if len(live) == 0 {
				rt_.Skip("no live process")
			}
			return rapid.SampledFrom(live).Draw(rt_, label)
		}
		ctx := context.Background()
		steps := rapid.IntRange(5, 40).Draw(rt_, "steps")
		for range steps {
			op := rapid.IntRange(0, 9).Draw(rt_, "op")
			if len(pids) < 2 {
				op = 0
			}
			switch {
			case op <= 1: // spawn
				trap := rapid.Bool().Draw(rt_, "trap")
				pid, err := rt.Spawn(&actor{trap: trap, log: log})
				if err != nil {
					rt_.Fatal(err)
				}
				pids = append(pids, pid)
				m.alive[pid], m.trap[pid] = true, trap
				m.links[pid] = map[PID]bool{}
				m.exits[pid], m.downs[pid], m.maybe[pid] = map[PID]string{}, map[PID]string{}, map[PID]string{}
			case op <= 3: // link
				a, b := livePID("a"), livePID("b")
				if a == b {
					continue
				}
				if _, err := rt.Call(ctx, a, doLink{to: b}); err != nil {
					rt_.Fatalf("link %v %v: %v", a, b, err)
				}
				m.links[a][b], m.links[b][a] = true, true
			case op <= 5: // monitor, once per pair
				w, target := livePID("watcher"), rapid.SampledFrom(pids).Draw(rt_, "target")
				_, told := m.downs[w][target]
				if w == target || told || slices.Contains(m.monitors[target], w) {
					continue
				}
				if _, err := rt.Call(ctx, w, doMonitor{to: target}); err != nil {
					rt_.Fatal(err)
				}
				if m.alive[target] {
					m.monitors[target] = append(m.monitors[target], w)
				} else {
					m.downs[w][target] = "noproc"
				}
			case op == 6:
				a := livePID("crash")
				rt.Cast(a, doCrash{})
				m.die(a, "crash")
			case op == 7:
				a := livePID("stop")
				rt.Cast(a, doStop{})
				m.die(a, "normal")
			case op == 8:
				a := livePID("kill")
				rt.Exit(a, ErrKill)
				m.die(a, "killed")
			case op == 9: // an abnormal exit signal from outside
				a := livePID("signal")
				rt.Exit(a, errBoom)
				if m.trap[a] {
					m.exits[a][PID{}] += "boom;"
				} else {
					m.die(a, "boom")
				}
			}
			m.endStep()
			// The runtime must reach the model's set of live processes,
			// and the live ones must have handled what the model expects
			// (a message still queued would die with a later kill).
			waitFor(rt_, func() error {
				for _, p := range pids {
					if rt.Alive(p) != m.alive[p] {
						return fmt.Errorf("%v alive=%v, model says %v", p, rt.Alive(p), m.alive[p])
					}
				}
				return checkLogs(log, m, pids)
			})
		}
		waitFor(rt_, func() error { return checkLogs(log, m, pids) })
	})
}

// checkLogs reports a difference between the Exit and Down messages the
// processes handled and those the model expects: each exactly once.
func checkLogs(log *actorLog, m *model, pids []PID) error {
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, p := range pids {
		got := map[PID]string{}
		for _, e := range log.exits[p] {
			got[e.From] += reasonKind(e.Reason) + ";"
		}
		if !mapsEqual(got, m.exits[p]) {
			return fmt.Errorf("%v exits %v, model %v", p, got, m.exits[p])
		}
		got = map[PID]string{}
		for _, d := range log.downs[p] {
			if _, dup := got[d.PID]; dup {
				return fmt.Errorf("%v got two downs for %v", p, d.PID)
			}
			kind := reasonKind(d.Reason)
			if maybe, ok := m.maybe[p][d.PID]; ok {
				if kind != maybe {
					return fmt.Errorf("%v got down %v for %v, model %v", p, kind, d.PID, maybe)
				}
				continue
			}
			got[d.PID] = kind
		}
		if !mapsEqual(got, m.downs[p]) {
			return fmt.Errorf("%v downs %v, model %v", p, got, m.downs[p])
		}
	}
	return nil
}

func mapsEqual(a, b map[PID]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// waitFor polls cond for up to 5 s, failing the rapid case.
func waitFor(t *rapid.T, cond func() error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

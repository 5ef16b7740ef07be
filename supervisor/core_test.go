package supervisor

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/grovedev/grove/proc"
	"pgregory.net/rapid"
)

var t0 = time.Unix(1_000_000, 0)

func nopStart() proc.Behavior { return proc.HandlerFunc(func(*proc.Process, any) {}) }

// testCore builds a core whose children all run, with PIDs 1..n.
func testCore(spec Spec) (*core, uint64) {
	for i := range spec.Children {
		spec.Children[i].Start = nopStart
	}
	c := newCore(spec)
	var id uint64
	for _, k := range c.kids {
		id++
		c.started(k, proc.PID{Node: "n", ID: id}, t0)
	}
	return c, id
}

func ids(kids []*child) []string {
	var out []string
	for _, k := range kids {
		out = append(out, k.spec.ID)
	}
	return out
}

func stopIDs(orders []stopOrder) []string {
	var out []string
	for _, o := range orders {
		out = append(out, o.id)
	}
	return out
}

func TestCoreGroups(t *testing.T) {
	for _, tc := range []struct {
		strategy  Strategy
		failed    int
		stop      []string
		start     []string
		remaining []string
	}{
		{OneForOne, 1, nil, []string{"b"}, []string{"a", "b", "t", "d"}},
		{OneForAll, 1, []string{"d", "t", "a"}, []string{"a", "b", "d"}, []string{"a", "b", "d"}},
		{RestForOne, 1, []string{"d", "t"}, []string{"b", "d"}, []string{"a", "b", "d"}},
		{RestForOne, 3, nil, []string{"d"}, []string{"a", "b", "t", "d"}},
		{OneForAll, 0, []string{"d", "t", "b"}, []string{"a", "b", "d"}, []string{"a", "b", "d"}},
	} {
		t.Run(fmt.Sprintf("%v/%d", tc.strategy, tc.failed), func(t *testing.T) {
			c, _ := testCore(Spec{Strategy: tc.strategy, Children: []ChildSpec{
				{ID: "a"}, {ID: "b", Restart: Transient}, {ID: "t", Restart: Temporary}, {ID: "d"}}})
			eff, ok := c.exited(c.kids[tc.failed].pid, errBoom, t0)
			if !ok || eff.escalate || eff.tok == 0 || eff.delay != 0 {
				t.Fatalf("effects %+v ok=%v", eff, ok)
			}
			eq(t, "stop", stopIDs(eff.stop), tc.stop)
			eq(t, "start", ids(c.due(eff.tok)), tc.start)
			eq(t, "children", ids(c.kids), tc.remaining)
		})
	}
}

func TestCoreNoRestart(t *testing.T) {
	c, _ := testCore(Spec{Strategy: OneForAll, Children: []ChildSpec{
		{ID: "a", Restart: Transient}, {ID: "t", Restart: Temporary}, {ID: "p"}}})
	for _, r := range []error{proc.ErrNormal, proc.ErrShutdown, proc.ShutdownError{Reason: errBoom}} {
		if eff, ok := c.exited(c.kids[0].pid, r, t0); !ok || eff.tok != 0 || len(eff.stop) != 0 {
			t.Fatalf("transient exit %v: %+v", r, eff)
		}
		c.started(c.kids[0], proc.PID{Node: "n", ID: 100}, t0)
	}
	if eff, _ := c.exited(c.kids[1].pid, errBoom, t0); eff.tok != 0 {
		t.Fatalf("temporary restarted: %+v", eff)
	}
	eq(t, "children", ids(c.kids), []string{"a", "p"})
	if _, ok := c.exited(proc.PID{Node: "n", ID: 99}, errBoom, t0); ok {
		t.Fatal("exit of a stranger handled")
	}
	if _, ok := c.exited(proc.PID{}, errBoom, t0); ok {
		t.Fatal("exit of the zero PID handled")
	}
}

func TestCoreStaleExitIgnored(t *testing.T) {
	c, _ := testCore(Spec{Strategy: OneForAll, Children: []ChildSpec{{ID: "a"}, {ID: "b"}}})
	oldB := c.kids[1].pid
	eff, _ := c.exited(c.kids[0].pid, errBoom, t0)
	for i, k := range c.due(eff.tok) {
		c.started(k, proc.PID{Node: "n", ID: uint64(10 + i)}, t0)
	}
	// b was stopped by the group restart; its exit arrives late.
	if _, ok := c.exited(oldB, proc.ErrShutdown, t0); ok {
		t.Fatal("late exit of a replaced child handled")
	}
}

func TestCoreEscalation(t *testing.T) {
	c, _ := testCore(Spec{Intensity: 2, Period: 10 * time.Second, Children: []ChildSpec{{ID: "a"}}})
	now := t0
	crash := func() effects {
		eff, _ := c.exited(c.kids[0].pid, errBoom, now)
		if eff.tok != 0 {
			c.started(c.due(eff.tok)[0], proc.PID{Node: "n", ID: uint64(now.Unix())}, now)
		}
		return eff
	}
	crash()
	now = now.Add(4 * time.Second)
	crash()
	now = now.Add(6 * time.Second) // the first restart leaves the window
	if eff := crash(); eff.escalate {
		t.Fatal("escalated with 2 restarts in the window")
	}
	now = now.Add(time.Second)
	if eff := crash(); !eff.escalate {
		t.Fatal("3 restarts within 10 s did not escalate")
	}
}

func TestCoreStartFailed(t *testing.T) {
	c, _ := testCore(Spec{Strategy: RestForOne, Intensity: 2, Period: time.Hour, Children: []ChildSpec{{ID: "a"}, {ID: "b"}, {ID: "c"}}})
	eff, _ := c.exited(c.kids[0].pid, errBoom, t0)
	batch := c.due(eff.tok)
	c.started(batch[0], proc.PID{Node: "n", ID: 20}, t0)
	eff = c.startFailed(batch, batch[1], t0)
	eq(t, "stop", stopIDs(eff.stop), []string{"a"})
	if eff.escalate || eff.tok == 0 {
		t.Fatalf("effects %+v", eff)
	}
	eq(t, "retry", ids(c.due(eff.tok)), []string{"a", "b", "c"})
	batch = c.due(eff.tok)
	if eff = c.startFailed(batch, batch[0], t0); !eff.escalate {
		t.Fatal("third restart did not escalate")
	}
}

func TestCoreAPI(t *testing.T) {
	c, _ := testCore(Spec{Children: []ChildSpec{{ID: "a"}, {ID: "t", Restart: Temporary}}})
	if _, err := c.restartable("a"); !errors.Is(err, ErrRunning) {
		t.Fatal(err)
	}
	if err := c.delete("zz"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	o, err := c.terminate("t")
	if err != nil || o == nil || o.id != "t" {
		t.Fatalf("%v %v", o, err)
	}
	eq(t, "children", ids(c.kids), []string{"a"})
	if o, _ := c.terminate("a"); o == nil {
		t.Fatal("no stop order")
	}
	if o, _ := c.terminate("a"); o != nil {
		t.Fatal("stop order for a stopped child")
	}
	if _, err := c.restartable("a"); err != nil {
		t.Fatal(err)
	}
	if err := c.delete("a"); err != nil || len(c.kids) != 0 {
		t.Fatal(err)
	}
}

func TestCoreBackoff(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 5 * time.Second, ResetAfter: time.Minute}
	c, _ := testCore(Spec{Intensity: 100, Backoff: b, Children: []ChildSpec{{ID: "a"}}})
	now := t0
	var delays []time.Duration
	for i := range 5 {
		eff, _ := c.exited(c.kids[0].pid, errBoom, now)
		delays = append(delays, eff.delay)
		now = now.Add(eff.delay)
		c.started(c.due(eff.tok)[0], proc.PID{Node: "n", ID: uint64(100 + i)}, now)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	if !slices.Equal(delays, want) {
		t.Fatalf("delays %v, want %v", delays, want)
	}
	now = now.Add(time.Minute) // stable long enough
	if eff, _ := c.exited(c.kids[0].pid, errBoom, now); eff.delay != time.Second {
		t.Fatalf("delay after a stable run %v", eff.delay)
	}
}

func TestBackoffDelay(t *testing.T) {
	if d := (Backoff{}).Delay(3); d != 0 {
		t.Fatalf("disabled backoff delays %v", d)
	}
	b := Backoff{Initial: 100 * time.Millisecond, Multiplier: 3}
	want := []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 900 * time.Millisecond, 2700 * time.Millisecond}
	for i, w := range want {
		if d := b.Delay(i); d != w {
			t.Fatalf("Delay(%d) = %v, want %v", i, d, w)
		}
	}
	if d := b.Delay(1000); d != 30*time.Second {
		t.Fatalf("Delay(1000) = %v, want the default Max", d)
	}
	if r := b.ResetPeriod(); r != 30*time.Second {
		t.Fatalf("ResetPeriod %v", r)
	}
}

func TestValidate(t *testing.T) {
	ok := ChildSpec{ID: "a", Start: nopStart}
	for name, s := range map[string]Spec{
		"strategy":   {Strategy: 7},
		"intensity":  {Intensity: -2},
		"period":     {Period: -1},
		"backoff":    {Backoff: Backoff{Initial: time.Second, Multiplier: 0.5}},
		"backoffNeg": {Backoff: Backoff{Initial: -1}},
		"duplicate":  {Children: []ChildSpec{ok, ok}},
		"noStart":    {Children: []ChildSpec{{ID: "x"}}},
		"restart":    {Children: []ChildSpec{{ID: "x", Start: nopStart, Restart: 9}}},
		"type":       {Children: []ChildSpec{{ID: "x", Start: nopStart, Type: 9}}},
		"shutdown":   {Children: []ChildSpec{{ID: "x", Start: nopStart, Shutdown: -5}}},
	} {
		if err := s.Validate(); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%s: Validate() = %v", name, err)
		}
	}
	good := Spec{Intensity: NoRestarts, Children: []ChildSpec{ok, {ID: "b", Start: nopStart, Shutdown: BrutalKill}}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	d := good.withDefaults()
	if d.Intensity != 0 || d.Period != DefaultPeriod || d.Children[0].Shutdown != DefaultWorkerShutdown || d.Children[1].Shutdown != BrutalKill {
		t.Fatalf("defaults %+v", d)
	}
	if (ChildSpec{Type: Supervisor}).ShutdownTimeout() != Infinity {
		t.Fatal("supervisor shutdown default")
	}
}

// model is a naive supervisor: the list of children with a running flag,
// the times of past restarts, and the backoff bookkeeping.
type model struct {
	strategy Strategy
	max      int
	period   time.Duration
	backoff  Backoff
	kids     []mkid
	restarts []time.Time
}

type mkid struct {
	id       string
	restart  Restart
	running  bool
	attempts int
	since    time.Time
}

func (m *model) index(id string) int {
	return slices.IndexFunc(m.kids, func(k mkid) bool { return k.id == id })
}

// countRestart reports whether one more restart at now stays within the
// intensity.
func (m *model) countRestart(now time.Time) bool {
	var in []time.Time
	for _, r := range m.restarts {
		if now.Sub(r) < m.period {
			in = append(in, r)
		}
	}
	m.restarts = append(in, now)
	return len(m.restarts) <= m.max
}

// exit returns what must be stopped and started when child i exits.
func (m *model) exit(i int, abnormal bool, now time.Time) (stop, start []string, delay time.Duration, escalate bool) {
	k := &m.kids[i]
	k.running = false
	if k.restart == Temporary || (k.restart == Transient && !abnormal) {
		if k.restart == Temporary {
			m.kids = slices.Delete(m.kids, i, i+1)
		}
		return nil, nil, 0, false
	}
	if m.backoff.Enabled() && now.Sub(k.since) >= m.backoff.ResetPeriod() {
		k.attempts = 0
	}
	if !m.countRestart(now) {
		return nil, nil, 0, true
	}
	if m.backoff.Enabled() {
		delay = m.backoff.Delay(k.attempts)
		k.attempts++
	}
	lo, hi := i, i
	switch m.strategy {
	case OneForAll:
		lo, hi = 0, len(m.kids)-1
	case RestForOne:
		hi = len(m.kids) - 1
	}
	for j := hi; j >= lo; j-- {
		if j != i && m.kids[j].running {
			stop = append(stop, m.kids[j].id)
		}
	}
	var keep []mkid
	for j, k := range m.kids {
		if j >= lo && j <= hi {
			if k.restart == Temporary {
				continue
			}
			start = append(start, k.id)
		}
		keep = append(keep, k)
	}
	m.kids = keep
	return stop, start, delay, false
}

// TestCoreAgainstModel drives the core with random exits, start failures
// and API calls, and compares every decision with the naive model. The core
// is cheap to run: each round is rapid's usual batch (-rapid.checks, 100 by
// default) and the test runs coreRounds of them, each with its own seed.
func TestCoreAgainstModel(t *testing.T) {
	rounds := coreRounds
	if testing.Short() {
		rounds = 1
	}
	for range rounds {
		rapid.Check(t, checkCoreAgainstModel)
		if t.Failed() {
			return
		}
	}
}

const coreRounds = 30

func checkCoreAgainstModel(t *rapid.T) {
	period := time.Duration(rapid.IntRange(1, 10).Draw(t, "periodSec")) * time.Second
	m := &model{
		strategy: Strategy(rapid.IntRange(0, 2).Draw(t, "strategy")),
		max:      rapid.IntRange(0, 5).Draw(t, "intensity"),
		period:   period,
	}
	if rapid.Bool().Draw(t, "backoff") {
		m.backoff = Backoff{Initial: time.Second, Max: 8 * time.Second, ResetAfter: 20 * time.Second}
	}
	intensity := m.max
	if intensity == 0 {
		intensity = NoRestarts
	}
	spec := Spec{Strategy: m.strategy, Intensity: intensity, Period: period, Backoff: m.backoff}
	n := rapid.IntRange(1, 6).Draw(t, "children")
	var initial []mkid
	for i := range n {
		r := Restart(rapid.IntRange(0, 2).Draw(t, "restart"))
		id := fmt.Sprintf("c%d", i)
		spec.Children = append(spec.Children, ChildSpec{ID: id, Restart: r})
		initial = append(initial, mkid{id: id, restart: r, running: true, since: t0})
	}
	var (
		c         *core
		lastPID   uint64
		now       time.Time
		stale     []proc.PID
		escalated bool
	)
	// reset starts the supervisor afresh, as its own supervisor would
	// after it gave up.
	reset := func() {
		c, _ = testCore(spec)
		for _, k := range c.kids {
			lastPID++ // PIDs are never reused
			k.pid.ID = lastPID
		}
		now, escalated = t0, false
		m.kids, m.restarts = slices.Clone(initial), nil
	}
	reset()
	newPID := func() proc.PID { lastPID++; return proc.PID{Node: "n", ID: lastPID} }

	// startBatch starts the children of tok, failing some starts at
	// random, as the supervisor would; it follows the model.
	startBatch := func(t *rapid.T, tok uint64, want []string) {
		for tok != 0 {
			batch := c.due(tok)
			eq(t, "batch", ids(batch), want)
			fail := -1
			if len(batch) > 0 && rapid.IntRange(0, 4).Draw(t, "failStart") == 0 {
				fail = rapid.IntRange(0, len(batch)-1).Draw(t, "failAt")
			}
			if fail < 0 {
				for _, k := range batch {
					c.started(k, newPID(), now)
					mk := &m.kids[m.index(k.spec.ID)]
					mk.running, mk.since = true, now
				}
				return
			}
			for _, k := range batch[:fail] {
				c.started(k, newPID(), now)
			}
			eff := c.startFailed(batch, batch[fail], now)
			var wantStop []string
			for j := fail - 1; j >= 0; j-- {
				wantStop = append(wantStop, batch[j].spec.ID)
			}
			eq(t, "stop after failed start", stopIDs(eff.stop), wantStop)
			for _, o := range eff.stop {
				stale = append(stale, o.pid)
			}
			fk := &m.kids[m.index(batch[fail].spec.ID)]
			if !m.countRestart(now) {
				if !eff.escalate {
					t.Fatalf("failed start did not escalate")
				}
				escalated = true
				return
			}
			var wantDelay time.Duration
			if m.backoff.Enabled() {
				wantDelay = m.backoff.Delay(fk.attempts)
				fk.attempts++
			}
			if eff.escalate || eff.delay != wantDelay {
				t.Fatalf("failed start: effects %+v, want delay %v", eff, wantDelay)
			}
			tok = eff.tok
			now = now.Add(eff.delay)
		}
	}

	t.Repeat(map[string]func(*rapid.T){
		"reset": func(*rapid.T) { reset() },
		"exit": func(t *rapid.T) {
			var running []int
			for i, k := range m.kids {
				if k.running {
					running = append(running, i)
				}
			}
			if len(running) == 0 {
				t.Skip("nothing runs")
			}
			i := rapid.SampledFrom(running).Draw(t, "child")
			reason := rapid.SampledFrom([]error{proc.ErrNormal, proc.ErrShutdown, proc.ShutdownError{Reason: errBoom}, errBoom, proc.ErrKilled, &proc.CrashError{Value: "x"}}).Draw(t, "reason")
			now = now.Add(time.Duration(rapid.IntRange(0, 8).Draw(t, "elapsedHalfSec")) * 500 * time.Millisecond)
			pid := c.kids[c.find(m.kids[i].id)].pid
			eff, ok := c.exited(pid, reason, now)
			if !ok {
				t.Fatalf("exit of child %v ignored", pid)
			}
			abnormal := !proc.IsNormalExit(reason) && !errors.Is(reason, proc.ErrShutdown)
			stop, start, delay, esc := m.exit(i, abnormal, now)
			if esc {
				if !eff.escalate {
					t.Fatal("did not escalate")
				}
				escalated = true
				return
			}
			if eff.escalate {
				t.Fatal("escalated within the intensity")
			}
			eq(t, "stop", stopIDs(eff.stop), stop)
			for _, o := range eff.stop {
				stale = append(stale, o.pid)
			}
			stale = append(stale, pid)
			if (eff.tok != 0) != (start != nil) || eff.delay != delay {
				t.Fatalf("effects %+v, want start %v after %v", eff, start, delay)
			}
			now = now.Add(eff.delay)
			startBatch(t, eff.tok, start)
		},
		"staleExit": func(t *rapid.T) {
			if len(stale) == 0 {
				t.Skip("no stale PID")
			}
			pid := rapid.SampledFrom(stale).Draw(t, "stale")
			if _, ok := c.exited(pid, errBoom, now); ok {
				t.Fatalf("stale exit of %v handled", pid)
			}
		},
		"terminate": func(t *rapid.T) {
			if len(m.kids) == 0 {
				t.Skip("no child")
			}
			i := rapid.IntRange(0, len(m.kids)-1).Draw(t, "child")
			k := m.kids[i]
			o, err := c.terminate(k.id)
			if err != nil || (o != nil) != k.running {
				t.Fatalf("terminate %s: %v %v", k.id, o, err)
			}
			if o != nil {
				stale = append(stale, o.pid)
			}
			m.kids[i].running = false
			if k.restart == Temporary {
				m.kids = slices.Delete(m.kids, i, i+1)
			}
		},
		"restartChild": func(t *rapid.T) {
			if len(m.kids) == 0 {
				t.Skip("no child")
			}
			i := rapid.IntRange(0, len(m.kids)-1).Draw(t, "child")
			k, err := c.restartable(m.kids[i].id)
			if m.kids[i].running {
				if !errors.Is(err, ErrRunning) {
					t.Fatalf("restart of a running child: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.started(k, newPID(), now)
			m.kids[i].running, m.kids[i].since = true, now
		},
		"": func(t *rapid.T) {
			// The invariant: the core's children are the model's.
			var got, want []string
			for _, k := range c.kids {
				got = append(got, fmt.Sprintf("%s:%v", k.spec.ID, k.state == stateRunning))
				if (k.state == stateRunning) == k.pid.IsZero() {
					t.Fatalf("child %s in state %d with PID %v", k.spec.ID, k.state, k.pid)
				}
			}
			for _, k := range m.kids {
				want = append(want, fmt.Sprintf("%s:%v", k.id, k.running))
			}
			if escalated {
				reset()
				return
			}
			eq(t, "children", got, want)
		},
	})
}

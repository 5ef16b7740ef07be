package proc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"pgregory.net/rapid"
)

// TestPromisesUnderRandomKills drives processes through random links,
// unlinks, monitors, demonitors, held calls and their late answers, last
// words and timers, and kills, crashes and stops them at random points,
// some of them racing the kill against an Unlink, a Demonitor or an
// answer. After every step it checks each promise against a naive model:
//
//   - no call waits past its callee's death: it returns the answer or an
//     *ExitError;
//   - no exit signal acts after Unlink returned, no DOWN arrives after a
//     Demonitor that returned true;
//   - messages a process sent before it exited arrive before the DOWN and
//     the Exit its exit causes;
//   - nothing is left behind: links, monitors, watchers and timers of the
//     live processes are those of the model, dead processes hold none, and
//     at the end no process, no waiting caller and no goroutine is left.
//
// The default run is short; GROVE_PROC_MODEL_CHECKS=N runs N cases.
func TestPromisesUnderRandomKills(t *testing.T) {
	if v := os.Getenv("GROVE_PROC_MODEL_CHECKS"); v != "" {
		if err := flag.Set("rapid.checks", v); err != nil {
			t.Fatal(err)
		}
	} else if raceEnabled {
		if err := flag.Set("rapid.checks", "30"); err != nil {
			t.Fatal(err)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		before := goleak.IgnoreCurrent()
		rt, err := New(Config{Node: "promises@localhost", Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		w := newWorld(t, rt)
		defer w.close()
		steps := rapid.IntRange(5, 50).Draw(t, "steps")
		for range steps {
			w.step()
			w.check()
		}
		w.finish()
		w.close()
		// No goroutine of the runtime's, nor of a caller, outlives it.
		if err := goleak.Find(before); err != nil {
			t.Fatal(err)
		}
	})
}

// promiser is the behaviour of the model test: it does what the driver
// tells it and logs what it handles.
type promiser struct {
	Base
	trap bool
	log  *plog
	held map[int]From
}

type (
	opLink   struct{ to PID }
	opUnlink struct {
		to PID
		n  int // names the marker
	}
	opMonitor   struct{ to PID }
	opDemonitor struct{ ref Ref }
	opHold      struct{ id int }
	opIsHeld    struct{ id int }
	opReply     struct{ id int }
	opTimer     struct{}
	opNoop      struct{}
	opWords     struct {
		to   PID
		n    int
		then string // "stop", "crash" or ""
	}
	opCrash struct{}
	word    struct {
		from PID
		i    int
	}
	marker struct { // sent to self after unlinking from
		from PID
		n    int // the unlink's number: a process may unlink from the same peer more than once
	}
)

// plog is what every process handled, in order.
type plog struct {
	mu sync.Mutex
	ev map[PID][]any
}

func (l *plog) add(pid PID, m any) {
	l.mu.Lock()
	l.ev[pid] = append(l.ev[pid], m)
	l.mu.Unlock()
}

func (l *plog) of(pid PID) []any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ev[pid])
}

func (a *promiser) Init(p *Process) error {
	p.TrapExit(a.trap)
	return nil
}

func (a *promiser) HandleCall(p *Process, from From, req any) (any, error) {
	switch r := req.(type) {
	case opLink:
		return nil, p.Link(r.to)
	case opUnlink:
		p.Unlink(r.to)
		alive := p.Alive()
		p.Send(p.Self(), marker{from: r.to, n: r.n})
		return alive, nil
	case opMonitor:
		return p.Monitor(r.to), nil
	case opDemonitor:
		return p.Demonitor(r.ref), nil
	case opHold:
		a.held[r.id] = from
		return NoReply, nil
	case opIsHeld:
		_, ok := a.held[r.id]
		return ok, nil
	case opReply:
		// The answer names the call it answers.
		if f, ok := a.held[r.id]; ok {
			f.Reply(fmt.Sprint("answer ", r.id), nil)
			delete(a.held, r.id)
		}
		return nil, nil
	case opTimer:
		p.SendAfter(time.Hour, "never")
		return p.NumTimers(), nil
	case opNoop:
		return nil, nil
	case opWords:
		for i := range r.n {
			p.Send(r.to, word{from: p.Self(), i: i})
		}
		switch r.then {
		case "stop":
			p.Stop(ErrNormal)
		case "crash":
			panic("after last words")
		}
		return nil, nil
	}
	return nil, ErrUnhandled
}

func (a *promiser) HandleCast(p *Process, msg any) {
	if _, ok := msg.(opCrash); ok {
		panic("injected")
	}
}

func (a *promiser) HandleInfo(p *Process, msg any) { a.log.add(p.Self(), msg) }

// world is the runtime under test and its model.
type world struct {
	t    *rapid.T
	rt   *Runtime
	log  *plog
	ps   []*mproc
	mons []*mmon
	// exits[receiver][sender] lists the kinds of the Exit messages the
	// receiver must handle from the sender, each followed by ";".
	exits map[PID]map[PID]string
	calls []*mcall
	wg    sync.WaitGroup
	// holds counts the calls each process has held, to name them.
	holds map[PID]int
	// stepDowns are the monitors whose DOWN the current step expects.
	stepDowns []*mmon
	// unlinks numbers the unlinks, to find each one's marker.
	unlinks int
}

type mproc struct {
	pid    PID
	p      *Process
	alive  bool
	trap   bool
	links  map[PID]bool
	timers int
	words  map[PID]int // words sent to each process before an exit
}

type mmon struct {
	watcher, target PID
	ref             Ref
	active          bool   // the watcher holds it
	down            string // the kind of the DOWN expected, "" for none
	maybe           bool   // the watcher died in the cascade that told it: either is right
}

type mcall struct {
	callee   PID
	id       int
	answered bool // told to answer: the answer or, if racing an exit, an *ExitError
	res      chan error
	done     bool
	err      error
}

func newWorld(t *rapid.T, rt *Runtime) *world {
	return &world{t: t, rt: rt, log: &plog{ev: map[PID][]any{}}, exits: map[PID]map[PID]string{}, holds: map[PID]int{}}
}

func (w *world) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.rt.Close(ctx); err != nil {
		w.t.Errorf("close: %v", err)
	}
	w.wg.Wait()
}

// waitCallers waits for every caller to have returned.
func (w *world) waitCallers() {
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		w.t.Fatal("callers still wait after every process exited")
	}
}

func (w *world) proc(pid PID) *mproc {
	for _, m := range w.ps {
		if m.pid == pid {
			return m
		}
	}
	return nil
}

func (w *world) live(label string) *mproc {
	var live []*mproc
	for _, m := range w.ps {
		if m.alive {
			live = append(live, m)
		}
	}
	if len(live) == 0 {
		w.spawn()
		return w.ps[len(w.ps)-1]
	}
	return rapid.SampledFrom(live).Draw(w.t, label)
}

func (w *world) call(to PID, req any) any {
	v, err := w.rt.Call(context.Background(), to, req)
	if err != nil {
		w.t.Fatalf("%T to %v: %v", req, to, err)
	}
	return v
}

func (w *world) spawn() {
	trap := rapid.Bool().Draw(w.t, "trap")
	pid, err := w.rt.Spawn(&promiser{trap: trap, log: w.log, held: map[int]From{}})
	if err != nil {
		w.t.Fatal(err)
	}
	w.ps = append(w.ps, &mproc{pid: pid, p: w.rt.table.get(pid), alive: true, trap: trap, links: map[PID]bool{}, words: map[PID]int{}})
	w.exits[pid] = map[PID]string{}
}

func reasonKindOf(err error) string {
	switch {
	case errors.As(err, new(*CrashError)):
		return "crash"
	case err == ErrKilled:
		return "killed"
	case err == ErrNormal:
		return "normal"
	case err == ErrNoProc:
		return "noproc"
	}
	return err.Error()
}

// die applies the exit of m with reason kind to the model, with the
// cascade over its links; the runtime handles it breadth first too.
func (w *world) die(first *mproc, kind string) {
	type ex struct {
		m    *mproc
		kind string
	}
	queue := []ex{{first, kind}}
	first.alive = false
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		m := e.m
		m.timers = 0
		for peerPID := range m.links {
			peer := w.proc(peerPID)
			delete(peer.links, m.pid)
			if !peer.alive {
				continue
			}
			switch {
			case peer.trap:
				w.exits[peer.pid][m.pid] += e.kind + ";"
			case e.kind != "normal":
				peer.alive = false
				queue = append(queue, ex{peer, e.kind})
			}
		}
		m.links = map[PID]bool{}
		for _, mon := range w.mons {
			if mon.watcher == m.pid {
				mon.active = false
			}
		}
		for _, mon := range w.mons {
			if mon.target == m.pid && mon.active {
				mon.active = false
				mon.down = e.kind
				w.stepDowns = append(w.stepDowns, mon)
			}
		}
	}
}

// endStep turns the DOWNs of watchers that died in this step into maybes.
func (w *world) endStep() {
	for _, mon := range w.stepDowns {
		if !w.proc(mon.watcher).alive {
			mon.maybe = true
		}
	}
	w.stepDowns = w.stepDowns[:0]
}

func (w *world) step() {
	if len(w.ps) < 2 {
		w.spawn()
		return
	}
	defer w.endStep()
	switch op := rapid.IntRange(0, 15).Draw(w.t, "op"); op {
	case 0, 1:
		w.spawn()
	case 2: // link
		a, b := w.live("a"), w.live("b")
		if a == b {
			return
		}
		w.call(a.pid, opLink{b.pid})
		a.links[b.pid], b.links[a.pid] = true, true
	case 3: // unlink, maybe of a process not linked
		a, b := w.live("a"), rapid.SampledFrom(w.ps).Draw(w.t, "b")
		w.unlinks++
		w.call(a.pid, opUnlink{to: b.pid, n: w.unlinks})
		delete(a.links, b.pid)
		delete(b.links, a.pid)
	case 4: // monitor
		a, b := w.live("watcher"), rapid.SampledFrom(w.ps).Draw(w.t, "target")
		ref := w.call(a.pid, opMonitor{b.pid}).(Ref)
		mon := &mmon{watcher: a.pid, target: b.pid, ref: ref, active: b.alive}
		if !b.alive {
			mon.down = "noproc"
		}
		w.mons = append(w.mons, mon)
	case 5: // demonitor
		var active []*mmon
		for _, mon := range w.mons {
			if mon.active {
				active = append(active, mon)
			}
		}
		if len(active) == 0 {
			return
		}
		mon := rapid.SampledFrom(active).Draw(w.t, "monitor")
		if !w.call(mon.watcher, opDemonitor{mon.ref}).(bool) {
			w.t.Fatalf("Demonitor of an active monitor returned false")
		}
		mon.active = false
	case 6: // a call the callee holds
		m := w.live("callee")
		w.startCall(m)
	case 7: // the answer to a held call
		c := w.pendingCall()
		if c == nil {
			return
		}
		w.call(c.callee, opReply{c.id})
		c.answered = true
	case 8:
		m := w.live("timer")
		if n := w.call(m.pid, opTimer{}).(int); n != m.timers+1 {
			w.t.Fatalf("%v has %d timers, model %d", m.pid, n, m.timers+1)
		}
		m.timers++
	case 9: // last words, then an exit
		a, b := w.live("speaker"), w.live("listener")
		if a == b {
			return
		}
		n := rapid.IntRange(1, 20).Draw(w.t, "words")
		then := rapid.SampledFrom([]string{"stop", "crash", ""}).Draw(w.t, "then")
		_, err := w.rt.Call(context.Background(), a.pid, opWords{to: b.pid, n: n, then: then})
		a.words[b.pid] += n
		switch then {
		case "stop":
			w.die(a, "normal")
		case "crash":
			if !errors.As(err, new(*ExitError)) {
				w.t.Fatalf("call to a process crashing in it = %v", err)
			}
			w.die(a, "crash")
		}
	case 10:
		m := w.live("kill")
		w.rt.Exit(m.pid, ErrKill)
		w.die(m, "killed")
	case 11:
		m := w.live("crash")
		w.rt.Cast(m.pid, opCrash{})
		w.die(m, "crash")
	case 12: // an abnormal exit signal from outside
		m := w.live("signal")
		w.rt.Exit(m.pid, errBoom)
		if m.trap {
			w.exits[m.pid][PID{}] += "boom;"
		} else {
			w.die(m, "boom")
		}
	case 13:
		w.raceUnlink()
	case 14:
		w.raceDemonitor()
	case 15:
		w.raceAnswer()
	}
}

func (w *world) startCall(m *mproc) {
	id := w.holds[m.pid]
	w.holds[m.pid]++
	c := &mcall{callee: m.pid, id: id, res: make(chan error, 1)}
	w.calls = append(w.calls, c)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		// Every call ends when its callee answers or exits, and finish
		// kills every process; the deadline only keeps a broken runtime
		// from hanging the test.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		v, err := w.rt.Call(ctx, m.pid, opHold{id})
		if err == nil && v != fmt.Sprint("answer ", id) {
			err = fmt.Errorf("answered %v", v)
		}
		c.res <- err
	}()
	// Wait until it is held, so that an answer finds it.
	waitFor(w.t, func() error {
		if !w.call(m.pid, opIsHeld{id}).(bool) {
			return fmt.Errorf("call %d not held yet", id)
		}
		return nil
	})
}

func (w *world) pendingCall() *mcall {
	var pending []*mcall
	for _, c := range w.calls {
		if !c.answered && !c.done && w.proc(c.callee).alive {
			pending = append(pending, c)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	return rapid.SampledFrom(pending).Draw(w.t, "call")
}

// raceUnlink unlinks a from b while b is killed. Either the signal came
// first (a dies, or an Exit from b is queued before a's marker) or the
// unlink did (a is untouched); what Unlink saw decides which, and nothing
// of the link may act after Unlink returned.
func (w *world) raceUnlink() {
	a, b := w.live("a"), w.live("b")
	if a == b || !a.links[b.pid] {
		return
	}
	if rapid.Bool().Draw(w.t, "in the window") {
		// Unlink at the worst moment: b's exit has taken its links and
		// is about to signal them.
		w.rt.OnExit(b.pid, func(PID, error) { a.p.Unlink(b.pid) })
		w.rt.Exit(b.pid, ErrKill)
		delete(a.links, b.pid)
		delete(b.links, a.pid)
		w.die(b, "killed")
		return
	}
	type result struct {
		alive bool
		err   error
	}
	res := make(chan result, 1)
	w.unlinks++
	n := w.unlinks
	go func() {
		v, err := w.rt.Call(context.Background(), a.pid, opUnlink{to: b.pid, n: n})
		alive, _ := v.(bool)
		res <- result{alive, err}
	}()
	w.rt.Exit(b.pid, ErrKill) // the cascade is done when it returns
	r := <-res
	signalFirst := r.err != nil || !r.alive
	if a.trap && r.err == nil {
		// Find out whether b's Exit was queued before a's marker.
		w.call(a.pid, opNoop{})
		signalFirst = false
		for _, e := range w.log.of(a.pid) {
			if x, ok := e.(Exit); ok && x.From == b.pid && x.Reason == ErrKilled {
				signalFirst = true
			}
			if m, ok := e.(marker); ok && m.from == b.pid && m.n == n {
				break
			}
		}
	}
	if !signalFirst {
		delete(a.links, b.pid)
		delete(b.links, a.pid)
	}
	w.die(b, "killed")
	if !signalFirst && !a.alive {
		w.t.Fatalf("the model killed %v after its Unlink returned", a.pid)
	}
}

// raceDemonitor removes a monitor while its target is killed: Demonitor
// reports true and no DOWN comes, or false and the DOWN comes.
func (w *world) raceDemonitor() {
	var active []*mmon
	for _, mon := range w.mons {
		if mon.active && mon.watcher != mon.target {
			active = append(active, mon)
		}
	}
	if len(active) == 0 {
		return
	}
	mon := rapid.SampledFrom(active).Draw(w.t, "monitor")
	target := w.proc(mon.target)
	if rapid.Bool().Draw(w.t, "in the window") {
		// Demonitor at the worst moment: the target's exit has taken its
		// watchers and is about to tell them.
		removed := false
		watcher := w.proc(mon.watcher).p
		w.rt.OnExit(target.pid, func(PID, error) { removed = watcher.Demonitor(mon.ref) })
		w.rt.Exit(target.pid, ErrKill)
		if !removed {
			w.t.Fatalf("Demonitor of an active monitor returned false")
		}
		mon.active = false
		w.die(target, "killed")
		return
	}
	res := make(chan any, 1)
	go func() {
		v, err := w.rt.Call(context.Background(), mon.watcher, opDemonitor{mon.ref})
		if err != nil {
			res <- err
			return
		}
		res <- v
	}()
	w.rt.Exit(target.pid, ErrKill)
	switch v := (<-res).(type) {
	case bool:
		if v {
			mon.active = false
		}
	case error:
		// The watcher died of the kill, through a link, before it got to
		// the Demonitor.
		if !errors.As(v, new(*ExitError)) {
			w.t.Fatalf("demonitor: %v", v)
		}
	}
	w.die(target, "killed")
}

// raceAnswer answers a held call while its callee is killed: the caller
// gets the answer or an *ExitError, and returns at once either way.
func (w *world) raceAnswer() {
	c := w.pendingCall()
	if c == nil {
		return
	}
	c.answered = true
	callee := w.proc(c.callee)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.rt.Call(context.Background(), c.callee, opReply{c.id})
	}()
	w.rt.Exit(c.callee, ErrKill)
	w.die(callee, "killed")
}

// check compares the runtime with the model, polling for what is on its
// way.
func (w *world) check() {
	waitFor(w.t, func() error {
		for _, m := range w.ps {
			if w.rt.Alive(m.pid) != m.alive {
				return fmt.Errorf("%v alive=%v, model says %v", m.pid, w.rt.Alive(m.pid), m.alive)
			}
		}
		if err := w.checkCalls(); err != nil {
			return err
		}
		if err := w.checkLogs(); err != nil {
			return err
		}
		return w.checkLeaks()
	})
}

// checkCalls: a call to a dead callee has returned, with an *ExitError
// unless it was answered; an answered call has returned its answer or, if
// the answer raced the exit, an *ExitError.
func (w *world) checkCalls() error {
	for _, c := range w.calls {
		if !c.done {
			select {
			case c.err = <-c.res:
				c.done = true
			default:
			}
		}
		alive := w.proc(c.callee).alive
		switch {
		case c.done && c.err != nil && !errors.As(c.err, new(*ExitError)):
			w.t.Fatalf("call %d to %v: %v", c.id, c.callee, c.err)
		case c.done && c.err != nil && alive:
			w.t.Fatalf("call %d to live %v failed: %v", c.id, c.callee, c.err)
		case c.done && c.err == nil && !c.answered:
			w.t.Fatalf("call %d to %v answered without an answer", c.id, c.callee)
		case !c.done && (!alive || c.answered):
			return fmt.Errorf("call %d to %v (alive %v, answered %v) still waits", c.id, c.callee, alive, c.answered)
		}
	}
	return nil
}

// checkLogs: the Exit and Down messages each live process handled are
// those of the model, each once, and last words come before them.
func (w *world) checkLogs() error {
	for _, m := range w.ps {
		if !m.alive {
			continue
		}
		got := map[PID]string{}
		downs := map[Ref]string{}
		words := map[PID]int{}  // words handled, by speaker
		ended := map[PID]bool{} // a DOWN or Exit of the sender was handled
		for _, e := range w.log.of(m.pid) {
			switch e := e.(type) {
			case Exit:
				got[e.From] += reasonKindOf(e.Reason) + ";"
				ended[e.From] = true
			case Down:
				if _, dup := downs[e.Ref]; dup {
					w.t.Fatalf("%v got two DOWNs of %v", m.pid, e.Ref)
				}
				downs[e.Ref] = reasonKindOf(e.Reason)
				ended[e.PID] = true
			case word:
				if ended[e.from] {
					w.t.Fatalf("%v got word %d of %v after its DOWN or Exit", m.pid, e.i, e.from)
				}
				words[e.from]++
			}
		}
		if !maps.Equal(got, w.exits[m.pid]) {
			return fmt.Errorf("%v handled exits %v, model %v", m.pid, got, w.exits[m.pid])
		}
		for _, mon := range w.mons {
			if mon.watcher != m.pid {
				continue
			}
			kind, ok := downs[mon.ref]
			switch {
			case mon.down == "" && ok:
				w.t.Fatalf("%v got DOWN %v of %v: none expected (demonitored or target alive)", m.pid, kind, mon.target)
			case mon.down != "" && !ok && !mon.maybe:
				return fmt.Errorf("%v waits for DOWN %s of %v", m.pid, mon.down, mon.target)
			case ok && kind != mon.down:
				w.t.Fatalf("%v got DOWN %v of %v, model %v", m.pid, kind, mon.target, mon.down)
			}
		}
		for _, x := range w.ps {
			switch n := words[x.pid]; {
			case n > x.words[m.pid]:
				w.t.Fatalf("%v got %d words of %v, %d sent", m.pid, n, x.pid, x.words[m.pid])
			case n < x.words[m.pid]:
				return fmt.Errorf("%v got %d words of %v, %d sent", m.pid, n, x.pid, x.words[m.pid])
			}
		}
	}
	return nil
}

// checkLeaks: what the runtime holds for each process is what the model
// holds, and a dead process holds nothing.
func (w *world) checkLeaks() error {
	for _, m := range w.ps {
		if !m.alive {
			m.p.metaMu.Lock()
			meta := m.p.meta
			leaked := meta == nil || !meta.told || meta.links != nil || meta.monitors != nil || meta.watchers != nil || meta.timers != nil
			m.p.metaMu.Unlock()
			if leaked {
				return fmt.Errorf("dead %v still holds links, monitors, watchers or timers (or is not told)", m.pid)
			}
			if w.rt.table.get(m.pid) != nil {
				return fmt.Errorf("dead %v still in the table", m.pid)
			}
			continue
		}
		in, err := w.rt.Info(m.pid)
		if err != nil {
			return err
		}
		if !sameSet(in.Links, slices.Collect(maps.Keys(m.links))) {
			return fmt.Errorf("%v links %v, model %v", m.pid, in.Links, m.links)
		}
		var mons, by []PID
		for _, mon := range w.mons {
			if mon.active && mon.watcher == m.pid {
				mons = append(mons, mon.target)
			}
			if mon.active && mon.target == m.pid {
				by = append(by, mon.watcher)
			}
		}
		if !sameSet(in.Monitors, mons) || !sameSet(in.MonitoredBy, by) {
			return fmt.Errorf("%v monitors %v and is monitored by %v, model %v and %v", m.pid, in.Monitors, in.MonitoredBy, mons, by)
		}
		if in.Watchers != 0 || in.Timers != m.timers {
			return fmt.Errorf("%v has %d watchers and %d timers, model 0 and %d", m.pid, in.Watchers, in.Timers, m.timers)
		}
	}
	return nil
}

func sameSet(a, b []PID) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	cmp := func(x, y PID) int { return int(x.ID) - int(y.ID) }
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}

// finish kills every process left and checks that nothing remains: no
// process, no waiting caller.
func (w *world) finish() {
	for _, m := range w.ps {
		if m.alive {
			w.rt.Exit(m.pid, ErrKill)
			w.die(m, "killed")
		}
	}
	w.endStep()
	w.check()
	waitFor(w.t, func() error {
		if n := w.rt.NumProcesses(); n != 0 {
			return fmt.Errorf("%d processes left", n)
		}
		return nil
	})
	w.waitCallers()
}

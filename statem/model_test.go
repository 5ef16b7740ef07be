package statem

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// The model test drives the core and a naive model of gen_statem's rules
// with the same random events, clock ticks and callback decisions, and
// checks that they call the same callbacks with the same events in the
// same order, send the same replies, and end each step with the same
// state, postponed events and running time-outs.
//
// A callback's decision is drawn once per (state, event, occurrence) and
// memoized, so both sides get the same decision for the same input. From
// the third occurrence of a pair, and for events derived too deeply from
// an external one, decisions do nothing, which bounds every loop.

const (
	numStates = 3
	maxDepth  = 2
)

// tmoSpec is one time-out action of a decision. kind: 0 event, 1 state, 2
// and 3 the generic time-outs "a" and "b". op: set, cancel, update. d in
// milliseconds, -1 for Infinity.
type tmoSpec struct {
	kind int
	op   timeoutOp
	d    int
}

type decision struct {
	next     int // -1 keep, -2 repeat, else the next state
	stop     bool
	postpone bool
	reply    bool
	insert   int
	timeouts []tmoSpec
}

type decider struct {
	t    *rapid.T
	memo map[string]decision
}

func depth(id string) int { return strings.Count(id, ".") }

func (d *decider) decide(state int, ev Event, occurrence int, enter bool) decision {
	id := fmtAny(ev.Content)
	key := fmt.Sprintf("%d|%v|%s|%d", state, ev.Type, id, occurrence)
	if dec, ok := d.memo[key]; ok {
		return dec
	}
	dec := decision{next: -1}
	if occurrence < 2 {
		deep := depth(id) >= maxDepth
		if enter {
			deep = false
		}
		if !enter {
			switch r := rapid.IntRange(0, 9).Draw(d.t, "next"); {
			case r < 4:
				dec.next = rapid.IntRange(0, numStates-1).Draw(d.t, "state")
			case r == 4:
				dec.next = -2
			}
			dec.stop = rapid.IntRange(0, 250).Draw(d.t, "stop") == 0
			dec.postpone = ev.Type != EnterEvent && rapid.IntRange(0, 3).Draw(d.t, "postpone") == 0
			dec.reply = ev.Type == CallEvent && !dec.postpone && rapid.Bool().Draw(d.t, "reply")
			if !deep {
				dec.insert = rapid.IntRange(0, 4).Draw(d.t, "insert") / 3
			}
		}
		if enter && rapid.IntRange(0, 5).Draw(d.t, "repeat") == 0 {
			dec.next = -2
		}
		n := rapid.IntRange(0, 2).Draw(d.t, "timeouts")
		for range n {
			ts := tmoSpec{
				kind: rapid.IntRange(0, 3).Draw(d.t, "kind"),
				op:   timeoutOp(rapid.IntRange(0, 5).Draw(d.t, "op") / 3 * rapid.IntRange(1, 2).Draw(d.t, "opk")),
				d:    rapid.IntRange(-1, 3).Draw(d.t, "d"),
			}
			if deep && ts.op != opCancel {
				continue
			}
			dec.timeouts = append(dec.timeouts, ts)
		}
	}
	d.memo[key] = dec
	return dec
}

func tmoKey(kind int) timerKey {
	switch kind {
	case 0:
		return eventTimer
	case 1:
		return stateTimer
	case 2:
		return timerKey{typ: GenericTimeoutEvent, name: "a"}
	}
	return timerKey{typ: GenericTimeoutEvent, name: "b"}
}

func tmoContent(id string, k int) string { return fmt.Sprintf("%s.t%d", id, k) }

// setterID names the origin of what an event's decision creates.
func setterID(state int, ev Event) string {
	if ev.Type == EnterEvent {
		return fmt.Sprintf("n%d", state)
	}
	return fmtAny(ev.Content)
}

func fmtAny(v any) string { return fmt.Sprint(v) }

// coreSide runs the real core with decisions turned into Results.
type coreSide struct {
	c     *core[int]
	drv   *simDriver
	dec   *decider
	trace []string
	seen  map[string]int
}

func (s *coreSide) handle(state int, ev Event) Result[int] {
	s.trace = append(s.trace, fmt.Sprintf("h %d %v", state, ev))
	k := fmt.Sprintf("%d|%v", state, ev)
	occ := s.seen[k]
	s.seen[k]++
	dec := s.dec.decide(state, ev, occ, ev.Type == EnterEvent)
	id := setterID(state, ev)
	var acts []Action
	if dec.reply {
		acts = append(acts, replyAction{to: traceReplier{id: fmtAny(ev.Content), trace: &s.trace}, v: state})
	}
	if dec.stop {
		return Result[int]{kind: resStop, actions: acts, reason: fmt.Errorf("stop at %s", id)}
	}
	if dec.postpone {
		acts = append(acts, Postpone())
	}
	for i := range dec.insert {
		acts = append(acts, NextEvent(InternalEvent, fmt.Sprintf("%s.i%d", id, i)))
	}
	for i, ts := range dec.timeouts {
		key := tmoKey(ts.kind)
		d := time.Duration(ts.d) * time.Millisecond
		if ts.d < 0 {
			d = Infinity
		}
		acts = append(acts, timeoutAction{key: key, op: ts.op, d: d, msg: tmoContent(id, i)})
	}
	switch dec.next {
	case -1:
		return Result[int]{kind: resKeep, actions: acts}
	case -2:
		return Result[int]{kind: resRepeat, actions: acts}
	}
	return Result[int]{kind: resNext, state: dec.next, actions: acts}
}

// model is the naive model: one list of events, one list of postponed
// events, one list of time-outs with absolute deadlines, and the rules of
// OTP's transition_option() applied in the words of its documentation.
type model struct {
	dec     *decider
	enter   bool
	state   int
	events  []Event
	post    []Event
	timers  []mTimer
	now     int64
	seq     int64
	trace   []string
	seen    map[string]int
	stopped bool
}

type mTimer struct {
	kind int
	msg  string
	zero bool
	due  int64
	seq  int64
}

func (m *model) findTimer(kind int) int {
	return slices.IndexFunc(m.timers, func(t mTimer) bool { return t.kind == kind })
}

func (m *model) dropTimer(kind int) {
	m.timers = slices.DeleteFunc(m.timers, func(t mTimer) bool { return t.kind == kind })
}

func mTimeoutEvent(t mTimer) Event {
	k := tmoKey(t.kind)
	return Event{Type: k.typ, Name: k.name, Content: t.msg}
}

func (m *model) decideFor(state int, ev Event) decision {
	m.trace = append(m.trace, fmt.Sprintf("h %d %v", state, ev))
	k := fmt.Sprintf("%d|%v", state, ev)
	occ := m.seen[k]
	m.seen[k]++
	return m.dec.decide(state, ev, occ, ev.Type == EnterEvent)
}

// run handles ev and then everything queued, zero time-outs last.
func (m *model) run(ev Event) {
	m.one(ev)
	m.drain()
}

func (m *model) drain() {
	for !m.stopped {
		ev, ok := m.next()
		if !ok {
			return
		}
		m.one(ev)
	}
}

// next takes the first queued event, else the zero time-out set first.
func (m *model) next() (Event, bool) {
	if len(m.events) > 0 {
		ev := m.events[0]
		m.events = m.events[1:]
		return ev, true
	}
	zi := -1
	for i, t := range m.timers {
		if t.zero && (zi < 0 || t.seq < m.timers[zi].seq) {
			zi = i
		}
	}
	if zi < 0 {
		return Event{}, false
	}
	t := m.timers[zi]
	m.timers = slices.Delete(m.timers, zi, zi+1)
	return mTimeoutEvent(t), true
}

func (m *model) one(ev Event) {
	m.dropTimer(0) // any event cancels the event time-out
	dec := m.decideFor(m.state, ev)
	id := setterID(m.state, ev)
	if dec.reply {
		m.trace = append(m.trace, "reply "+fmtAny(ev.Content)+" "+fmtAny(m.state)+" <nil>")
	}
	if dec.stop {
		m.stopped = true
		return
	}
	// 1. A postponed event joins the postponed ones.
	if dec.postpone {
		m.post = append(m.post, ev)
	}
	type pendingTmo struct {
		spec    tmoSpec
		content string
	}
	var timeouts []pendingTmo
	for i, ts := range dec.timeouts {
		timeouts = append(timeouts, pendingTmo{ts, tmoContent(id, i)})
	}
	old := m.state
	next := old
	if dec.next >= 0 {
		next = dec.next
	}
	changed := next != old
	m.state = next
	// The enter call's actions are appended to the transition's. A
	// repeated enter call has the same arguments: the state left is the
	// one before the transition.
	for again := m.enter && (changed || dec.next == -2); again; {
		edec := m.decideFor(next, Event{Type: EnterEvent, Content: old})
		if edec.stop {
			m.stopped = true
			return
		}
		eid := setterID(next, Event{Type: EnterEvent})
		for i, ts := range edec.timeouts {
			timeouts = append(timeouts, pendingTmo{ts, tmoContent(eid, i)})
		}
		again = edec.next == -2
	}
	// 2. If the state changes, the queue restarts with the oldest
	// postponed event, and the state time-out is cancelled.
	if changed {
		m.events = append(append([]Event{}, m.post...), m.events...)
		m.post = nil
		m.dropTimer(1)
	}
	// 3. Inserted events go before previously queued ones.
	var ins []Event
	for i := range dec.insert {
		ins = append(ins, Event{Type: InternalEvent, Content: fmt.Sprintf("%s.i%d", id, i)})
	}
	m.events = append(ins, m.events...)
	// 4. Time-outs, in order; for each time-out only the last action
	// counts ("the last of each kind wins").
	for i, p := range timeouts {
		if !slices.ContainsFunc(timeouts[i+1:], func(q pendingTmo) bool { return q.spec.kind == p.spec.kind }) {
			m.timeout(p.spec, p.content)
		}
	}
}

// timeout applies one time-out action.
func (m *model) timeout(ts tmoSpec, content string) {
	i := m.findTimer(ts.kind)
	switch ts.op {
	case opCancel:
		m.dropTimer(ts.kind)
		return
	case opUpdate:
		if i >= 0 {
			m.timers[i].msg = content
			return
		}
		ts.d = 0 // as for a zero time
	}
	m.dropTimer(ts.kind)
	if ts.d < 0 {
		return // infinity: no timer
	}
	if ts.kind == 0 && len(m.events) > 0 {
		return // a queued event cancels the event time-out at once
	}
	m.seq++
	m.timers = append(m.timers, mTimer{kind: ts.kind, msg: content, zero: ts.d == 0, due: m.now + int64(ts.d), seq: m.seq})
}

// tick advances the clock and fires what comes due, earliest first.
func (m *model) tick(ms int64) {
	m.now += ms
	for !m.stopped {
		bi := -1
		for i, t := range m.timers {
			if t.zero || t.due > m.now {
				continue
			}
			if bi < 0 || t.due < m.timers[bi].due || (t.due == m.timers[bi].due && t.seq < m.timers[bi].seq) {
				bi = i
			}
		}
		if bi < 0 {
			return
		}
		t := m.timers[bi]
		m.timers = slices.Delete(m.timers, bi, bi+1)
		m.run(mTimeoutEvent(t))
	}
}

// start enters the initial state 0; Init sets no actions.
func (m *model) start() {
	type pendingTmo struct {
		spec    tmoSpec
		content string
	}
	var timeouts []pendingTmo
	for again := m.enter; again; {
		edec := m.decideFor(0, Event{Type: EnterEvent, Content: 0})
		if edec.stop {
			m.stopped = true
			return
		}
		for i, ts := range edec.timeouts {
			timeouts = append(timeouts, pendingTmo{ts, tmoContent(setterID(0, Event{Type: EnterEvent}), i)})
		}
		again = edec.next == -2
	}
	for i, p := range timeouts {
		if !slices.ContainsFunc(timeouts[i+1:], func(q pendingTmo) bool { return q.spec.kind == p.spec.kind }) {
			m.timeout(p.spec, p.content)
		}
	}
	m.drain()
}

// timersView lists the running time-outs as kind:content, zero or due.
func (m *model) timersView() []string {
	var out []string
	for _, t := range m.timers {
		if t.zero {
			out = append(out, fmt.Sprintf("%d:%s:zero", t.kind, t.msg))
		} else {
			out = append(out, fmt.Sprintf("%d:%s:%d", t.kind, t.msg, t.due))
		}
	}
	slices.Sort(out)
	return out
}

func kindOf(k timerKey) int {
	switch {
	case k == eventTimer:
		return 0
	case k == stateTimer:
		return 1
	case k.name == "a":
		return 2
	}
	return 3
}

func (s *coreSide) timersView() []string {
	var out []string
	for k, t := range s.c.timers {
		if t.zero {
			out = append(out, fmt.Sprintf("%d:%v:zero", kindOf(k), t.msg))
			continue
		}
		a, ok := s.drv.armed[k]
		if !ok || a.gen != t.gen {
			out = append(out, fmt.Sprintf("%d:%v:NOT-ARMED", kindOf(k), t.msg))
			continue
		}
		out = append(out, fmt.Sprintf("%d:%v:%d", kindOf(k), t.msg, a.due))
	}
	slices.Sort(out)
	return out
}

func ids(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.String()
	}
	return out
}

func TestCoreMatchesModel(t *testing.T) {
	for _, enter := range []bool{false, true} {
		t.Run(fmt.Sprintf("enter=%v", enter), func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				dec := &decider{t: rt, memo: map[string]decision{}}
				cs := &coreSide{dec: dec, seen: map[string]int{}}
				cs.drv = newSimDriver(&cs.trace)
				cs.c = newCore[int](cs.drv, enter)
				m := &model{dec: dec, enter: enter, seen: map[string]int{}}

				cs.c.start(0, nil, cs.handle)
				m.start()
				check := func(step string) {
					if !slices.Equal(cs.trace, m.trace) {
						rt.Fatalf("after %s: traces differ\ncore:  %q\nmodel: %q", step, cs.trace, m.trace)
					}
					if cs.c.stopped != m.stopped {
						rt.Fatalf("after %s: stopped core %v model %v", step, cs.c.stopped, m.stopped)
					}
					if m.stopped {
						return
					}
					if cs.c.state != m.state {
						rt.Fatalf("after %s: state core %d model %d", step, cs.c.state, m.state)
					}
					if len(cs.c.queue) != 0 || len(cs.c.zero) != 0 {
						rt.Fatalf("after %s: core left events queued: %v, zero %v", step, cs.c.queue, cs.c.zero)
					}
					if got, want := ids(cs.c.postponed), ids(m.post); !slices.Equal(got, want) {
						rt.Fatalf("after %s: postponed core %q model %q", step, got, want)
					}
					if got, want := cs.timersView(), m.timersView(); !slices.Equal(got, want) {
						rt.Fatalf("after %s: time-outs core %q model %q", step, got, want)
					}
					if len(cs.drv.armed) != len(cs.c.timers)-countZero(cs.c) {
						rt.Fatalf("after %s: %d timers armed for %d running", step, len(cs.drv.armed), len(cs.c.timers)-countZero(cs.c))
					}
				}
				check("start")
				next := 0
				steps := rapid.IntRange(1, 200).Draw(rt, "steps")
				for range steps {
					if m.stopped {
						return
					}
					switch op := rapid.SampledFrom([]string{"cast", "call", "tick"}).Draw(rt, "op"); op {
					case "cast", "call":
						next++
						ev := Event{Type: CastEvent, Content: fmt.Sprintf("x%d", next)}
						if op == "call" {
							ev = Event{Type: CallEvent, Content: fmt.Sprintf("c%d", next)}
						}
						cs.c.deliver(ev, cs.handle)
						m.run(ev)
						check(ev.String())
					case "tick":
						ms := int64(rapid.IntRange(1, 3).Draw(rt, "ms"))
						advance(cs.drv, cs.c, ms, cs.handle)
						m.tick(ms)
						check(fmt.Sprintf("tick %d", ms))
					}
				}
			})
		})
	}
}

func countZero[S comparable](c *core[S]) int {
	n := 0
	for _, t := range c.timers {
		if t.zero {
			n++
		}
	}
	return n
}

package statem

import (
	"fmt"
	"slices"
	"time"

	"github.com/grovedev/grove/proc"
)

// This file is the deterministic core of a state machine: which callback
// runs next with which event, what a transition does to the postponed
// events and the queue, and the bookkeeping of time-outs. It does no I/O,
// starts no goroutine and reads no clock. The process wrapper (machine.go)
// feeds it messages and timer expiries; it asks the wrapper, through a
// driver, to arm and disarm timers and to send replies.
//
// The order of a transition follows OTP's transition_option():
//
//  1. the replies among the actions are sent, in order;
//  2. a postponed event joins the postponed events;
//  3. on a state change, or at start, or on Repeat, the enter call of the
//     new state runs (with state enter calls on); its actions count as
//     appended to the transition's;
//  4. on a state change the postponed events go back to the front of the
//     queue, oldest first, and the state time-out is cancelled;
//  5. inserted events go before every queued event, in the order given;
//  6. time-outs are set, cancelled and updated in the order given, the last
//     action for each time-out overriding the earlier ones. A zero
//     time-out waits in the zero queue, after the queued events and before
//     any message not yet received; an event time-out is not started while
//     an event is queued, since that event would cancel it.
//
// Then the next event is taken from the queue, then from the zero queue;
// when both are empty the machine waits for a message. Handling any event
// cancels the event time-out.

// driver carries out the effects of the core on the world. Its methods are
// called from the core's own goroutine, never concurrently.
type driver interface {
	// arm starts a timer that calls core.fire(key, gen) after d > 0.
	arm(key timerKey, gen uint64, d time.Duration)
	// armAt starts a timer that calls core.fire(key, gen) at the time at
	// of the driver's clock: at once (after the messages already
	// received) if at has passed.
	armAt(key timerKey, gen uint64, at time.Time)
	// disarm stops the timer armed for key with generation gen. A fire
	// that comes anyway is ignored by the core.
	disarm(key timerKey, gen uint64)
	// reply answers a call.
	reply(to replier, v any, err error)
}

// handler runs the state callback of state with ev.
type handler[S comparable] func(state S, ev Event) Result[S]

// timer is one running time-out.
type timer struct {
	gen  uint64
	msg  any
	zero bool // waits in the zero queue rather than armed with the driver
}

type zeroEntry struct {
	key timerKey
	gen uint64
}

// core is the state of one machine between events.
type core[S comparable] struct {
	drv   driver
	enter bool // state enter calls

	state     S
	queue     []Event // inserted and retried events, handled before anything else
	postponed []Event // in arrival order
	zero      []zeroEntry
	timers    map[timerKey]*timer
	gen       uint64 // of the last timer set

	stopped bool
	reason  error
}

func newCore[S comparable](drv driver, enter bool) *core[S] {
	return &core[S]{drv: drv, enter: enter, timers: make(map[timerKey]*timer)}
}

// pending is what a transition collects from the callback's actions and
// its enter calls before carrying it out.
type pending struct {
	postpone bool
	next     []Event
	timeouts []timeoutAction
}

// start enters the initial state with the actions Init returned and runs
// until the machine waits for a message or stops.
func (c *core[S]) start(initial S, actions []Action, h handler[S]) {
	c.state = initial
	c.transition(nil, Result[S]{kind: resNext, state: initial, actions: actions}, h)
	c.drain(h)
}

// deliver handles an event received as a message, then every event it
// leads to.
func (c *core[S]) deliver(ev Event, h handler[S]) {
	if c.stopped {
		return
	}
	c.handle(ev, h)
	c.drain(h)
}

// fire handles the expiry of the timer armed for key with generation gen,
// then every event it leads to. It reports false for a timer that was
// cancelled or restarted since: its expiry is ignored.
func (c *core[S]) fire(key timerKey, gen uint64, h handler[S]) bool {
	if c.stopped {
		return false
	}
	t := c.timers[key]
	if t == nil || t.gen != gen || t.zero {
		return false
	}
	delete(c.timers, key)
	c.handle(timeoutEvent(key, t.msg), h)
	c.drain(h)
	return true
}

// drain handles the queued and zero time-out events until none is left.
func (c *core[S]) drain(h handler[S]) {
	for !c.stopped {
		ev, ok := c.dequeue()
		if !ok {
			return
		}
		c.handle(ev, h)
	}
}

// dequeue takes the next event: from the queue, else from the zero queue.
func (c *core[S]) dequeue() (Event, bool) {
	if len(c.queue) > 0 {
		ev := c.queue[0]
		c.queue[0] = Event{}
		c.queue = c.queue[1:]
		if len(c.queue) == 0 {
			c.queue = nil
		}
		return ev, true
	}
	for len(c.zero) > 0 {
		z := c.zero[0]
		c.zero = c.zero[1:]
		if len(c.zero) == 0 {
			c.zero = nil
		}
		if t := c.timers[z.key]; t != nil && t.gen == z.gen && t.zero {
			delete(c.timers, z.key)
			return timeoutEvent(z.key, t.msg), true
		}
	}
	return Event{}, false
}

func timeoutEvent(key timerKey, msg any) Event {
	return Event{Type: key.typ, Name: key.name, Content: msg}
}

// handle runs the state callback for ev and carries out its result.
func (c *core[S]) handle(ev Event, h handler[S]) {
	c.cancel(eventTimer) // any event cancels the event time-out
	c.transition(&ev, h(c.state, ev), h)
}

// transition carries out r, the result of handling ev (nil for the initial
// transition), and the enter calls it leads to.
func (c *core[S]) transition(ev *Event, r Result[S], h handler[S]) {
	initial := ev == nil
	var tr pending
	if err := c.collect(&tr, r, false, initial); err != nil {
		c.stop(err)
		return
	}
	if r.kind == resStop {
		c.stop(r.reason)
		return
	}
	if tr.postpone {
		c.postponed = append(c.postponed, *ev)
	}
	old, next := c.state, c.state
	if r.kind == resNext {
		next = r.state
	}
	changed := next != old
	c.state = next
	for call := c.enter && (changed || initial || r.kind == resRepeat); call; {
		er := h(next, Event{Type: EnterEvent, Content: old})
		if err := c.collect(&tr, er, true, false); err != nil {
			c.stop(err)
			return
		}
		if er.kind == resStop {
			c.stop(er.reason)
			return
		}
		// A repeated enter call gets the same arguments: the state left is
		// still the one before the transition, as in OTP.
		call = er.kind == resRepeat
	}
	if changed {
		if len(c.postponed) > 0 {
			c.queue = slices.Concat(c.postponed, c.queue)
			c.postponed = nil
		}
		c.cancel(stateTimer)
	}
	if len(tr.next) > 0 {
		c.queue = slices.Concat(tr.next, c.queue)
	}
	for i, t := range tr.timeouts {
		if !overridden(tr.timeouts, i) {
			c.setTimeout(t)
		}
	}
}

// overridden reports whether a later action of timeouts is for the same
// time-out as timeouts[i]: the last action for each time-out wins, and the
// earlier ones are not carried out at all, as in OTP (a Timeout followed
// by an Update of the same time-out updates the time-out that ran before
// the transition, or starts a zero one).
func overridden(timeouts []timeoutAction, i int) bool {
	for _, later := range timeouts[i+1:] {
		if later.key == timeouts[i].key {
			return true
		}
	}
	return false
}

// collect checks the result of a callback, sends its replies and adds the
// rest of its actions to tr. An error means the result cannot be carried
// out; no reply was sent then.
func (c *core[S]) collect(tr *pending, r Result[S], enter, initial bool) error {
	if err := c.check(r, enter, initial); err != nil {
		return err
	}
	for _, a := range r.actions {
		switch a := a.(type) {
		case replyAction:
			c.drv.reply(a.to, a.v, a.err)
		case postponeAction:
			tr.postpone = true
		case nextEventAction:
			tr.next = append(tr.next, a.ev)
		case timeoutAction:
			tr.timeouts = append(tr.timeouts, a)
		}
	}
	return nil
}

// check reports why result r of a callback (an enter call if enter, Init
// if initial) cannot be carried out.
func (c *core[S]) check(r Result[S], enter, initial bool) error {
	where := "state callback"
	switch {
	case enter:
		where = "state enter call"
	case initial:
		where = "Init"
	}
	if r.kind == resNone {
		return fmt.Errorf("%w: %s returned the zero Result", ErrBadResult, where)
	}
	if enter && r.kind == resNext && r.state != c.state {
		return fmt.Errorf("%w: %s changed the state from %v to %v", ErrBadResult, where, c.state, r.state)
	}
	for _, a := range r.actions {
		if _, ok := a.(replyAction); !ok && r.kind == resStop {
			return fmt.Errorf("%w: %s stopped with a %T action (only replies may go with Stop)", ErrBadResult, where, a)
		}
		switch a := a.(type) {
		case replyAction:
			if a.to == nil {
				return fmt.Errorf("%w: %s replied to nobody", ErrBadResult, where)
			}
		case postponeAction:
			if enter || initial {
				return fmt.Errorf("%w: %s cannot postpone", ErrBadResult, where)
			}
		case nextEventAction:
			if enter {
				return fmt.Errorf("%w: %s cannot insert events", ErrBadResult, where)
			}
			switch a.ev.Type {
			case CastEvent, InfoEvent, InternalEvent, EventTimeoutEvent, StateTimeoutEvent:
			case CallEvent:
				if a.ev.From == (proc.From{}) {
					return fmt.Errorf("%w: %s inserted a call without a caller", ErrBadResult, where)
				}
			default:
				return fmt.Errorf("%w: %s cannot insert an event of type %v", ErrBadResult, where, a.ev.Type)
			}
		case timeoutAction:
			if !isComparable(a.key.name) {
				return fmt.Errorf("%w: %s named a time-out with an incomparable %T", ErrBadResult, where, a.key.name)
			}
		case nil:
			return fmt.Errorf("%w: %s returned a nil action", ErrBadResult, where)
		}
	}
	return nil
}

// isComparable reports whether v can be a map key without panicking.
func isComparable(v any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_ = v == v
	return true
}

// setTimeout carries out one time-out action.
func (c *core[S]) setTimeout(t timeoutAction) {
	switch t.op {
	case opCancel:
		c.cancel(t.key)
	case opUpdate:
		if cur := c.timers[t.key]; cur != nil {
			cur.msg = t.msg
			return
		}
		c.setTimeout(timeoutAction{key: t.key, op: opSet, msg: t.msg})
	case opSet:
		c.cancel(t.key)
		if t.d == Infinity || (t.key == eventTimer && len(c.queue) > 0) {
			return
		}
		c.gen++
		tm := &timer{gen: c.gen, msg: t.msg}
		c.timers[t.key] = tm
		switch {
		case t.abs:
			c.drv.armAt(t.key, c.gen, t.at)
		case t.d <= 0:
			tm.zero = true
			c.zero = append(c.zero, zeroEntry{key: t.key, gen: c.gen})
		default:
			c.drv.arm(t.key, c.gen, t.d)
		}
	}
}

// cancel stops the time-out key, if running.
func (c *core[S]) cancel(key timerKey) {
	t := c.timers[key]
	if t == nil {
		return
	}
	delete(c.timers, key)
	if !t.zero {
		c.drv.disarm(key, t.gen)
	}
}

// stop records that the machine stops with reason; queued and postponed
// events are dropped with it.
func (c *core[S]) stop(reason error) {
	if reason == nil {
		reason = proc.ErrNormal
	}
	c.stopped, c.reason = true, reason
	c.queue, c.postponed, c.zero = nil, nil, nil
}

// TimeoutInfo describes one running time-out, as Inspect reports it.
type TimeoutInfo struct {
	Type    EventType // EventTimeoutEvent, StateTimeoutEvent or GenericTimeoutEvent
	Name    any       // of a generic time-out
	Content any
}

// timeouts lists the running time-outs: the event time-out, the state
// time-out, then generic ones by name.
func (c *core[S]) timeouts() []TimeoutInfo {
	out := make([]TimeoutInfo, 0, len(c.timers))
	for k, t := range c.timers {
		out = append(out, TimeoutInfo{Type: k.typ, Name: k.name, Content: t.msg})
	}
	slices.SortFunc(out, func(a, b TimeoutInfo) int {
		if a.Type != b.Type {
			return int(a.Type) - int(b.Type)
		}
		an, bn := fmt.Sprint(a.Name), fmt.Sprint(b.Name)
		switch {
		case an < bn:
			return -1
		case an > bn:
			return 1
		}
		return 0
	})
	return out
}

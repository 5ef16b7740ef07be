package proc

import (
	"log/slog"
)

// An exit happens in two steps. The first marks the process dead and closes
// its mailbox, at once and under its metaMu, so that from then on it refuses
// messages, links and monitors; deciding that a link's signal kills a
// process and marking it dead happen under the same lock as Unlink's
// removal of the link, which is what makes Unlink final. The second step,
// handleExit, tells everyone: the OnExit functions, the table and names,
// the links, the monitors and the Watch functions, then the waiters of its
// exit note.
//
// The second step runs iteratively: a process that a link's signal kills
// is appended to the cascade's queue rather than handled on the stack, so a
// chain of millions of linked processes ends without deep recursion.

// exit ends the process with reason and handles the exits it causes. Any
// goroutine may call it; only the first call has effect.
func (p *Process) exit(reason error) {
	if reason == nil {
		reason = ErrNormal
	}
	p.metaMu.Lock()
	user, sys, prev, ok := p.dieLocked(reason)
	p.metaMu.Unlock()
	if !ok {
		return
	}
	p.dropQueued(user, sys, prev)
	handleExits(p)
}

// dieLocked marks p dead with reason and closes its mailbox, returning what
// the mailbox held. It reports false if p was already dead. p.metaMu must
// be held.
func (p *Process) dieLocked(reason error) (user, sys []envelope, prev uint32, ok bool) {
	m := p.metaLocked()
	if m.dead {
		return nil, nil, 0, false
	}
	// Record the reason before the mailbox closes, so that anyone who sees
	// the process dead also sees why.
	m.dead = true
	m.reason = reason
	user, sys, prev = p.mbox.close()
	return user, sys, prev, true
}

// dropQueued ends the parked goroutine of a process that just died and
// fails the calls and requests that were still queued.
func (p *Process) dropQueued(user, sys []envelope, prev uint32) {
	if prev == statusParked {
		p.activate(prev) // the parked goroutine ends
	}
	failCalls(p, user)
	failCalls(p, sys)
}

// handleExits handles the exit of first and of every process it causes to
// exit, breadth first.
func handleExits(first *Process) {
	queue := []*Process{first}
	for len(queue) > 0 {
		p := queue[0]
		queue[0] = nil
		queue = queue[1:]
		queue = p.handleExit(queue)
	}
}

// handleExit tells everyone of the exit of p, which is marked dead, and
// appends to queue the linked processes its exit kills.
func (p *Process) handleExit(queue []*Process) []*Process {
	rt := p.rt
	p.metaMu.Lock()
	m := p.meta
	reason, name := m.reason, m.name
	links, watchers, monitors, timers := m.links, m.watchers, m.monitors, m.timers
	m.links, m.watchers, m.monitors, m.timers = nil, nil, nil, nil
	if m.cancel != nil {
		m.cancel()
	}
	p.metaMu.Unlock()

	for _, t := range timers {
		t.Stop()
	}
	// OnExit functions first: they are the cleanup of registries, done
	// before anyone hears of the exit (a supervisor told through a link
	// restarts the process under the same key at once).
	for _, w := range watchers {
		if w.fn != nil && w.first {
			w.fn(p.pid, reason)
		}
	}
	rt.table.remove(p.pid.ID, p)
	if name != "" {
		rt.names.unregister(name, p)
	}
	remote := rt.remote.get()
	for ref, target := range monitors {
		if t := rt.table.get(target); t != nil {
			t.removeWatcher(ref)
		} else if remote != nil && rt.isRemote(target) {
			remote.Demonitor(p.pid, target, ref)
		}
	}
	for pid := range links {
		if t := rt.table.get(pid); t != nil {
			if t.linkSignal(p.pid, reason) {
				queue = append(queue, t)
			}
		} else if remote != nil && rt.isRemote(pid) {
			_ = remote.Exit(p.pid, pid, reason, true)
		}
	}
	for ref, w := range watchers {
		if w.fn == nil {
			rt.notifyDown(w, ref, p.pid, reason)
		}
	}
	// Watch functions last: when one runs, the links and monitors have
	// been told.
	for _, w := range watchers {
		if w.fn != nil && !w.first {
			w.fn(p.pid, reason)
		}
	}
	p.metaMu.Lock()
	m.told = true
	note := p.note.Load()
	p.metaMu.Unlock()
	if note != nil {
		note.reason = reason
		close(note.done)
	}
	if !IsNormalExit(reason) && !IsShutdown(reason) && reason != ErrKilled {
		rt.log.Debug("process exited", slog.String("pid", p.pid.String()), slog.Any("reason", reason))
	}
	return queue
}

// linkSignal delivers to p the exit signal of the linked process from,
// which exited with reason, if the link still exists. The link's removal
// and the signal's effect (an Exit message for a process trapping exits,
// death otherwise) happen under p.metaMu, as Unlink's removal does: once
// Unlink has returned, the link has no effect. linkSignal reports whether p
// died of the signal; the caller must then handle p's exit.
func (p *Process) linkSignal(from PID, reason error) (died bool) {
	p.metaMu.Lock()
	m := p.meta
	if m == nil || m.dead {
		p.metaMu.Unlock()
		return false
	}
	if _, linked := m.links[from]; !linked {
		p.metaMu.Unlock()
		return false
	}
	delete(m.links, from)
	return p.signalLocked(from, reason)
}

// exitSignal delivers an exit signal sent with Exit (not by a link): ErrKill
// kills even a process trapping exits.
func (p *Process) exitSignal(from PID, reason error) {
	if reason == ErrKill {
		p.exit(ErrKilled)
		return
	}
	p.metaMu.Lock()
	if m := p.meta; m != nil && m.dead {
		p.metaMu.Unlock()
		return
	}
	if p.signalLocked(from, reason) {
		handleExits(p)
	}
}

// signalLocked applies an exit signal to p and releases p.metaMu: a
// process trapping exits gets an Exit message, others die of an abnormal
// reason. It reports whether p died; the caller must then handle its exit.
func (p *Process) signalLocked(from PID, reason error) (died bool) {
	if p.trap.Load() {
		kind := kindInfo
		if from == p.Parent() && !from.IsZero() {
			// OTP behaviours terminate on an exit signal from their parent,
			// when they come to it: after the messages the parent sent
			// before.
			kind = kindParentExit
		}
		prev, err := p.mbox.push(envelope{kind: kind, msg: Exit{From: from, Reason: reason}}, pushForced)
		p.metaMu.Unlock()
		if err == nil {
			p.activate(prev)
		}
		return false
	}
	if IsNormalExit(reason) {
		p.metaMu.Unlock()
		return false
	}
	user, sys, prev, _ := p.dieLocked(reason)
	p.metaMu.Unlock()
	p.dropQueued(user, sys, prev)
	return true
}

// notifyDown tells watcher w that pid exited.
func (rt *Runtime) notifyDown(w watcher, ref Ref, pid PID, reason error) {
	if rt.isRemote(w.pid) {
		if r := rt.remote.get(); r != nil {
			r.Down(w.pid, ref, pid, reason)
		}
		return
	}
	if t := rt.table.get(w.pid); t != nil {
		t.deliverDown(ref, pid, reason)
	}
}

// deliverDown queues the DOWN of the monitor ref if p still holds it: the
// monitor's removal and the DOWN's queueing happen under p.metaMu, as
// Demonitor's removal does, so a Demonitor that reports true is never
// followed by the DOWN.
func (p *Process) deliverDown(ref Ref, pid PID, reason error) {
	p.metaMu.Lock()
	m := p.meta
	if m == nil || m.dead {
		p.metaMu.Unlock()
		return
	}
	if _, ok := m.monitors[ref]; !ok {
		p.metaMu.Unlock()
		return
	}
	delete(m.monitors, ref)
	prev, err := p.mbox.push(envelope{kind: kindInfo, msg: Down{Ref: ref, PID: pid, Reason: reason}}, pushForced)
	p.metaMu.Unlock()
	if err == nil {
		p.activate(prev)
	}
}

// pushSys queues a system message.
func (p *Process) pushSys(msg any) error {
	prev, err := p.mbox.push(envelope{kind: kindSys, msg: msg}, pushSystem)
	if err == nil {
		p.activate(prev)
	}
	return err
}

package proc

import (
	"log/slog"
)

// exit ends the process with reason: it refuses further messages, fails the
// calls still queued, unregisters the process and tells its links and
// monitors. Any goroutine may call it; only the first call has effect.
func (p *Process) exit(reason error) {
	if reason == nil {
		reason = ErrNormal
	}
	// Record the reason before the mailbox closes, so that anyone who sees
	// the process dead also sees why.
	p.metaMu.Lock()
	m := p.metaLocked()
	if m.dead {
		p.metaMu.Unlock()
		return
	}
	m.dead = true
	m.reason = reason
	p.metaMu.Unlock()

	user, sys, prev := p.mbox.close()
	if prev == statusParked {
		p.activate(prev) // the parked goroutine ends
	}
	failCalls(p, user)
	for _, e := range sys {
		if in, ok := e.msg.(sysInspect); ok {
			in.reply <- nil
		}
	}
	p.rt.table.remove(p.pid.ID, p)

	p.metaMu.Lock()
	name := m.name
	links, watchers, monitors := m.links, m.watchers, m.monitors
	timers := m.timers
	m.links, m.watchers, m.monitors, m.timers = nil, nil, nil, nil
	if m.cancel != nil {
		m.cancel()
	}
	p.metaMu.Unlock()

	if name != "" {
		p.rt.names.unregister(name, p)
	}
	for _, t := range timers {
		t.Stop()
	}
	remote := p.rt.remote.get()
	for ref, target := range monitors {
		if t := p.rt.table.get(target); t != nil {
			t.removeWatcher(ref)
		} else if remote != nil && p.rt.isRemote(target) {
			remote.Demonitor(p.pid, target, ref)
		}
	}
	for pid := range links {
		if t := p.rt.table.get(pid); t != nil {
			t.removeLink(p.pid)
			t.exitSignal(p.pid, reason, true)
		} else if remote != nil && p.rt.isRemote(pid) {
			_ = remote.Exit(p.pid, pid, reason, true)
		}
	}
	for ref, w := range watchers {
		p.rt.notifyDown(w, ref, p.pid, reason)
	}
	p.metaMu.Lock()
	m.told = true
	note := p.note.Load()
	p.metaMu.Unlock()
	if note != nil {
		note.reason = reason
		close(note.done)
	}
	if !IsNormalExit(reason) && !isShutdown(reason) && reason != ErrKilled {
		p.rt.log.Debug("process exited", slog.String("pid", p.pid.String()), slog.Any("reason", reason))
	}
}

// exitSignal delivers an exit signal from `from` with reason to p.
// viaLink tells a link's signal (sent when a linked process exits) from an
// explicit Exit call; only the latter can carry the untrappable ErrKill.
func (p *Process) exitSignal(from PID, reason error, viaLink bool) {
	if !viaLink && reason == ErrKill {
		p.exit(ErrKilled)
		return
	}
	if p.trap.Load() {
		if from == p.parent && !from.IsZero() {
			// OTP behaviours terminate on an exit signal from their parent.
			p.pushSys(Exit{From: from, Reason: reason})
			return
		}
		p.pushForced(envelope{kind: kindInfo, msg: Exit{From: from, Reason: reason}})
		return
	}
	if IsNormalExit(reason) {
		return
	}
	p.exit(reason)
}

// notifyDown tells watcher w that pid exited.
func (rt *Runtime) notifyDown(w watcher, ref Ref, pid PID, reason error) {
	if w.fn != nil {
		w.fn(pid, reason)
		return
	}
	if rt.isRemote(w.pid) {
		if r := rt.remote.get(); r != nil {
			r.Down(w.pid, ref, pid, reason)
		}
		return
	}
	if t := rt.table.get(w.pid); t != nil {
		t.removeMonitor(ref)
		t.pushForced(envelope{kind: kindInfo, msg: Down{Ref: ref, PID: pid, Reason: reason}})
	}
}

// pushForced queues a message past the mailbox bound: signals turned into
// messages (EXIT, DOWN) must never be refused.
func (p *Process) pushForced(e envelope) {
	if prev, err := p.mbox.push(e, pushForced); err == nil {
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

func isShutdown(reason error) bool {
	_, ok := reason.(ShutdownError)
	return ok || reason == ErrShutdown
}

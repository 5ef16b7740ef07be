package proc

import "fmt"

// addLink records a link to pid. It reports false if p is dead.
func (p *Process) addLink(pid PID) bool {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	m := p.metaLocked()
	if m.dead {
		return false
	}
	if m.links == nil {
		m.links = make(map[PID]struct{}, 1)
	}
	m.links[pid] = struct{}{}
	return true
}

func (p *Process) removeLink(pid PID) {
	p.metaMu.Lock()
	if p.meta != nil {
		delete(p.meta.links, pid)
	}
	p.metaMu.Unlock()
}

func (p *Process) removeWatcher(ref Ref) {
	p.metaMu.Lock()
	if p.meta != nil {
		delete(p.meta.watchers, ref)
	}
	p.metaMu.Unlock()
}

func (p *Process) removeMonitor(ref Ref) {
	p.metaMu.Lock()
	if p.meta != nil {
		delete(p.meta.monitors, ref)
	}
	p.metaMu.Unlock()
}

// addWatcher installs a monitor on p. It reports false if p is dead.
func (p *Process) addWatcher(ref Ref, w watcher) bool {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	m := p.metaLocked()
	if m.dead {
		return false
	}
	if m.watchers == nil {
		m.watchers = make(map[Ref]watcher, 1)
	}
	m.watchers[ref] = w
	return true
}

// addMonitor records that p monitors target with ref. It reports false if
// p is dead.
func (p *Process) addMonitor(ref Ref, target PID) bool {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	m := p.metaLocked()
	if m.dead {
		return false
	}
	if m.monitors == nil {
		m.monitors = make(map[Ref]PID, 1)
	}
	m.monitors[ref] = target
	return true
}

// isDead reports whether p has exited, or is exiting.
func (p *Process) isDead() bool { return p.mbox.status.Load() == statusDead }

// Link links p and the process pid: when either exits with an abnormal
// reason, the other receives an exit signal. Linking twice is the same as
// once. Link fails with ErrNotAlive when pid does not exist, and when p
// itself has exited (a callback still running after its process was
// killed): a dead process makes no links.
func (p *Process) Link(pid PID) error {
	if pid == p.pid {
		return nil
	}
	t := p.rt.table.get(pid)
	if t == nil {
		return p.linkRemote(pid)
	}
	if !p.addLink(pid) {
		return fmt.Errorf("%w: %v (the linking process)", ErrNotAlive, p.pid)
	}
	if !t.addLink(p.pid) {
		p.removeLink(pid)
		return fmt.Errorf("%w: %v", ErrNotAlive, pid)
	}
	if p.isDead() {
		// p died between the two: its exit may have come to t before the
		// link did. Tell t as that exit would have; a signal that did
		// arrive removed the link, so t is told once.
		if t.linkSignal(p.pid, p.exitReason()) {
			handleExits(t)
		}
	}
	return nil
}

// linkRemote links p to a process of another node.
func (p *Process) linkRemote(pid PID) error {
	r, err := p.rt.route(pid)
	if err != nil {
		return err
	}
	if !p.addLink(pid) {
		return fmt.Errorf("%w: %v (the linking process)", ErrNotAlive, p.pid)
	}
	if err := r.Link(p.pid, pid); err != nil {
		p.removeLink(pid)
		return err
	}
	if p.isDead() {
		// As for a local link: the exit may have gone out before the link.
		_ = r.Exit(p.pid, pid, p.exitReason(), true)
	}
	return nil
}

// Unlink removes the link between p and pid, if any. Once it has returned
// the link has no effect on p, as in Erlang: an exit signal of pid's that
// was on its way does not kill p, nor does an Exit message that was not
// already in p's mailbox arrive.
func (p *Process) Unlink(pid PID) {
	p.removeLink(pid)
	if t := p.rt.table.get(pid); t != nil {
		t.removeLink(p.pid)
	} else if r, err := p.rt.route(pid); err == nil {
		r.Unlink(p.pid, pid)
	}
}

// Links returns the processes linked to p.
func (p *Process) Links() []PID {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	if p.meta == nil {
		return nil
	}
	out := make([]PID, 0, len(p.meta.links))
	for pid := range p.meta.links {
		out = append(out, pid)
	}
	return out
}

// Monitor starts monitoring pid: when it exits, p receives a Down message
// with the returned reference. If pid does not exist, the Down (reason
// ErrNoProc) arrives at once. A monitor made by a process that has exited
// (a callback still running after its process was killed) has no effect.
func (p *Process) Monitor(pid PID) Ref {
	t := p.rt.table.get(pid)
	if t == nil {
		return p.monitorRemote(pid)
	}
	return p.rt.monitor(p, t)
}

// monitorRemote monitors a process that is not local: through the Remote
// when it is on another node, else with an immediate DOWN.
func (p *Process) monitorRemote(pid PID) Ref {
	ref := p.rt.MakeRef()
	if !p.addMonitor(ref, pid) {
		return ref
	}
	r, err := p.rt.route(pid)
	if err == nil {
		if err = r.Monitor(p.pid, pid, ref); err == nil {
			if p.isDead() {
				r.Demonitor(p.pid, pid, ref) // p's exit may have missed it
			}
			return ref
		}
	}
	p.deliverDown(ref, pid, p.rt.noProcReason(pid))
	return ref
}

// monitor makes watcher monitor target.
func (rt *Runtime) monitor(w, target *Process) Ref {
	ref := rt.MakeRef()
	if !w.addMonitor(ref, target.pid) {
		return ref
	}
	if !target.addWatcher(ref, watcher{pid: w.pid}) {
		w.deliverDown(ref, target.pid, target.exitReason())
		return ref
	}
	if w.isDead() {
		// w died meanwhile: its exit may have looked for the watcher
		// before it was there.
		target.removeWatcher(ref)
	}
	return ref
}

// Demonitor stops a monitor. It reports whether the monitor was active;
// when it reports true, no Down of the monitor arrives any more. A Down
// already queued is not removed, and makes Demonitor report false.
func (p *Process) Demonitor(ref Ref) bool {
	p.metaMu.Lock()
	var target PID
	var ok bool
	if p.meta != nil {
		target, ok = p.meta.monitors[ref]
		delete(p.meta.monitors, ref)
	}
	p.metaMu.Unlock()
	if !ok {
		return false
	}
	if t := p.rt.table.get(target); t != nil {
		t.removeWatcher(ref)
	} else if r, err := p.rt.route(target); err == nil {
		r.Demonitor(p.pid, target, ref)
	}
	return true
}

// Exit sends an exit signal with reason to pid, as Erlang's exit/2: a
// process that traps exits receives it as an Exit message; otherwise an
// abnormal reason kills it and ErrNormal is ignored. ErrKill kills even a
// process that traps exits.
func (p *Process) Exit(pid PID, reason error) error {
	return p.rt.exitFrom(p.pid, pid, reason)
}

// Exit sends an exit signal with reason to pid from outside any process.
func (rt *Runtime) Exit(pid PID, reason error) error {
	return rt.exitFrom(PID{}, pid, reason)
}

func (rt *Runtime) exitFrom(from, to PID, reason error) error {
	t := rt.table.get(to)
	if t == nil {
		r, err := rt.route(to)
		if err != nil {
			return err
		}
		return r.Exit(from, to, reason, false)
	}
	t.exitSignal(from, reason)
	return nil
}

// Watch calls fn(pid, reason) once, when the local process pid exits,
// after its links and monitors have been told; if it does not exist, fn
// runs at once with ErrNoProc. fn runs on the goroutine that ends the
// process — the process's own, or the caller of Exit that killed it, before
// that call returns — so it must not block nor take a lock that such a
// caller may hold. The returned function cancels the watch.
func (rt *Runtime) Watch(pid PID, fn func(PID, error)) (cancel func()) {
	return rt.watch(pid, fn, false)
}

// OnExit is Watch for cleanup: fn runs before the links and monitors of
// pid are told of its exit, so that what fn forgets (a registry's entries
// of the process, say) is forgotten by the time anyone hears of the exit.
// It runs under the same rules as Watch's.
func (rt *Runtime) OnExit(pid PID, fn func(PID, error)) (cancel func()) {
	return rt.watch(pid, fn, true)
}

func (rt *Runtime) watch(pid PID, fn func(PID, error), first bool) (cancel func()) {
	t := rt.table.get(pid)
	if t == nil {
		fn(pid, rt.noProcReason(pid))
		return func() {}
	}
	ref := rt.MakeRef()
	if !t.addWatcher(ref, watcher{fn: fn, first: first}) {
		fn(pid, t.exitReason())
		return func() {}
	}
	return func() { t.removeWatcher(ref) }
}

// noProcReason is the reason given for a PID that names no live process.
func (rt *Runtime) noProcReason(pid PID) error {
	if !rt.IsLocal(pid) && !pid.IsZero() {
		return ErrNoConnection
	}
	return ErrNoProc
}

// notLocal is the error for an operation on a PID that is not a live local
// process.
func (rt *Runtime) notLocal(pid PID) error {
	if !rt.IsLocal(pid) && !pid.IsZero() && pid.Node != rt.name {
		return fmt.Errorf("%w: %s", ErrNoRoute, pid.Node)
	}
	return fmt.Errorf("%w: %v", ErrNotAlive, pid)
}

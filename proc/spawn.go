package proc

import (
	"fmt"
	"runtime/debug"
)

// SpawnOption configures a spawn.
type SpawnOption func(*spawnConfig)

type spawnConfig struct {
	name     string
	bound    int
	link     bool
	monitor  bool
	trap     bool
	register []func(PID) error
}

// WithName registers the new process under name before Init runs; the spawn
// fails with ErrNameTaken if the name is held.
func WithName(name string) SpawnOption { return func(c *spawnConfig) { c.name = name } }

// WithMailboxBound bounds the mailbox: a send to a process with n messages
// waiting fails with ErrMailboxFull. 0 means unbounded.
func WithMailboxBound(n int) SpawnOption { return func(c *spawnConfig) { c.bound = n } }

// WithLink links the new process to the spawning process before Init runs.
// Only meaningful for Process.Spawn.
func WithLink() SpawnOption { return func(c *spawnConfig) { c.link = true } }

// WithMonitor makes the spawning process monitor the new one; the DOWN
// message arrives when it exits. Only meaningful for Process.Spawn, whose
// monitor reference is returned by Process.SpawnMonitor.
func WithMonitor() SpawnOption { return func(c *spawnConfig) { c.monitor = true } }

// WithRegister calls register with the new process's PID before Init runs,
// to put it in a registry (Elixir's {:via, Registry, key} at start): an
// error aborts the spawn with that error. The registry is expected to drop
// the entry when the process exits.
func WithRegister(register func(PID) error) SpawnOption {
	return func(c *spawnConfig) { c.register = append(c.register, register) }
}

// WithTrapExit starts the process trapping exits, before Init runs.
func WithTrapExit() SpawnOption { return func(c *spawnConfig) { c.trap = true } }

// Spawn starts a process running beh and returns once its Init has
// returned, like OTP's start_link. The process has no parent.
func (rt *Runtime) Spawn(beh Behavior, opts ...SpawnOption) (PID, error) {
	var cfg spawnConfig
	for _, o := range opts {
		o(&cfg)
	}
	p, _, err := rt.spawn(nil, beh, cfg)
	if err != nil {
		return PID{}, err
	}
	return p.pid, nil
}

// Spawn starts a child process of p running beh; see Runtime.Spawn. With
// WithLink the child is linked to p before its Init runs. A process that has
// exited (a callback still running after it was killed) spawns nothing:
// Spawn fails with an *ExitError naming it.
func (p *Process) Spawn(beh Behavior, opts ...SpawnOption) (PID, error) {
	var cfg spawnConfig
	for _, o := range opts {
		o(&cfg)
	}
	c, _, err := p.rt.spawn(p, beh, cfg)
	if err != nil {
		return PID{}, err
	}
	return c.pid, nil
}

// SpawnLink is Spawn with WithLink.
func (p *Process) SpawnLink(beh Behavior, opts ...SpawnOption) (PID, error) {
	return p.Spawn(beh, append(opts, WithLink())...)
}

// SpawnMonitor spawns a child and monitors it, returning the monitor's
// reference.
func (p *Process) SpawnMonitor(beh Behavior, opts ...SpawnOption) (PID, Ref, error) {
	var cfg spawnConfig
	for _, o := range opts {
		o(&cfg)
	}
	cfg.monitor = true
	c, ref, err := p.rt.spawn(p, beh, cfg)
	if err != nil {
		return PID{}, Ref{}, err
	}
	return c.pid, ref, nil
}

func (rt *Runtime) spawn(parent *Process, beh Behavior, cfg spawnConfig) (*Process, Ref, error) {
	if beh == nil {
		return nil, Ref{}, fmt.Errorf("proc: spawn: nil behavior")
	}
	if cfg.bound < 0 {
		return nil, Ref{}, fmt.Errorf("proc: spawn: negative mailbox bound %d", cfg.bound)
	}
	if rt.closing.Load() {
		return nil, Ref{}, ErrRuntimeClosed
	}
	if parent != nil && parent.isDead() {
		// A process killed while its callback runs spawns nothing.
		return nil, Ref{}, &ExitError{PID: parent.pid, Reason: parent.exitReason()}
	}
	p := &Process{
		rt:  rt,
		pid: PID{Node: rt.name, Creation: rt.creation, ID: rt.nextID.Add(1)},
		beh: beh,
	}
	p.mbox.active = &rt.active
	p.mbox.bound = int64(cfg.bound)
	if cfg.bound == 0 {
		p.mbox.bound = int64(rt.cfg.DefaultMailboxBound)
	}
	// The spawning goroutine owns the process until Init returns: messages
	// sent meanwhile wait in the mailbox.
	p.mbox.status.Store(statusRunning)
	if cfg.trap {
		p.trap.Store(true)
	}
	var ref Ref
	if parent != nil {
		p.parentID = parent.pid.ID
	}
	if !rt.table.add(p) {
		return nil, Ref{}, ErrRuntimeClosed
	}
	if cfg.name != "" {
		if err := p.register(cfg.name); err != nil {
			p.exit(ErrNormal)
			return nil, Ref{}, err
		}
	}
	for _, register := range cfg.register {
		if err := register(p.pid); err != nil {
			p.exit(ErrNormal)
			return nil, Ref{}, err
		}
	}
	if parent != nil {
		if cfg.link {
			p.addLink(parent.pid) // p was just created: alive
			if !parent.addLink(p.pid) {
				// The spawner has exited, its callback still running: a
				// child linked to a dead PID would run unsupervised.
				reason := parent.exitReason()
				p.exit(ErrNormal)
				return nil, Ref{}, &ExitError{PID: parent.pid, Reason: reason}
			}
		}
		if cfg.monitor {
			ref = rt.monitor(parent, p)
		}
	}
	err := rt.runInit(p)
	stopping := p.ext != nil && p.ext.stopping
	if err == nil && stopping {
		// Stopping in Init is a failed start too.
		err = p.ext.stopReason
	}
	if err != nil {
		// A failed start is reported to the caller, not to the links nor
		// the monitor (OTP 26's {error, Reason}): unlink and demonitor
		// first.
		if parent != nil && cfg.link {
			parent.removeLink(p.pid)
			p.removeLink(parent.pid)
		}
		if parent != nil && cfg.monitor {
			parent.removeMonitor(ref)
			p.removeWatcher(ref)
		}
		if stopping {
			p.terminate(err)
		} else {
			p.exit(err)
		}
		return nil, Ref{}, err
	}
	if !p.afterInit() {
		return nil, Ref{}, &ExitError{PID: p.pid, Reason: p.exitReason()}
	}
	return p, ref, nil
}

// runInit calls Init, turning a panic into a *CrashError.
func (rt *Runtime) runInit(p *Process) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &CrashError{Value: v, Stack: debug.Stack()}
		}
	}()
	return p.beh.Init(p)
}

// testHookSettled, when set by a test, runs after a spawn found messages
// waiting at the end of Init and before the process's goroutine starts.
var testHookSettled func(*Process)

// afterInit hands the process over to its own goroutine when messages (or
// continuations) are waiting, or lets it go idle. It reports false when the
// process died meanwhile.
func (p *Process) afterInit() bool {
	if s := p.ext; s != nil {
		if len(s.conts) > 0 {
			// Run the continuation on the process's goroutine, before any
			// message, and what it asks for after it: a system message does
			// exactly that.
			if err := p.pushSys(sysContinue{}); err != nil {
				return false
			}
		} else {
			if s.hibernate {
				p.compact(s)
			}
			if s.idleAfter > 0 {
				p.armIdle(s)
			}
		}
	}
	switch p.mbox.settle() {
	case statusDead:
		return false
	case statusRunning:
		if h := testHookSettled; h != nil {
			h(p)
		}
		p.schedule() // messages arrived during Init
	}
	return true
}

package proc

import (
	"context"
	"fmt"
	"reflect"
	"slices"
)

// Status tells what a process is doing.
type Status string

// Process statuses.
const (
	StatusIdle    Status = "idle"    // waiting for messages, holding no goroutine
	StatusWaiting Status = "waiting" // waiting for messages, its goroutine kept for a moment
	StatusRunning Status = "running" // handling messages
	StatusDead    Status = "dead"    // exited
)

// Info describes a process, for tools and tests.
type Info struct {
	PID         PID
	Name        string // registered name, if any
	Label       string // set with Process.SetLabel
	Parent      PID
	Behavior    string // Go type of the behaviour
	Status      Status
	MailboxLen  int
	TrapExit    bool
	Links       []PID
	Monitors    []PID // processes this one monitors
	MonitoredBy []PID // processes monitoring this one
	Watchers    int   // functions installed with Runtime.Watch and OnExit
	Timers      int
	// DroppedTimerMessages counts the process's timer messages that a full
	// bounded mailbox refused.
	DroppedTimerMessages uint64
}

// Info returns a description of the local process pid.
func (rt *Runtime) Info(pid PID) (Info, error) {
	p := rt.table.get(pid)
	if p == nil {
		return Info{}, rt.notLocal(pid)
	}
	return p.info(), nil
}

// Processes returns the PIDs of all live processes, in spawn order.
func (rt *Runtime) Processes() []PID {
	ps := rt.table.all()
	out := make([]PID, len(ps))
	for i, p := range ps {
		out[i] = p.pid
	}
	slices.SortFunc(out, func(a, b PID) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

func (p *Process) info() Info {
	in := Info{
		PID:        p.pid,
		Parent:     p.Parent(),
		Behavior:   reflect.TypeOf(p.beh).String(),
		MailboxLen: p.mbox.len(),
		TrapExit:   p.trap.Load(),
	}
	switch p.mbox.status.Load() {
	case statusIdle:
		in.Status = StatusIdle
	case statusParked:
		in.Status = StatusWaiting
	case statusRunning:
		in.Status = StatusRunning
	default:
		in.Status = StatusDead
	}
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	if m := p.meta; m != nil {
		in.Name = m.name
		in.Label = m.label
		for pid := range m.links {
			in.Links = append(in.Links, pid)
		}
		for _, pid := range m.monitors {
			in.Monitors = append(in.Monitors, pid)
		}
		for _, w := range m.watchers {
			if w.call {
				continue
			}
			if w.fn != nil {
				in.Watchers++
			} else {
				in.MonitoredBy = append(in.MonitoredBy, w.pid)
			}
		}
		in.Timers = len(m.timers)
		in.DroppedTimerMessages = m.timerDrops
	}
	return in
}

// Stop asks pid to stop with reason, running its Terminate, and waits until
// its exit has been handled (links, monitors and watchers told) or ctx is
// done, like gen_server:stop. The request jumps ahead of queued user
// messages. A process stopping itself this way (ctx is its Context) gets
// ErrCallToSelf; it calls Process.Stop instead.
func (rt *Runtime) Stop(ctx context.Context, pid PID, reason error) error {
	p := rt.table.get(pid)
	if p == nil {
		return rt.notLocal(pid)
	}
	if callerOf(ctx) == pid {
		return ErrCallToSelf
	}
	if reason == nil {
		reason = ErrNormal
	}
	note := p.exitNote()
	if err := p.pushSys(sysStop{reason: reason}); err != nil {
		return fmt.Errorf("%w: %v", err, pid)
	}
	select {
	case <-note.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

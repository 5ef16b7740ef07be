package proc

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// linker links itself to target in Init.
type linker struct {
	inbox
	target PID
}

func (l *linker) Init(p *Process) error {
	p.TrapExit(l.trap)
	return p.Link(l.target)
}

func TestLinkPropagatesAbnormalExit(t *testing.T) {
	rt := newRuntime(t)
	a := mustSpawn(t, rt, &counter{})
	b := mustSpawn(t, rt, &linker{inbox: *newInbox(), target: a})
	waitB := watchExit(t, rt, b)
	rt.Cast(a, crash{})
	var ce *CrashError
	if r := waitB(); !errors.As(r, &ce) {
		t.Fatalf("linked process exited with %v, want the crash", r)
	}
}

func TestLinkIgnoresNormalExitUnlessTrapping(t *testing.T) {
	rt := newRuntime(t)
	a := mustSpawn(t, rt, &counter{})
	l := &linker{inbox: *newInbox(), target: a}
	b := mustSpawn(t, rt, l)
	trapper := &linker{inbox: *newInbox(), target: a}
	trapper.trap = true
	mustSpawn(t, rt, trapper)

	rt.Cast(a, stopWith{ErrNormal})
	if m, ok := trapper.recv(t).(Exit); !ok || m.From != a || !errors.Is(m.Reason, ErrNormal) {
		t.Fatalf("trapping process got %#v", m)
	}
	if !rt.Alive(b) {
		t.Fatal("a normal exit killed a linked process")
	}
}

func TestTrapExitTurnsCrashIntoMessage(t *testing.T) {
	rt := newRuntime(t)
	a := mustSpawn(t, rt, &counter{})
	l := &linker{inbox: *newInbox(), target: a}
	l.trap = true
	b := mustSpawn(t, rt, l)
	rt.Cast(a, crash{})
	m, ok := l.recv(t).(Exit)
	var ce *CrashError
	if !ok || m.From != a || !errors.As(m.Reason, &ce) {
		t.Fatalf("got %#v", m)
	}
	if !rt.Alive(b) {
		t.Fatal("trapping process died")
	}
}

func TestKillIsUntrappableAndPropagatesAsKilled(t *testing.T) {
	rt := newRuntime(t)
	a := mustSpawn(t, rt, newInbox(), WithTrapExit())
	l := &linker{inbox: *newInbox(), target: a}
	l.trap = true
	mustSpawn(t, rt, l)
	waitA := watchExit(t, rt, a)
	if err := rt.Exit(a, ErrKill); err != nil {
		t.Fatal(err)
	}
	if r := waitA(); !errors.Is(r, ErrKilled) {
		t.Fatalf("killed process reason %v", r)
	}
	if m := l.recv(t).(Exit); !errors.Is(m.Reason, ErrKilled) {
		t.Fatalf("link saw %v, want killed", m.Reason)
	}
}

func TestExitSignalToTrappingProcessIsAMessage(t *testing.T) {
	rt := newRuntime(t)
	in := newInbox()
	in.trap = true
	pid := mustSpawn(t, rt, in)
	rt.Exit(pid, errBoom)
	if m := in.recv(t).(Exit); !errors.Is(m.Reason, errBoom) || !m.From.IsZero() {
		t.Fatalf("got %#v", m)
	}
	// A normal exit signal does nothing to a process not trapping exits.
	q := mustSpawn(t, rt, newInbox())
	rt.Exit(q, ErrNormal)
	if !rt.Alive(q) {
		t.Fatal("normal exit signal killed the process")
	}
}

func TestLinkToDeadProcessFails(t *testing.T) {
	rt := newRuntime(t)
	a := mustSpawn(t, rt, &counter{})
	rt.Stop(context.Background(), a, nil)
	_, err := rt.Spawn(&linker{inbox: *newInbox(), target: a})
	if !errors.Is(err, ErrNotAlive) {
		t.Fatalf("link to dead = %v", err)
	}
}

func TestUnlink(t *testing.T) {
	rt := newRuntime(t)
	a := mustSpawn(t, rt, &counter{})
	l := &linker{inbox: *newInbox(), target: a}
	b := mustSpawn(t, rt, l)
	rt.table.get(b).Unlink(a)
	if in, _ := rt.Info(a); len(in.Links) != 0 {
		t.Fatalf("links after unlink: %v", in.Links)
	}
	waitA := watchExit(t, rt, a)
	rt.Cast(a, crash{})
	waitA()
	if !rt.Alive(b) {
		t.Fatal("unlinked process died")
	}
}

// watcherProc monitors a target from Init.
type watcherProc struct {
	inbox
	target PID
	ref    Ref
}

func (w *watcherProc) Init(p *Process) error {
	w.ref = p.Monitor(w.target)
	return nil
}

func TestMonitorDeliversDownWithReason(t *testing.T) {
	rt := newRuntime(t)
	a := mustSpawn(t, rt, &counter{})
	w := &watcherProc{inbox: *newInbox(), target: a}
	mustSpawn(t, rt, w)
	rt.Cast(a, stopWith{errBoom})
	d := w.recv(t).(Down)
	if d.Ref != w.ref || d.PID != a || !errors.Is(d.Reason, errBoom) {
		t.Fatalf("down = %#v", d)
	}
}

func TestMonitorDeadProcessGivesNoProc(t *testing.T) {
	rt := newRuntime(t)
	w := &watcherProc{inbox: *newInbox(), target: PID{Node: rt.Node(), Creation: rt.Creation(), ID: 999}}
	mustSpawn(t, rt, w)
	if d := w.recv(t).(Down); !errors.Is(d.Reason, ErrNoProc) {
		t.Fatalf("down = %#v", d)
	}
}

func TestMessageBeforeExitArrivesBeforeDown(t *testing.T) {
	rt := newRuntime(t)
	w := &watcherProc{inbox: *newInbox()}
	wpid := mustSpawn(t, rt, HandlerFunc(func(*Process, any) {}))
	_ = wpid
	for i := range 50 {
		sender := mustSpawn(t, rt, HandlerFunc(func(p *Process, msg any) {
			p.Send(msg.(PID), fmt.Sprintf("last words %d", i))
			p.Stop(ErrNormal)
		}))
		w = &watcherProc{inbox: *newInbox(), target: sender}
		wp := mustSpawn(t, rt, w)
		rt.Send(sender, wp)
		if m := w.recv(t); m != fmt.Sprintf("last words %d", i) {
			t.Fatalf("got %#v before the last words", m)
		}
		if _, ok := w.recv(t).(Down); !ok {
			t.Fatal("no DOWN")
		}
	}
}

func TestDemonitor(t *testing.T) {
	rt := newRuntime(t)
	a := mustSpawn(t, rt, &counter{})
	w := &watcherProc{inbox: *newInbox(), target: a}
	wp := mustSpawn(t, rt, w)
	if !rt.table.get(wp).Demonitor(w.ref) {
		t.Fatal("demonitor of an active monitor returned false")
	}
	if in, _ := rt.Info(a); len(in.MonitoredBy) != 0 {
		t.Fatalf("still monitored by %v", in.MonitoredBy)
	}
	waitA := watchExit(t, rt, a)
	rt.Cast(a, crash{})
	waitA()
	rt.Send(wp, "marker")
	if m := w.recv(t); m != "marker" {
		t.Fatalf("got %#v after demonitor", m)
	}
}

// parent spawns a linked or monitored child from Init.
type parent struct {
	inbox
	child PID
	ref   Ref
}

func (pa *parent) Init(p *Process) error {
	p.TrapExit(true)
	var err error
	pa.child, pa.ref, err = p.SpawnMonitor(&counter{}, WithLink())
	return err
}

func TestSpawnLinkAndMonitor(t *testing.T) {
	rt := newRuntime(t)
	pa := &parent{inbox: *newInbox()}
	ppid := mustSpawn(t, rt, pa)
	in, _ := rt.Info(pa.child)
	if in.Parent != ppid || len(in.Links) != 1 || in.Links[0] != ppid || len(in.MonitoredBy) != 1 {
		t.Fatalf("child info %+v", in)
	}
	rt.Cast(pa.child, crash{})
	got := map[string]bool{}
	for range 2 {
		switch m := pa.recv(t).(type) {
		case Exit:
			got["exit"] = m.From == pa.child
		case Down:
			got["down"] = m.Ref == pa.ref
		}
	}
	if !got["exit"] || !got["down"] {
		t.Fatalf("parent got %v", got)
	}
}

func TestTimers(t *testing.T) {
	rt := newRuntime(t)
	in := newInbox()
	pid := mustSpawn(t, rt, in)
	p := rt.table.get(pid)
	p.SendAfter(time.Millisecond, "once")
	cancelled := p.SendAfter(time.Hour, "never")
	if !p.CancelTimer(cancelled) || p.CancelTimer(cancelled) {
		t.Fatal("cancel reported wrongly")
	}
	if m := in.recv(t); m != "once" {
		t.Fatalf("got %v", m)
	}
	ref, err := p.SendInterval(time.Millisecond, "tick")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if m := in.recv(t); m != "tick" {
			t.Fatalf("got %v", m)
		}
	}
	p.CancelTimer(ref)
	if _, err := p.SendInterval(0, "x"); err == nil {
		t.Fatal("zero interval accepted")
	}
	// Timers die with their process.
	p.SendAfter(time.Hour, "late")
	p.SendInterval(time.Hour, "late")
	if p.NumTimers() != 2 {
		t.Fatalf("%d timers", p.NumTimers())
	}
	wait := watchExit(t, rt, pid)
	rt.Exit(pid, ErrKill)
	wait()
	if p.NumTimers() != 0 {
		t.Fatalf("%d timers after exit", p.NumTimers())
	}
}

func TestNames(t *testing.T) {
	rt := newRuntime(t)
	in := newInbox()
	pid := mustSpawn(t, rt, in, WithName("svc"))
	if _, err := rt.Spawn(newInbox(), WithName("svc")); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("duplicate name = %v", err)
	}
	if err := rt.SendTo(Name("svc"), "hi"); err != nil {
		t.Fatal(err)
	}
	if m := in.recv(t); m != "hi" {
		t.Fatalf("got %v", m)
	}
	if got, ok := rt.WhereIs("svc"); !ok || got != pid {
		t.Fatalf("whereis = %v %v", got, ok)
	}
	if info, _ := rt.Info(pid); info.Name != "svc" {
		t.Fatalf("info name %q", info.Name)
	}
	wait := watchExit(t, rt, pid)
	rt.Exit(pid, ErrKill)
	wait()
	if _, ok := rt.WhereIs("svc"); ok {
		t.Fatal("name survived its process")
	}
	if err := rt.SendTo(Name("svc"), "hi"); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("send to free name = %v", err)
	}
	q := mustSpawn(t, rt, newInbox())
	if err := rt.Register("svc", q); err != nil {
		t.Fatal(err)
	}
	if !rt.Unregister("svc") || rt.Unregister("svc") {
		t.Fatal("unregister reported wrongly")
	}
}

type staticResolver map[any]PID

func (r staticResolver) WhereIs(k any) (PID, bool) { p, ok := r[k]; return p, ok }

func TestVia(t *testing.T) {
	rt := newRuntime(t)
	pid := mustSpawn(t, rt, &counter{n: 3})
	via := Via{Registry: staticResolver{"k": pid}, Key: "k"}
	if n, err := Call[int](context.Background(), rt, via, get{}); err != nil || n != 3 {
		t.Fatalf("call via = %v %v", n, err)
	}
	if err := rt.SendTo(Via{Registry: staticResolver{}, Key: "x"}, 1); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("send to unknown via = %v", err)
	}
}

func TestInfo(t *testing.T) {
	rt := newRuntime(t)
	pa := &parent{inbox: *newInbox()}
	ppid := mustSpawn(t, rt, pa)
	in, err := rt.Info(ppid)
	if err != nil {
		t.Fatal(err)
	}
	if !in.TrapExit || len(in.Links) != 1 || len(in.Monitors) != 1 || in.Behavior != "*proc.parent" {
		t.Fatalf("info %+v", in)
	}
	if got := rt.Processes(); len(got) != 2 || got[0] != ppid {
		t.Fatalf("processes %v", got)
	}
	if v, _ := rt.Inspect(context.Background(), pa.child); v != 0 {
		t.Fatalf("inspect = %v", v)
	}
}

// stopInInit stops from Init.
type stopInInit struct{ Base }

func (stopInInit) Init(p *Process) error {
	p.Stop(errBoom)
	return nil
}

func TestStopInInitDoesNotKillTheLinkedSpawner(t *testing.T) {
	rt := newRuntime(t)
	res := make(chan error, 1)
	parentPID := mustSpawn(t, rt, HandlerFunc(func(p *Process, _ any) {
		_, err := p.Spawn(stopInInit{}, WithLink())
		res <- err
	}))
	rt.Send(parentPID, "go")
	if err := <-res; !errors.Is(err, errBoom) {
		t.Fatalf("spawn = %v", err)
	}
	// The spawner survives: it still answers.
	if err := rt.Send(parentPID, "again"); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, errBoom) || !rt.Alive(parentPID) {
		t.Fatalf("spawner died or spawn = %v", err)
	}
}

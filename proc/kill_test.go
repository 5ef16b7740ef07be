package proc

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// A process killed while its callback runs cannot spawn a linked child:
// the child would run linked to a dead PID, unsupervised.
func TestSpawnLinkFromKilledProcessFails(t *testing.T) {
	rt := newRuntime(t)
	entered, killed, spawned := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var child PID
	pid := mustSpawn(t, rt, HandlerFunc(func(p *Process, msg any) {
		close(entered)
		<-killed
		var err error
		child, err = p.Spawn(newInbox(), WithLink())
		spawned <- err
	}))
	rt.Send(pid, "go")
	<-entered
	wait := watchExit(t, rt, pid)
	rt.Exit(pid, ErrKill)
	wait()
	close(killed)
	err := within(t, spawned, "spawn")
	if err == nil {
		t.Fatalf("a killed process spawned the linked child %v", child)
	}
	eventually(t, func() error {
		if n := rt.NumProcesses(); n != 0 {
			return fmt.Errorf("%d processes alive: %v", n, rt.Processes())
		}
		return nil
	})
}

// Nor can it leave monitors behind: a monitor created by a dead process is
// no watcher of its target.
func TestMonitorFromKilledProcessLeavesNoWatcher(t *testing.T) {
	rt := newRuntime(t)
	target := mustSpawn(t, rt, newInbox())
	entered, killed, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	pid := mustSpawn(t, rt, HandlerFunc(func(p *Process, msg any) {
		close(entered)
		<-killed
		p.Monitor(target)
		p.Link(target)
		close(done)
	}))
	rt.Send(pid, "go")
	<-entered
	wait := watchExit(t, rt, pid)
	rt.Exit(pid, ErrKill)
	wait()
	close(killed)
	within(t, done, "monitor")
	in, err := rt.Info(target)
	if err != nil {
		t.Fatalf("the target died of a dead process's link: %v", err)
	}
	if len(in.MonitoredBy) != 0 || len(in.Links) != 0 {
		t.Fatalf("target monitored by %v, linked to %v after their process died", in.MonitoredBy, in.Links)
	}
}

// Once Unlink returns, the link has no effect: an exit signal already on
// its way from the other side does not kill the process, and a process
// that traps exits gets no Exit message that was not queued before.
func TestUnlinkStopsASignalOnItsWay(t *testing.T) {
	rt := newRuntime(t)
	runs := 1000
	if raceEnabled {
		runs = 300
	}
	// A crowd of processes trapping exits, linked to every a, keeps a's
	// exit busy telling its links for a while: the window in which a
	// signal is on its way while b unlinks.
	crowd := spawnCrowd(t, rt, 200, true)
	violations := 0
	for i := range runs {
		trap := i%2 == 1
		a := mustSpawn(t, rt, newInbox())
		for _, c := range crowd {
			if err := rt.table.get(c).Link(a); err != nil {
				t.Fatal(err)
			}
		}
		unlinked := make(chan bool, 1) // alive when Unlink returned
		probed := make(chan bool, 1)   // an Exit from a came after the marker
		late, marked := false, false
		b := mustSpawn(t, rt, HandlerFunc(func(p *Process, msg any) {
			switch msg {
			case "unlink":
				p.Unlink(a)
				p.Send(p.Self(), "marker")
				unlinked <- p.Alive()
			case "marker":
				marked = true
			case "probe":
				probed <- late
			}
			if e, ok := msg.(Exit); ok && e.From == a && marked {
				late = true
			}
		}), func(c *spawnConfig) { c.trap = trap })
		if err := rt.table.get(b).Link(a); err != nil {
			t.Fatal(err)
		}
		bDied := make(chan struct{})
		rt.Watch(b, func(PID, error) { close(bDied) })
		go rt.Send(b, "unlink")
		if i%3 == 0 {
			runtime.Gosched()
		}
		rt.Exit(a, ErrKill) // returns once a's exit has been handled
		select {
		case alive := <-unlinked:
			if !alive {
				continue // killed before Unlink returned: allowed
			}
		case <-bDied:
			select {
			case alive := <-unlinked:
				if alive {
					violations++ // died after Unlink had returned
				}
			default: // died before handling "unlink": allowed
			}
			continue
		case <-time.After(5 * time.Second):
			t.Fatalf("run %d: unlink not handled", i)
		}
		if !rt.Alive(b) {
			violations++
			continue
		}
		rt.Send(b, "probe")
		if within(t, probed, "probe") {
			violations++
		}
		rt.Exit(b, ErrKill)
	}
	if violations > 0 {
		t.Fatalf("%d of %d runs: the link acted after Unlink returned", violations, runs)
	}
}

// Once Demonitor returns true, no DOWN of that monitor arrives: a DOWN
// already on its way makes Demonitor report false.
func TestDemonitorStopsADownOnItsWay(t *testing.T) {
	rt := newRuntime(t)
	runs := 1000
	if raceEnabled {
		runs = 300
	}
	// Many monitors of a, from a crowd, keep a's exit busy sending DOWNs
	// for a while: the window in which b's DOWN is on its way while b
	// demonitors. In every other run b is told to demonitor by a process
	// that got its own DOWN of a, which puts the Demonitor in the middle
	// of a's exit.
	crowd := spawnCrowd(t, rt, 200, false)
	violations := 0
	for i := range runs {
		a := mustSpawn(t, rt, newInbox())
		for _, c := range crowd {
			rt.table.get(c).Monitor(a)
		}
		var ref Ref
		res := make(chan bool, 1)
		removed, down := false, false
		b := mustSpawn(t, rt, HandlerFunc(func(p *Process, msg any) {
			switch msg {
			case "monitor":
				ref = p.Monitor(a)
			case "demonitor":
				removed = p.Demonitor(ref)
			case "probe":
				res <- removed && down
			}
			if d, ok := msg.(Down); ok && d.Ref == ref {
				down = true
			}
		}))
		rt.Send(b, "monitor")
		sent := make(chan struct{})
		if i%2 == 0 {
			go func() {
				rt.Send(b, "demonitor")
				close(sent)
			}()
		} else {
			trigger := mustSpawn(t, rt, HandlerFunc(func(p *Process, msg any) {
				if _, ok := msg.(Down); ok {
					p.Send(b, "demonitor")
					close(sent)
				}
			}))
			rt.table.get(trigger).Monitor(a)
		}
		if i%3 == 0 {
			runtime.Gosched()
		}
		rt.Exit(a, ErrKill) // returns once the DOWN, if any, is queued
		within(t, sent, "demonitor sent")
		rt.Send(b, "probe")
		if within(t, res, "probe") {
			violations++
		}
		rt.Exit(b, ErrKill)
	}
	if violations > 0 {
		t.Fatalf("%d of %d runs: a DOWN came after Demonitor returned true", violations, runs)
	}
}

// spawnCrowd spawns n processes that discard their messages, trapping
// exits when trap is set.
func spawnCrowd(t *testing.T, rt *Runtime, n int, trap bool) []PID {
	t.Helper()
	crowd := make([]PID, n)
	for i := range crowd {
		crowd[i] = mustSpawn(t, rt, HandlerFunc(func(*Process, any) {}), func(c *spawnConfig) { c.trap = trap })
	}
	return crowd
}

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/proc"
	"pgregory.net/rapid"
)

// TestSupervisorAgainstModel drives real supervisors on a real runtime with
// random crashes, normal exits, kills and API calls, and checks after each
// step the children (and the order in which they were stopped and started)
// against the naive model of core_test.go. Time is a manual clock moved by
// the test, so the intensity window is exact.
func TestSupervisorAgainstModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		clk := clocktest.New(time.Unix(1_000_000, 0))
		rt, err := proc.New(proc.Config{Node: "model@localhost", Clock: clk, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := rt.Close(ctx); err != nil {
				t.Errorf("close: %v", err)
			}
		}()
		rec := &recorder{}
		const period = 10 * time.Second
		m := &model{
			strategy: Strategy(rapid.IntRange(0, 2).Draw(t, "strategy")),
			max:      rapid.IntRange(0, 4).Draw(t, "intensity"),
			period:   period,
		}
		spec := Spec{Strategy: m.strategy, Intensity: m.max, Period: period}
		if m.max == 0 {
			spec.Intensity = NoRestarts
		}
		var initial []mkid
		for i := range rapid.IntRange(1, 5).Draw(t, "children") {
			r := Restart(rapid.IntRange(0, 2).Draw(t, "restart"))
			id := fmt.Sprintf("c%d", i)
			spec.Children = append(spec.Children, wspec(id, rec, restart(r)))
			initial = append(initial, mkid{id: id, restart: r, running: true})
		}
		var sup proc.PID
		var stale []proc.PID
		start := func() {
			var err error
			if sup, err = Start(rt, spec); err != nil {
				t.Fatal(err)
			}
			m.kids, m.restarts = append([]mkid(nil), initial...), nil
			var want []string
			for _, k := range initial {
				want = append(want, "start:"+k.id)
			}
			eq(t, "initial start", rec.take(), want)
		}
		start()
		check := func(t *rapid.T) {
			var want []string
			for _, k := range m.kids {
				st := StatusStopped
				if k.running {
					st = StatusRunning
				}
				want = append(want, fmt.Sprintf("%s:%s", k.id, st))
			}
			got, err := WhichChildren(ctxT(t), rt, sup)
			if err != nil {
				t.Fatal(err)
			}
			var gots []string
			for _, k := range got {
				gots = append(gots, fmt.Sprintf("%s:%s", k.ID, k.Status))
			}
			eq(t, "children", gots, want)
		}
		pidOf := func(id string) proc.PID { return pids(t, rt, sup)[id] }

		t.Repeat(map[string]func(*rapid.T){
			"exit": func(t *rapid.T) {
				var running []int
				for i, k := range m.kids {
					if k.running {
						running = append(running, i)
					}
				}
				if len(running) == 0 {
					t.Skip("nothing runs")
				}
				i := rapid.SampledFrom(running).Draw(t, "child")
				id := m.kids[i].id
				how := rapid.SampledFrom([]string{"panic", "normal", "shutdown", "error", "kill"}).Draw(t, "how")
				clk.Advance(time.Duration(rapid.IntRange(0, 8).Draw(t, "elapsedHalfSec")) * 500 * time.Millisecond)
				pid := pidOf(id)
				supDone := watchExit(t, rt, sup)
				childDone := watchExit(t, rt, pid)
				var events []string
				if how != "kill" {
					events = append(events, "stop:"+id) // its own Terminate
				}
				switch how {
				case "panic":
					_ = rt.Send(pid, cmdPanic{})
				case "normal":
					_ = rt.Send(pid, cmdStop{proc.ErrNormal})
				case "shutdown":
					_ = rt.Send(pid, cmdStop{proc.ShutdownError{Reason: errBoom}})
				case "error":
					_ = rt.Send(pid, cmdStop{errBoom})
				case "kill":
					_ = rt.Exit(pid, proc.ErrKill)
				}
				childDone()
				stale = append(stale, pid)
				abnormal := how == "panic" || how == "error" || how == "kill"
				var others []string // running before the exit, in reverse order
				for j := len(m.kids) - 1; j >= 0; j-- {
					if j != i && m.kids[j].running {
						others = append(others, m.kids[j].id)
					}
				}
				stop, starts, _, escalate := m.exit(i, abnormal, clk.Now())
				if escalate {
					if r := supDone(); !errors.Is(r, ErrMaxRestarts) {
						t.Fatalf("supervisor exit reason %v", r)
					}
					for _, o := range others {
						events = append(events, "stop:"+o)
					}
					eq(t, "events before giving up", rec.take(), events)
					start()
					return
				}
				for _, s := range starts {
					m.kids[m.index(s)].running = true
				}
				check(t) // also waits for the supervisor to handle the exit
				for _, s := range stop {
					events = append(events, "stop:"+s)
				}
				for _, s := range starts {
					events = append(events, "start:"+s)
				}
				eq(t, "events", rec.take(), events)
			},
			"terminateChild": func(t *rapid.T) {
				if len(m.kids) == 0 {
					t.Skip("no child")
				}
				i := rapid.IntRange(0, len(m.kids)-1).Draw(t, "child")
				k := m.kids[i]
				if k.running {
					stale = append(stale, pidOf(k.id))
				}
				if err := TerminateChild(ctxT(t), rt, sup, k.id); err != nil {
					t.Fatal(err)
				}
				var events []string
				if k.running {
					events = []string{"stop:" + k.id}
				}
				eq(t, "events", rec.take(), events)
				m.kids[i].running = false
				if k.restart == Temporary {
					m.kids = append(m.kids[:i], m.kids[i+1:]...)
				}
			},
			"restartChild": func(t *rapid.T) {
				if len(m.kids) == 0 {
					t.Skip("no child")
				}
				i := rapid.IntRange(0, len(m.kids)-1).Draw(t, "child")
				_, err := RestartChild(ctxT(t), rt, sup, m.kids[i].id)
				if m.kids[i].running {
					if !errors.Is(err, ErrRunning) {
						t.Fatalf("restart of a running child: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				eq(t, "events", rec.take(), []string{"start:" + m.kids[i].id})
				m.kids[i].running = true
			},
			"staleExit": func(t *rapid.T) {
				if len(stale) == 0 {
					t.Skip("no stale PID")
				}
				_ = rt.Send(sup, proc.Exit{From: rapid.SampledFrom(stale).Draw(t, "stale"), Reason: errBoom})
			},
			"": func(t *rapid.T) { check(t) },
		})
	})
}

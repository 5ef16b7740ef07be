package supervisor

import (
	"testing"

	"github.com/grovedev/grove/proc"
)

// announcer tells a channel its PID when it starts.
type announcer struct {
	proc.Base
	ch chan proc.PID
}

func (a *announcer) Init(p *proc.Process) error {
	a.ch <- p.Self()
	return nil
}

// BenchmarkRestartOneForOne measures the restart latency of a crashed
// one_for_one child: from the kill of the child to the end of its
// successor's Init, with nine idle siblings.
func BenchmarkRestartOneForOne(b *testing.B) {
	for _, how := range []string{"kill", "panic"} {
		b.Run(how, func(b *testing.B) {
			rt := newRuntime(b, nil)
			ch := make(chan proc.PID, 1)
			spec := Spec{Intensity: 1 << 30, Period: 1}
			for i := range 10 {
				cs := wspec(string(rune('a'+i)), nil)
				if i == 5 {
					cs = ChildSpec{ID: "x", Start: func() proc.Behavior { return &announcer{ch: ch} }}
				}
				spec.Children = append(spec.Children, cs)
			}
			if _, err := Start(rt, spec); err != nil {
				b.Fatal(err)
			}
			pid := <-ch
			b.ResetTimer()
			for range b.N {
				if how == "kill" {
					_ = rt.Exit(pid, proc.ErrKill)
				} else {
					_ = rt.Send(pid, crashMsg{})
				}
				pid = <-ch
			}
		})
	}
}

type crashMsg struct{}

func (a *announcer) HandleInfo(_ *proc.Process, msg any) {
	if _, ok := msg.(crashMsg); ok {
		panic("crash")
	}
}

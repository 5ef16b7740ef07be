package raft

import (
	"log/slog"

	"github.com/grovedev/grove/proc"
)

// runEffects runs a machine's effects; only the leader calls it.
func (g *group) runEffects(effects []Effect) {
	h := g.h
	for _, e := range effects {
		switch e := e.(type) {
		case Send:
			if err := h.rt.SendTo(e.To, e.Msg); err != nil {
				h.stats.EffectFailures.Add(1)
				h.log.Debug("effect send failed", slog.String("group", g.name), slog.Any("err", err))
			}
		case Propose:
			g.proposeInternal(e.Command)
		case MonitorNode:
			if !h.connected[e.Node] && e.Node != h.self {
				g.proposeInternal(e.Command)
				continue
			}
			g.nodeMon[e.Node] = append(g.nodeMon[e.Node], e.Command)
		case MonitorProcess:
			if err := h.rt.Send(h.watcher, watchReq{Group: g.name, PID: e.PID, Command: e.Command}); err != nil {
				h.stats.EffectFailures.Add(1)
			}
		case Timer:
			if t, ok := g.timers[e.Name]; ok {
				t.Stop()
			}
			name, cmd, handle := e.Name, e.Command, g.handle
			g.timers[e.Name] = h.rt.Clock().AfterFunc(e.After, func() {
				_ = handle.do(func(gr *group) {
					if gr == nil || gr.role != Leader {
						return
					}
					delete(gr.timers, name)
					gr.proposeInternal(cmd)
				})
			})
		case CancelTimer:
			if t, ok := g.timers[e.Name]; ok {
				t.Stop()
				delete(g.timers, e.Name)
			}
		}
	}
}

// proposeInternal proposes a command an effect asked for.
func (g *group) proposeInternal(cmd []byte) {
	if len(cmd) == 0 {
		return
	}
	g.touch()
	if err := g.rn.Propose(encodeCommand(g.h.nextTag(), cmd)); err != nil {
		g.h.stats.EffectFailures.Add(1)
		return
	}
	g.h.dirty[g] = struct{}{}
}

// nodeDown proposes the commands of the node monitors of a node that went
// down.
func (g *group) nodeDown(name string) {
	cmds := g.nodeMon[name]
	delete(g.nodeMon, name)
	if g.role != Leader {
		return
	}
	for _, c := range cmds {
		g.proposeInternal(c)
	}
}

// watchReq asks the watcher process to monitor a process for a group.
type watchReq struct {
	Group   string
	PID     proc.PID
	Command []byte
}

// watcher monitors processes for MonitorProcess effects.
type watcher struct {
	proc.Base
	h     *Host
	watch map[proc.Ref]watchReq
}

func (w *watcher) Init(*proc.Process) error {
	w.watch = map[proc.Ref]watchReq{}
	return nil
}

func (w *watcher) HandleInfo(p *proc.Process, msg any) {
	switch m := msg.(type) {
	case watchReq:
		w.watch[p.Monitor(m.PID)] = m
	case proc.Down:
		req, ok := w.watch[m.Ref]
		if !ok {
			return
		}
		delete(w.watch, m.Ref)
		if g := w.h.Group(req.Group); g != nil {
			_ = g.do(func(gr *group) {
				if gr != nil && gr.role == Leader {
					gr.proposeInternal(req.Command)
				}
			})
		}
	}
}

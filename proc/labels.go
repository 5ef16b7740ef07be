package proc

import (
	"log/slog"
	"slices"
)

// SetLabel gives the process a label for people: it shows in Info (so in
// the admin API and the dashboard) and on every line of the process's
// Logger, like OTP 27's proc_lib:set_label. An empty label removes it.
// Safe from any goroutine, though a process usually labels itself.
func (p *Process) SetLabel(label string) {
	p.metaMu.Lock()
	m := p.metaLocked()
	m.label = label
	m.logger = nil
	p.metaMu.Unlock()
}

// Label returns the process's label.
func (p *Process) Label() string {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	if p.meta == nil {
		return ""
	}
	return p.meta.label
}

// SetLogAttrs sets the attributes that every line of the process's Logger
// carries, replacing those set before, like logger:set_process_metadata: a
// request ID, a tenant, a session.
func (p *Process) SetLogAttrs(attrs ...slog.Attr) {
	p.metaMu.Lock()
	m := p.metaLocked()
	m.logAttrs = slices.Clone(attrs)
	m.logger = nil
	p.metaMu.Unlock()
}

// LogAttrs returns the attributes set with SetLogAttrs.
func (p *Process) LogAttrs() []slog.Attr {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	if p.meta == nil {
		return nil
	}
	return slices.Clone(p.meta.logAttrs)
}

// Logger returns the runtime's logger with the process's metadata on every
// line: its PID ("pid"), its label ("label") if it has one, and the
// attributes of SetLogAttrs. The runtime's own lines about the process, its
// crash report among them, use it too.
func (p *Process) Logger() *slog.Logger {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	m := p.metaLocked()
	if m.logger == nil {
		args := make([]any, 0, 2+len(m.logAttrs))
		args = append(args, slog.String("pid", p.pid.String()))
		if m.label != "" {
			args = append(args, slog.String("label", m.label))
		}
		for _, a := range m.logAttrs {
			args = append(args, a)
		}
		m.logger = p.rt.log.With(args...)
	}
	return m.logger
}

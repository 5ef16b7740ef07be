package proc

// MailboxLen returns the number of user messages waiting in the mailbox of
// the local process pid (queued and not yet handled), and false when pid is
// not a live local process. It takes no lock on the mailbox, so services
// that deliver to many processes (publish/subscribe fan-out, say) can apply
// their own bound per subscriber before sending.
func (rt *Runtime) MailboxLen(pid PID) (int, bool) {
	if pid.Node != rt.name {
		return 0, false
	}
	p := rt.table.get(pid)
	if p == nil {
		return 0, false
	}
	return p.mbox.len(), true
}

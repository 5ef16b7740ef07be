package proc

// Down is delivered to HandleInfo of a process that monitored another one,
// when the monitored process exits (or did not exist: Reason is ErrNoProc).
type Down struct {
	Ref    Ref   // the reference Monitor returned
	PID    PID   // the process that exited
	Reason error // its exit reason
}

// Exit is delivered to HandleInfo of a process that traps exits when a linked
// process exits or another process sends it an exit signal.
type Exit struct {
	From   PID   // the sender of the signal; zero when sent from outside any process
	Reason error // the exit reason
}

// system messages, queued ahead of user messages.
type (
	sysStop struct {
		reason error
	}
	sysContinue struct{}
)

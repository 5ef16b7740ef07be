package raft

import (
	"time"

	"github.com/grovedev/grove/proc"
)

// Machine is a replicated state machine: every member of a group applies
// the same committed commands in the same order to its own Machine.
//
// The host calls a Machine's methods from one goroutine, never
// concurrently, and never while a query function runs on it; the methods
// must not block (they run on the engine that drives every group of the
// node) and must be deterministic: the same commands from the same state
// must give the same state on every member.
type Machine interface {
	// Apply applies a committed command. index is its log position. The
	// reply goes to the caller of Command on the member that proposed it
	// (an error reply is returned as a *RejectedError); effects run on the
	// leader only.
	Apply(index uint64, cmd []byte) (reply any, effects []Effect)
	// Snapshot returns the machine's state, to be given to Restore of a
	// fresh machine. The host takes snapshots to truncate the log and to
	// bring new or lagging members up to date.
	Snapshot() ([]byte, error)
	// Restore replaces the machine's state with a snapshot's.
	Restore(snapshot []byte) error
}

// Versioned is implemented by machines whose snapshot format changes
// between releases. The host stores the version with every snapshot and
// restores a snapshot written by an older version through RestoreVersion,
// so a new release can read its predecessor's state; a snapshot of a newer
// version than the running one stops the group with ErrMachineVersion. A
// rolling upgrade must therefore upgrade every member before the new
// version writes a snapshot that an old member would read (or the old
// member stops rather than misread it).
type Versioned interface {
	Version() uint32
	RestoreVersion(version uint32, snapshot []byte) error
}

// Role is a member's role in its group.
type Role uint8

// Roles.
const (
	Follower Role = iota
	Candidate
	Leader
	PreCandidate
)

func (r Role) String() string {
	switch r {
	case Follower:
		return "follower"
	case Candidate:
		return "candidate"
	case Leader:
		return "leader"
	case PreCandidate:
		return "pre-candidate"
	}
	return "unknown"
}

// StateEnterer is implemented by machines that want to know when their
// member changes role. StateEnter runs on the engine goroutine after the
// change; effects it returns run if the member is the leader — this is
// where a new leader sets up again the monitors and timers the machine
// needs, since effects of a former leader die with its leadership.
type StateEnterer interface {
	StateEnter(role Role) []Effect
}

// Ticker is implemented by machines that act on time. On the leader,
// every GroupConfig.MachineTick, Tick runs with the time of the node's
// clock; its effects run at once (they usually propose a command, so that
// the decision is replicated).
type Ticker interface {
	Tick(now time.Time) []Effect
}

// Effect is something a machine asks the leader to do after a command:
// Send, Propose, MonitorProcess, MonitorNode, Timer, CancelTimer.
//
// Effects run on the leader only, after the command was applied there. If
// the leader loses leadership or crashes after applying but before running
// an effect, the effect is lost with it; a machine needing at-least-once
// delivery re-issues the effects of its state from StateEnter(Leader), so
// an effect can run more than once (on the old leader and the new one).
// Effects are at least once in that sense, never exactly once.
type Effect interface{ effect() }

// Send sends Msg to a process (a PID, a name, a NodeName or a Via name),
// as Runtime.SendTo does. A failed send is counted, not retried.
type Send struct {
	To  proc.Dest
	Msg any
}

// Propose proposes Command to the group, as a pipelined command whose
// reply nobody waits for.
type Propose struct {
	Command []byte
}

// MonitorProcess watches a process: when it exits (or its node goes
// down), the leader proposes Command.
type MonitorProcess struct {
	PID     proc.PID
	Command []byte
}

// MonitorNode watches a node: when its link goes down (or it is already
// down), the leader proposes Command.
type MonitorNode struct {
	Node    string
	Command []byte
}

// Timer proposes Command after After, on the node's clock. A timer of the
// same Name replaces the previous one.
type Timer struct {
	Name    string
	After   time.Duration
	Command []byte
}

// CancelTimer stops the timer Name.
type CancelTimer struct {
	Name string
}

func (Send) effect()           {}
func (Propose) effect()        {}
func (MonitorProcess) effect() {}
func (MonitorNode) effect()    {}
func (Timer) effect()          {}
func (CancelTimer) effect()    {}

package raft

import (
	"errors"
	"fmt"
)

var (
	// ErrNoLeader: the group has no leader this node can reach, so the
	// command was not proposed: it was certainly not applied.
	ErrNoLeader = errors.New("raft: no leader")
	// ErrNoQuorum: this node leads the group but cannot reach a majority of
	// its voters, so the command was not proposed: certainly not applied.
	ErrNoQuorum = errors.New("raft: no quorum")
	// ErrUnknownOutcome: the command was proposed but its fate is unknown
	// when the context ended (or the group stopped): it may have been
	// applied, now or later. Retry only idempotent commands.
	ErrUnknownOutcome = errors.New("raft: outcome unknown")
	// ErrOverloaded: the host holds as many unfinished commands as
	// Config.MaxPendingCommands and MaxPendingBytes allow, so a Pipeline
	// was refused at once: it was not proposed, certainly not applied.
	ErrOverloaded = errors.New("raft: overloaded: too many commands in flight")
	// ErrRejected: the group refused the command (raft dropped the
	// proposal, for instance during a leadership transfer or with a
	// membership change in flight), or the machine answered it with an
	// error (see RejectedError).
	ErrRejected = errors.New("raft: rejected")
	// ErrNotLeader is wrapped by NotLeaderError, for operations that run
	// only on the leader.
	ErrNotLeader = errors.New("raft: not the leader")
	// ErrTimeout: the context ended before the command was proposed (it
	// is certainly not applied), or before a query completed (a query
	// changes nothing, so there is no outcome to be unsure of).
	ErrTimeout = errors.New("raft: timed out")
	// ErrStopped: the group or its host stopped.
	ErrStopped = errors.New("raft: stopped")
	// ErrStorage: the group's log could not be written (disk full, fsync
	// failed). The host stops every group, acknowledging nothing that was
	// not written; restart it once the disk is healthy.
	ErrStorage = errors.New("raft: storage failed")
	// ErrGroupExists: a group of that name already runs on this host.
	ErrGroupExists = errors.New("raft: group already running")
	// ErrUnknownGroup: no group of that name runs on this host.
	ErrUnknownGroup = errors.New("raft: unknown group")
	// ErrInvalidConfig: a Config or GroupConfig failed validation.
	ErrInvalidConfig = errors.New("raft: invalid config")
	// ErrTooLarge: a command exceeds Config.MaxCommandBytes.
	ErrTooLarge = errors.New("raft: command too large")
	// ErrMachineVersion: the stored snapshot was written by a newer machine
	// version than the one given.
	ErrMachineVersion = errors.New("raft: snapshot of a newer machine version")
	// ErrMembership: a membership change that makes no sense (adding a
	// member twice, removing an unknown one, removing the last voter).
	ErrMembership = errors.New("raft: invalid membership change")
)

// NotLeaderError is returned by operations that need the leader, run on
// another member. Leader is the node believed to lead, "" if unknown.
type NotLeaderError struct {
	Leader string
}

func (e *NotLeaderError) Error() string {
	if e.Leader == "" {
		return "raft: not the leader (leader unknown)"
	}
	return fmt.Sprintf("raft: not the leader (try %s)", e.Leader)
}

// Unwrap returns ErrNotLeader.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// RejectedError carries the error a machine returned as the reply of a
// command: the command was committed and applied, and the machine refused
// it (a failed precondition, say). It matches ErrRejected.
type RejectedError struct {
	Err error
}

func (e *RejectedError) Error() string { return "raft: rejected: " + e.Err.Error() }

// Unwrap returns both ErrRejected and the machine's error.
func (e *RejectedError) Unwrap() []error { return []error{ErrRejected, e.Err} }

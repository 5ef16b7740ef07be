package eventsourcing

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/grovedev/grove/eventstore"
)

// ErrOutcomeUnknown: the command may or may not have been applied — its
// append was cut short (a timeout, a lost connection to the database, the
// node hosting the aggregate died before answering). Dispatch it again
// with the same command id (WithMetadata(Metadata{MetaCommandID: id})) to
// find out: an aggregate that applied it answers from its events and does
// not apply it twice (see Kind.RememberCommands).
var ErrOutcomeUnknown = errors.New("eventsourcing: outcome unknown")

// OutcomeUnknownError is an ErrOutcomeUnknown with its cause.
type OutcomeUnknownError struct {
	Stream string
	Err    error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("eventsourcing: outcome unknown for a command to %s: %v", e.Stream, e.Err)
}

// Is makes errors.Is(err, ErrOutcomeUnknown) true.
func (e *OutcomeUnknownError) Is(target error) bool { return target == ErrOutcomeUnknown }

// Unwrap returns the cause.
func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// deriveID returns a UUID (version 8: custom, from SHA-256) that is a
// function of parts: the events of one command decided again get the same
// ids, and so do the commands a process manager dispatches for one event.
func deriveID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var b [16]byte
	copy(b[:], h.Sum(nil))
	return eventstore.FormatUUID(b, 8)
}

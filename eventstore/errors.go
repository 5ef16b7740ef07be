package eventstore

import (
	"errors"
	"fmt"
)

// Errors of every store. Check them with errors.Is: stores wrap them with
// the stream and versions involved.
var (
	// ErrWrongExpectedVersion: the stream's version was not the one the
	// append or delete expected. Nothing was written.
	ErrWrongExpectedVersion = errors.New("eventstore: wrong expected version")
	// ErrStreamNotFound: the stream has no events (it was never written, or
	// it was hard-deleted).
	ErrStreamNotFound = errors.New("eventstore: stream not found")
	// ErrStreamDeleted: the stream was soft-deleted; it can be neither read
	// nor appended to.
	ErrStreamDeleted = errors.New("eventstore: stream deleted")
	// ErrSnapshotNotFound: no snapshot is stored for the stream.
	ErrSnapshotNotFound = errors.New("eventstore: snapshot not found")
	// ErrInvalid: the request itself is malformed (an empty or reserved
	// stream name, no events, the same stream twice in one append, an
	// oversized event). Nothing was written.
	ErrInvalid = errors.New("eventstore: invalid request")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("eventstore: closed")
	// ErrCorrupt: stored data does not decode. The store refuses to guess.
	ErrCorrupt = errors.New("eventstore: corrupt data")
	// ErrDuplicateEvent: some of an append's events, by ID, are already
	// the stream's events at the versions the append would give them, and
	// some are not (or one stream of a multi-stream append holds its part
	// already and another does not), so the append is neither new nor a
	// repeat of one that committed. Nothing was written. See
	// Appender for the rule.
	ErrDuplicateEvent = errors.New("eventstore: duplicate event")
	// ErrEventNotFound: a link names a position that holds no event (never
	// written, not yet visible, or hard-deleted). Nothing was written.
	ErrEventNotFound = errors.New("eventstore: event not found")
)

// VersionError tells which stream failed its expected-version check, what
// was expected and what the stream's version was when the check ran. It
// matches ErrWrongExpectedVersion.
type VersionError struct {
	Stream   string
	Expected ExpectedVersion
	Actual   uint64 // the stream's version; 0 for a stream with no events
	Exists   bool   // whether the stream existed
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("eventstore: wrong expected version for %q: expected %v, stream at %d", e.Stream, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrWrongExpectedVersion) true.
func (e *VersionError) Is(target error) bool { return target == ErrWrongExpectedVersion }

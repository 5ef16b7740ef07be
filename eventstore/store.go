package eventstore

import "context"

// Store is an event store: streams of events with optimistic concurrency,
// a global order ($all), snapshots and a change signal for subscribers.
//
// Every method is safe for concurrent use. Every blocking method takes a
// context and returns its error when it ends first; an append cancelled
// that way may or may not have been committed (read the stream to know).
//
// Appends are atomic: all the events of all the streams of one call are
// committed, or none. The expected-version check of each stream and the
// write happen under the stream's lock (a mutex, a single committer, a row
// lock), so two writers expecting the same version can never both succeed.
//
// Reads see only committed events. ReadAll never returns a position before
// every event with a lower position is visible: a reader that goes on from
// the last position it saw never misses one (see the package doc for how
// each backend keeps this without serializing appends).
type Store interface {
	Appender
	Reader
	Snapshots
	// Watch returns a channel that receives a value (coalesced: one value
	// may stand for many appends) after new events may have become
	// visible, until cancel is called or the store closes. It is a wake-up
	// only: a subscriber must read to know what changed, and must poll too
	// if it cannot afford a missed signal (a restarted listener, a
	// notification lost by the database).
	Watch() (ch <-chan struct{}, cancel func())
	// Close releases the store. Calls after Close fail with ErrClosed.
	Close() error
}

// Appender writes events.
//
// Appends are idempotent by event ID, so that a writer may retry an append
// whose outcome it does not know (a timeout, a lost connection) with the
// same events (same IDs) and the same expectation. An append is a repeat
// when every one of its streams already holds the append's events for it,
// by ID and in order, at the versions the append would have given them:
// after version n for Exact(n), from version 1 for NoStream, and as the
// stream's last events for Any and StreamExists. A repeat writes nothing
// and returns the versions and position of the events found. With Any and
// StreamExists only the stream's tail is compared, so a retry after another
// writer appended to the same stream writes the events again: use an exact
// version where a retry must never duplicate. An append that is partly
// found so (some events or some streams, not all) fails with
// ErrDuplicateEvent. The same rule applies to Link, by the linked events'
// IDs.
type Appender interface {
	// Append appends events to one stream if its version meets expected.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events ...EventData) (AppendResult, error)
	// AppendMulti appends to several streams atomically: every stream's
	// expectation must hold, or nothing is written.
	AppendMulti(ctx context.Context, appends ...StreamAppend) (AppendResult, error)
	// Link appends to stream links to events already stored, named by
	// their positions in $all, if the stream's version meets expected
	// (EventStore's link_to_stream): each link takes the stream's next
	// version and reads as the event it names (the same ID, type, data and
	// position, with OriginalStreamID and OriginalVersion set). The event
	// stays once in $all, at its own position; a link never appears there.
	// A position with no event fails with ErrEventNotFound. Deleting the
	// stream that holds links removes the links only; hard-deleting the
	// event's own stream makes its links vanish from the streams that hold
	// them (their versions read as gaps).
	Link(ctx context.Context, stream string, expected ExpectedVersion, positions ...uint64) (AppendResult, error)
	// Delete soft- or hard-deletes a stream if its version meets expected.
	Delete(ctx context.Context, stream string, expected ExpectedVersion, mode DeleteMode) error
}

// Reader reads events.
type Reader interface {
	// ReadStream returns up to max events of stream: forward from version
	// from (inclusive; 0 and 1 both mean the first), or backward from
	// version from (inclusive; End means the last). A stream with no
	// events gives ErrStreamNotFound, a soft-deleted one ErrStreamDeleted.
	ReadStream(ctx context.Context, stream string, from uint64, max int, dir Direction) ([]RecordedEvent, error)
	// ReadAll returns up to max events of the global order: forward from
	// position from (inclusive), or backward from position from
	// (inclusive; End means the last). Soft-deleted streams' events are
	// included, hard-deleted ones' are not.
	ReadAll(ctx context.Context, from uint64, max int, dir Direction) ([]RecordedEvent, error)
	// Head returns the position of the last visible event, 0 if none.
	Head(ctx context.Context) (uint64, error)
	// StreamInfo describes a stream; ErrStreamNotFound if it has no events.
	StreamInfo(ctx context.Context, stream string) (StreamInfo, error)
}

// Snapshots keeps one snapshot per stream, the latest saved.
type Snapshots interface {
	// SaveSnapshot stores s, replacing the stream's previous snapshot.
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// LoadSnapshot returns the stream's snapshot or ErrSnapshotNotFound.
	LoadSnapshot(ctx context.Context, stream string) (Snapshot, error)
	// DeleteSnapshot removes the stream's snapshot, if any.
	DeleteSnapshot(ctx context.Context, stream string) error
}

// Checkpoints keeps named positions for persistent subscriptions and
// handlers. Stores implement it next to their events, so that a handler
// writing into the same database can commit its checkpoint with its work.
type Checkpoints interface {
	// LoadCheckpoint returns the named position, 0 and false if none.
	LoadCheckpoint(ctx context.Context, name string) (pos uint64, ok bool, err error)
	// SaveCheckpoint stores the named position.
	SaveCheckpoint(ctx context.Context, name string, pos uint64) error
}

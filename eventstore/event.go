package eventstore

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// AllStream names the global stream of every event in commit order. It is
// reserved: nothing can be appended to it by name.
const AllStream = "$all"

// End, as the start of a backward read, means "from the latest".
const End = ^uint64(0)

// Limits on what an append may carry, checked by Validate. Stores may
// refuse less; none refuses these.
const (
	MaxStreamIDBytes = 1024
	MaxTypeBytes     = 1024
	MaxIDBytes       = 256
	MaxDataBytes     = 16 << 20 // data plus metadata of one event
)

// EventData is an event to append.
type EventData struct {
	// ID identifies the event, for deduplication by its readers. Empty
	// means a random UUID chosen by Append.
	ID string
	// Type names the event's kind ("AccountOpened"); upcasters and
	// handlers dispatch on it.
	Type string
	// Data is the event's body, Metadata its headers (correlation and
	// causation ids, the user): both opaque to the store.
	Data     []byte
	Metadata []byte
}

// RecordedEvent is an event as stored.
type RecordedEvent struct {
	// Position is the event's place in the global order ($all), from 1.
	// Positions grow with commit order and may have gaps.
	Position uint64
	// StreamID and Version place the event in the stream it was read
	// from; versions are 1, 2, ... with no gaps, except where a link's
	// event was hard-deleted since (see Appender.Link).
	StreamID string
	Version  uint64
	// OriginalStreamID and OriginalVersion are set when the event was read
	// through a link (Appender.Link): they name the stream and version
	// where the event was appended, which Position keeps pointing at.
	// Empty and 0 for an event read where it was appended, and in $all.
	OriginalStreamID string
	OriginalVersion  uint64
	ID               string
	Type             string
	Data             []byte
	Metadata         []byte
	// Created is when the store committed the event (UTC, microsecond
	// precision).
	Created time.Time
}

// IsLink reports whether e was read through a link.
func (e *RecordedEvent) IsLink() bool { return e.OriginalStreamID != "" }

// Direction of a read.
type Direction int

// Forward reads from the given version or position up; Backward down.
const (
	Forward Direction = iota
	Backward
)

func (d Direction) String() string {
	if d == Backward {
		return "backward"
	}
	return "forward"
}

// StreamAppend is one stream's part of a multi-stream append.
type StreamAppend struct {
	Stream   string
	Expected ExpectedVersion
	Events   []EventData
}

// AppendResult tells where an append's events went.
type AppendResult struct {
	// Streams lists, in request order, each stream's version after the
	// append (its last new event's version).
	Streams []StreamVersion
	// Position is the global position of the append's last event (of a
	// link, the highest position among the linked events).
	Position uint64
}

// StreamVersion is a stream's version after an append.
type StreamVersion struct {
	Stream  string
	Version uint64
}

// DeleteMode chooses soft or hard deletion.
type DeleteMode int

const (
	// SoftDelete marks the stream deleted: reading or appending to it
	// fails with ErrStreamDeleted, and its events stay in $all.
	SoftDelete DeleteMode = iota
	// HardDelete removes the stream and its events, from $all too. The
	// name can be written again afterwards, from version 1.
	HardDelete
)

// StreamInfo describes a stream.
type StreamInfo struct {
	Stream  string
	Version uint64 // events in the stream
	Created time.Time
	Deleted bool // soft-deleted
}

// Snapshot is an aggregate's state as of a stream version, saved so that
// loading it replays only the events after Version.
type Snapshot struct {
	Stream  string
	Version uint64
	Type    string // the state's type, for the loader to check
	Data    []byte
	Created time.Time
}

// NewID returns a random (version 4) UUID.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return FormatUUID(b, 4)
}

// FormatUUID sets the version (4 random, 8 custom) and RFC 9562 variant
// bits of b and writes it in the canonical 36-character form.
func FormatUUID(b [16]byte, version byte) string {
	b[6] = b[6]&0x0f | version<<4
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// ValidateStream reports a stream name that cannot be written: empty, too
// long, containing a NUL byte, or starting with '$' (reserved for the
// store's own streams).
func ValidateStream(stream string) error {
	switch {
	case stream == "":
		return fmt.Errorf("%w: empty stream name", ErrInvalid)
	case len(stream) > MaxStreamIDBytes:
		return fmt.Errorf("%w: stream name of %d bytes (limit %d)", ErrInvalid, len(stream), MaxStreamIDBytes)
	case strings.HasPrefix(stream, "$"):
		return fmt.Errorf("%w: stream name %q is reserved", ErrInvalid, stream)
	case strings.IndexByte(stream, 0) >= 0:
		return fmt.Errorf("%w: NUL byte in stream name %q", ErrInvalid, stream)
	}
	return nil
}

// ValidateAppend checks a multi-stream append and gives every event without
// an ID a fresh one (it edits the slices in place). Stores call it before
// taking any lock.
func ValidateAppend(appends []StreamAppend) error {
	if len(appends) == 0 {
		return fmt.Errorf("%w: nothing to append", ErrInvalid)
	}
	seen := make(map[string]bool, len(appends))
	for i := range appends {
		a := &appends[i]
		if err := ValidateStream(a.Stream); err != nil {
			return err
		}
		if seen[a.Stream] {
			return fmt.Errorf("%w: stream %q twice in one append", ErrInvalid, a.Stream)
		}
		seen[a.Stream] = true
		if !a.Expected.Valid() {
			return fmt.Errorf("%w: expected version %v", ErrInvalid, a.Expected)
		}
		if len(a.Events) == 0 {
			return fmt.Errorf("%w: no events for %q", ErrInvalid, a.Stream)
		}
		for j := range a.Events {
			e := &a.Events[j]
			if e.ID == "" {
				e.ID = NewID()
			}
			switch {
			case e.Type == "":
				return fmt.Errorf("%w: event %d of %q has no type", ErrInvalid, j, a.Stream)
			case len(e.Type) > MaxTypeBytes, len(e.ID) > MaxIDBytes:
				return fmt.Errorf("%w: event %d of %q: type or id too long", ErrInvalid, j, a.Stream)
			case len(e.Data)+len(e.Metadata) > MaxDataBytes:
				return fmt.Errorf("%w: event %d of %q has %d bytes (limit %d)", ErrInvalid, j, a.Stream, len(e.Data)+len(e.Metadata), MaxDataBytes)
			}
		}
	}
	return nil
}

// ValidateLink checks a link request: a valid stream and expectation, at
// least one position, none zero or repeated.
func ValidateLink(stream string, expected ExpectedVersion, positions []uint64) error {
	if err := ValidateStream(stream); err != nil {
		return err
	}
	if !expected.Valid() {
		return fmt.Errorf("%w: expected version %v", ErrInvalid, expected)
	}
	if len(positions) == 0 {
		return fmt.Errorf("%w: nothing to link", ErrInvalid)
	}
	seen := make(map[uint64]bool, len(positions))
	for _, p := range positions {
		switch {
		case p == 0 || p == End:
			return fmt.Errorf("%w: link to position %d", ErrInvalid, p)
		case seen[p]:
			return fmt.Errorf("%w: position %d twice in one link", ErrInvalid, p)
		}
		seen[p] = true
	}
	return nil
}

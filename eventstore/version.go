package eventstore

import (
	"fmt"
	"math"
	"strconv"
)

// ExpectedVersion is what an append (or a delete) requires of its stream's
// version before it writes. A stream's version is the number of events
// appended to it: 0 before its first event, then 1, 2, ...
//
// Exact(0) and NoStream are the same: the stream has no events.
type ExpectedVersion int64

// The expected versions that are not a number.
const (
	// Any accepts the stream in whatever state, as long as it is not
	// soft-deleted.
	Any ExpectedVersion = -1
	// StreamExists requires at least one event in the stream.
	StreamExists ExpectedVersion = -2
	// NoStream requires a stream with no events.
	NoStream ExpectedVersion = 0
)

// Exact expects the stream to be at version v exactly.
func Exact(v uint64) ExpectedVersion {
	if v > math.MaxInt64 {
		v = math.MaxInt64
	}
	return ExpectedVersion(v)
}

// String names the expectation.
func (e ExpectedVersion) String() string {
	switch {
	case e == Any:
		return "any"
	case e == StreamExists:
		return "stream_exists"
	case e == NoStream:
		return "no_stream"
	case e > 0:
		return strconv.FormatInt(int64(e), 10)
	}
	return fmt.Sprintf("invalid(%d)", int64(e))
}

// Valid reports whether e is Any, StreamExists or a version.
func (e ExpectedVersion) Valid() bool { return e >= StreamExists }

// Check reports whether a stream at version current (0: no events) meets
// e. It is the one rule every backend applies, under its own lock or row
// lock, so that no concurrent writer can slip between check and write.
func (e ExpectedVersion) Check(current uint64) bool {
	switch {
	case e == Any:
		return true
	case e == StreamExists:
		return current > 0
	case e >= 0:
		return uint64(e) == current
	}
	return false
}

// Package repeat decides, the same way in every backend, whether an append
// repeats one that committed (eventstore.Appender's idempotence rule).
package repeat

import (
	"fmt"

	"github.com/grovedev/grove/eventstore"
)

// Kind is how much of one stream's part of an append the stream holds.
type Kind int

const (
	// None: the stream does not hold the part; append as usual.
	None Kind = iota
	// Full: every event of the part is there, in order, where the append
	// would have put it.
	Full
	// Partial: the last is there, some other is not.
	Partial
)

// IDAt returns the ID and position of the stream's event at version v;
// ok is false where the version reads as a gap.
type IDAt func(v uint64) (id string, pos uint64, ok bool, err error)

// Needed reports whether the part must be compared at all: for an exact
// expectation only when the check failed (a stream at the expected version
// cannot hold events after it); for Any and StreamExists always.
func Needed(expected eventstore.ExpectedVersion, current uint64) bool {
	switch expected {
	case eventstore.Any, eventstore.StreamExists:
		return current > 0
	}
	return !expected.Check(current)
}

// Check compares the part's event IDs with the stream at version current.
// The last event is compared first (backends keep the stream's last ID at
// hand, so a new append to a busy stream costs no read); the others only
// when it matches. For Full, version is the version of the part's last
// event and pos the highest position of its events.
func Check(expected eventstore.ExpectedVersion, current uint64, ids []string, at IDAt) (kind Kind, version, pos uint64, err error) {
	kind, pos, err = check(expected, current, ids, at)
	if kind != Full {
		return kind, 0, 0, err
	}
	if expected == eventstore.Any || expected == eventstore.StreamExists {
		return Full, current, pos, nil
	}
	return Full, uint64(expected) + uint64(len(ids)), pos, nil
}

func check(expected eventstore.ExpectedVersion, current uint64, ids []string, at IDAt) (kind Kind, pos uint64, err error) {
	k := uint64(len(ids))
	if k == 0 || !Needed(expected, current) {
		return None, 0, nil
	}
	var first uint64
	switch expected {
	case eventstore.Any, eventstore.StreamExists:
		if current < k {
			return None, 0, nil
		}
		first = current - k + 1
	default:
		n := uint64(expected)
		if current < n+k {
			return None, 0, nil
		}
		first = n + 1
	}
	id, p, ok, err := at(first + k - 1)
	if err != nil || !ok || id != ids[k-1] {
		return None, 0, err
	}
	pos = p
	for i := uint64(0); i+1 < k; i++ {
		id, p, ok, err := at(first + i)
		if err != nil {
			return None, 0, err
		}
		if !ok || id != ids[i] {
			return Partial, 0, nil
		}
		pos = max(pos, p)
	}
	return Full, pos, nil
}

// Combine folds the kinds of an append's parts: repeat when every part is
// Full, an ErrDuplicateEvent when only some are (or any is Partial), and
// neither (append as usual) when none is.
func Combine(streams []string, kinds []Kind) (repeat bool, err error) {
	full := 0
	for i, k := range kinds {
		switch k {
		case Partial:
			return false, fmt.Errorf("%w: some of the events for %q are stored already, some are not", eventstore.ErrDuplicateEvent, streams[i])
		case Full:
			full++
		}
	}
	switch {
	case full == 0:
		return false, nil
	case full == len(kinds):
		return true, nil
	}
	for i, k := range kinds {
		if k == None {
			return false, fmt.Errorf("%w: the events for other streams are stored already, not those for %q", eventstore.ErrDuplicateEvent, streams[i])
		}
	}
	return false, nil
}

// IDs returns the events' IDs.
func IDs(evs []eventstore.EventData) []string {
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].ID
	}
	return ids
}

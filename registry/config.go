package registry

import (
	"fmt"
	"runtime"

	"github.com/grovedev/grove/proc"
)

// Kind tells whether a key names at most one process or many.
type Kind int

const (
	// Unique keys name at most one entry each: the second registration of a
	// key fails with ErrAlreadyRegistered. Use them for names.
	Unique Kind = iota
	// Duplicate keys collect any number of entries, and one process may
	// register the same key more than once. Use them for groups and topics.
	Duplicate
)

// String returns "unique" or "duplicate".
func (k Kind) String() string {
	switch k {
	case Unique:
		return "unique"
	case Duplicate:
		return "duplicate"
	default:
		return fmt.Sprintf("Kind(%d)", int(k))
	}
}

// Config tunes a Registry. The zero value is a usable unique registry.
type Config struct {
	// Keys is the kind of every key of the registry. Default Unique.
	Keys Kind
	// Partitions splits the keys over this many independently locked
	// partitions, so that writers of different keys rarely meet on a lock.
	// 0 means runtime.GOMAXPROCS(0).
	Partitions int
	// Listeners are processes that receive a Registered message for every
	// registration and an Unregistered message for every removed entry, like
	// the :listeners of Elixir's Registry. A listener that does not exist or
	// whose mailbox is full misses the event; the runtime's logger records it.
	Listeners []proc.PID
	// Callbacks are called with the same events as Listeners, in the same
	// order, one at a time, on the goroutine of a change: the one that made
	// it or another writer's that delivered its events (for removals caused
	// by an exit, the goroutine that ended the process). They must not
	// block, call the registry's write methods or send exit signals
	// (an exit they cause would remove entries, and so deliver events, on
	// their own goroutine). A callback that panics is logged and skipped.
	Callbacks []func(Event)
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Keys != Unique && c.Keys != Duplicate {
		return fmt.Errorf("registry: unknown key kind %d", int(c.Keys))
	}
	if c.Partitions < 0 {
		return fmt.Errorf("registry: Partitions %d is negative", c.Partitions)
	}
	for i, l := range c.Listeners {
		if l.IsZero() {
			return fmt.Errorf("registry: listener %d is the zero PID", i)
		}
	}
	for i, cb := range c.Callbacks {
		if cb == nil {
			return fmt.Errorf("registry: callback %d is nil", i)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Partitions == 0 {
		c.Partitions = runtime.GOMAXPROCS(0)
	}
	return c
}

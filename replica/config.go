package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Errors returned by this package.
var (
	// ErrClosed is returned by a Replica after Close.
	ErrClosed = errors.New("replica: closed")
	// ErrInvalidConfig is returned by Config.Validate and New for a
	// configuration that cannot work.
	ErrInvalidConfig = errors.New("replica: invalid config")
	// ErrInvalidName is returned by New for an empty or too long name.
	ErrInvalidName = errors.New("replica: invalid name")
	// ErrNilState is returned by New for a nil initial state.
	ErrNilState = errors.New("replica: nil state")
	// ErrWrongType is returned by Update for a mutator that returned a
	// delta of another type than the replica's state.
	ErrWrongType = errors.New("replica: delta of the wrong type")
	// ErrStore is returned by New when the store under Config.DataDir
	// cannot be opened or read: damaged files, a record that does not
	// decode, or a state of another CRDT type.
	ErrStore = errors.New("replica: store unusable")
	// ErrNotPersisted is returned by Update with Config.SyncEveryWrite
	// when the change was applied (and will be shipped to peers) but could
	// not be written to the store.
	ErrNotPersisted = errors.New("replica: change not persisted")
)

// Defaults of Config.
const (
	// DefaultInterval is the default time between sync rounds.
	DefaultInterval = 200 * time.Millisecond
	// DefaultRetransmitTicks is the default number of rounds before
	// unacknowledged deltas are sent again.
	DefaultRetransmitTicks = 5
	// DefaultRelayTicks is the default number of rounds a peer must lag
	// behind on another origin's deltas before they are relayed to it.
	DefaultRelayTicks = 3
	// DefaultDigestTicks is the default number of rounds between digests
	// sent to an idle peer.
	DefaultDigestTicks = 10
	// DefaultMaxMessageBytes is the default bound of the deltas in one
	// sync message.
	DefaultMaxMessageBytes = 1 << 20
	// DefaultMaxLogBytes is the default bound of the delta log.
	DefaultMaxLogBytes = 16 << 20
	// DefaultForgetAfter is the default time a departed peer still holds
	// back log truncation.
	DefaultForgetAfter = 5 * time.Minute
	// DefaultInboxSize is the default bound of received messages waiting
	// to be applied.
	DefaultInboxSize = 1024
)

// Config tunes a Replica. Zero fields mean the defaults.
type Config struct {
	// Members names the nodes that hold the replica. Default
	// NodeMembers(n): every connected node.
	Members Members
	// Interval is the time between two sync rounds. Default 200 ms.
	Interval time.Duration
	// RetransmitTicks is the number of rounds after which deltas sent to
	// a peer that has not acknowledged them are sent again. Default 5.
	RetransmitTicks int
	// RelayTicks is the number of rounds a peer must have stayed behind
	// on the deltas of another origin before this replica relays them
	// (a replica ships its own deltas at once). It keeps every replica
	// from shipping every delta to every other, while a peer that cannot
	// hear the origin (a partial partition, the origin gone) still gets
	// them. Default 3.
	RelayTicks int
	// DigestTicks is the number of rounds after which a replica sends
	// its digest to a peer even if it has nothing new for it, so that
	// lost acknowledgements and healed partitions are noticed. Default 10.
	DigestTicks int
	// MaxMessageBytes bounds the deltas in one sync message (before
	// joining into groups). A single delta larger than the bound is sent
	// alone. Default 1 MiB.
	MaxMessageBytes int
	// MaxLogBytes bounds the encoded deltas kept for peers that have not
	// acknowledged them; beyond it the oldest are dropped and a peer that
	// needs them gets the full state. Default 16 MiB.
	MaxLogBytes int
	// ForgetAfter is how long a peer that left the member set, or has not
	// been heard from, still holds back the dropping of log entries it has
	// not acknowledged. Default 5 minutes.
	ForgetAfter time.Duration
	// InboxSize bounds the sync messages received and not yet applied;
	// a message that finds the inbox full is dropped and counted (its
	// content is repaired by retransmission). Default 1024.
	InboxSize int
	// Logger receives decoding failures, failed writes of the store, and
	// pebble's messages (its informational ones at debug level). Default
	// slog.Default().
	Logger *slog.Logger

	// DataDir, when set, makes the replica persistent: it keeps its state
	// in a pebble database of its own in DataDir/<name> (the name with
	// bytes other than letters, digits, '-', '_' and '.' escaped as %XX),
	// created if missing, which New reads back. Empty: the replica lives
	// in memory only. See the package documentation, section Persistence,
	// for what a crash may lose.
	DataDir string
	// SyncEveryWrite makes Update return only once the change is synced
	// to the store under DataDir, instead of the store being written once
	// per Interval. Each write then costs a write of the whole state and
	// an fsync. Ignored without DataDir.
	SyncEveryWrite bool
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.RetransmitTicks == 0 {
		c.RetransmitTicks = DefaultRetransmitTicks
	}
	if c.RelayTicks == 0 {
		c.RelayTicks = DefaultRelayTicks
	}
	if c.DigestTicks == 0 {
		c.DigestTicks = DefaultDigestTicks
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxLogBytes == 0 {
		c.MaxLogBytes = DefaultMaxLogBytes
	}
	if c.ForgetAfter == 0 {
		c.ForgetAfter = DefaultForgetAfter
	}
	if c.InboxSize == 0 {
		c.InboxSize = DefaultInboxSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports a configuration that cannot work. Zero fields are valid:
// they mean the defaults.
func (c *Config) Validate() error {
	switch {
	case c.Interval < 0:
		return fmt.Errorf("%w: negative Interval %v", ErrInvalidConfig, c.Interval)
	case c.RetransmitTicks < 0:
		return fmt.Errorf("%w: negative RetransmitTicks %d", ErrInvalidConfig, c.RetransmitTicks)
	case c.RelayTicks < 0:
		return fmt.Errorf("%w: negative RelayTicks %d", ErrInvalidConfig, c.RelayTicks)
	case c.DigestTicks < 0:
		return fmt.Errorf("%w: negative DigestTicks %d", ErrInvalidConfig, c.DigestTicks)
	case c.MaxMessageBytes < 0:
		return fmt.Errorf("%w: negative MaxMessageBytes %d", ErrInvalidConfig, c.MaxMessageBytes)
	case c.MaxLogBytes < 0:
		return fmt.Errorf("%w: negative MaxLogBytes %d", ErrInvalidConfig, c.MaxLogBytes)
	case c.ForgetAfter < 0:
		return fmt.Errorf("%w: negative ForgetAfter %v", ErrInvalidConfig, c.ForgetAfter)
	case c.InboxSize < 0:
		return fmt.Errorf("%w: negative InboxSize %d", ErrInvalidConfig, c.InboxSize)
	}
	return nil
}

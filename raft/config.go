package raft

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Config tunes a Host. The zero value is ready to use but for DataDir.
type Config struct {
	// DataDir is the directory of the node's Raft log (one pebble
	// database for every group). Required.
	DataDir string
	// FS is the file system under DataDir; default the operating
	// system's. Tests use pebble's in-memory and error-injecting ones.
	FS vfs.FS
	// TickInterval is the length of one Raft tick. Default 100 ms.
	TickInterval time.Duration
	// ElectionTicks is the election timeout in ticks: a follower that hears
	// nothing from its leader for a random time between ElectionTicks and
	// twice that campaigns. Default 10 (1–2 s at the default tick).
	ElectionTicks int
	// HeartbeatTicks is how often a leader of a busy group heartbeats, in
	// ticks. Default 1.
	HeartbeatTicks int
	// QuiesceTicks is how many ticks a group must stay idle (nothing
	// proposed, everything applied and acknowledged by every member)
	// before it stops ticking and heartbeating. Default 2×ElectionTicks;
	// negative turns quiescence off.
	QuiesceTicks int
	// SnapshotEntries is how many entries a group applies between two
	// snapshots of its machine; the log before a snapshot is dropped,
	// keeping KeepEntries for slow followers. Defaults 10,000 and 1,000.
	SnapshotEntries, KeepEntries uint64
	// MaxCommandBytes bounds a command. Default 1 MiB.
	MaxCommandBytes int
	// MaxPendingCommands and MaxPendingBytes bound the commands this host
	// has accepted and not finished with — queued for the engine,
	// proposed, waiting to be applied here — by count and by bytes (a
	// command counts its size plus 64). When the leader cannot keep up, a
	// Command waits for room until its context ends (ErrTimeout: it was
	// not proposed) and a Pipeline fails at once with ErrOverloaded.
	// Defaults 16,384 and 64 MiB.
	MaxPendingCommands int
	MaxPendingBytes    int64
	// MaxSizePerMsg bounds the entries of one append message, and
	// MaxInflightMsgs the append messages in flight to one follower.
	// Defaults 1 MiB and 256.
	MaxSizePerMsg   uint64
	MaxInflightMsgs int
	// SnapshotChunkBytes is the size of the chunks a snapshot travels in.
	// Default 512 KiB.
	SnapshotChunkBytes int
	// Logger receives the engine's messages. Default the node's runtime's.
	Logger *slog.Logger
}

// Validate checks the fields.
func (c *Config) Validate() error {
	switch {
	case c.DataDir == "":
		return fmt.Errorf("%w: DataDir is required", ErrInvalidConfig)
	case c.TickInterval < 0, c.ElectionTicks < 0, c.HeartbeatTicks < 0, c.MaxCommandBytes < 0, c.MaxInflightMsgs < 0, c.SnapshotChunkBytes < 0,
		c.MaxPendingCommands < 0, c.MaxPendingBytes < 0:
		return fmt.Errorf("%w: negative duration or count", ErrInvalidConfig)
	case c.ElectionTicks != 0 && c.HeartbeatTicks != 0 && c.HeartbeatTicks >= c.ElectionTicks:
		return fmt.Errorf("%w: HeartbeatTicks %d must be below ElectionTicks %d", ErrInvalidConfig, c.HeartbeatTicks, c.ElectionTicks)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.TickInterval == 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = 10
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = 1
	}
	if c.QuiesceTicks == 0 {
		c.QuiesceTicks = 2 * c.ElectionTicks
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 10_000
	}
	if c.KeepEntries == 0 {
		c.KeepEntries = 1_000
	}
	if c.MaxCommandBytes == 0 {
		c.MaxCommandBytes = 1 << 20
	}
	if c.MaxPendingCommands == 0 {
		c.MaxPendingCommands = 16_384
	}
	if c.MaxPendingBytes == 0 {
		c.MaxPendingBytes = 64 << 20
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = 1 << 20
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = 256
	}
	if c.SnapshotChunkBytes == 0 {
		c.SnapshotChunkBytes = 512 << 10
	}
	return c
}

// GroupConfig describes one group on one host.
type GroupConfig struct {
	// Name names the group; every member uses the same. Required.
	Name string
	// Members are the node names of the first voters. Every first member
	// starts the group with the same list; a group that already has a log
	// on this host restarts from it and ignores Members. Leave it empty
	// (with Join) on a node to be added later with AddMember.
	Members []string
	// Join starts the group empty, waiting to be added by the leader
	// (AddMember on a member) and brought up to date by a snapshot.
	Join bool
	// Machine is this member's state machine. Required.
	Machine Machine
	// MachineTick is how often a Ticker machine's Tick runs on the leader.
	// Default 1 s.
	MachineTick time.Duration
}

// Validate checks the fields.
func (c *GroupConfig) Validate() error {
	switch {
	case c.Name == "" || len(c.Name) > 512:
		return fmt.Errorf("%w: group name %q", ErrInvalidConfig, c.Name)
	case c.Machine == nil:
		return fmt.Errorf("%w: nil Machine", ErrInvalidConfig)
	case c.MachineTick < 0:
		return fmt.Errorf("%w: negative MachineTick", ErrInvalidConfig)
	}
	seen := map[string]bool{}
	for _, m := range c.Members {
		if m == "" || seen[m] {
			return fmt.Errorf("%w: member %q empty or repeated", ErrInvalidConfig, m)
		}
		seen[m] = true
	}
	return nil
}

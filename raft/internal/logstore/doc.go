// Package logstore is the durable Raft log shared by every group of a node:
// one pebble database holding, per group, the log entries, the hard state
// (term, vote, commit), the latest snapshot and a small metadata record.
//
// A round of the engine collects the writes of every group that has
// something to persist into one Batch and commits it with one synced write,
// so a thousand busy groups cost one fsync per round, not a thousand. The
// in-memory view each Log keeps for raft.Storage (first and last index, the
// term of the last entry, the hard and configuration state) changes only
// after the batch committed, so raft never sees an entry as stable before it
// is on disk.
//
// # Keys
//
// Every key starts with one byte naming the record kind, then the group id
// as 8 big-endian bytes; entries add their index as 8 big-endian bytes, so
// one group's entries are contiguous and ordered:
//
//	'e' gid index  log entry           crc | term | type | data
//	'h' gid        hard state          crc | term | vote | commit
//	's' gid        snapshot            crc | index | term | conf state | data
//	't' gid        truncation point    crc | index | term
//	'm' gid        group metadata      crc | bytes owned by the engine
//
// Every value ends with nothing unchecked: a CRC-32C over the rest comes
// first, so a torn or corrupted value is reported as ErrCorrupt rather than
// handed to raft.
//
// # Concurrency
//
// A Store and its Logs are safe for concurrent use. raft.Storage methods of
// a Log may run while a batch commits; they see the state before or after
// the batch, never half of it.
package logstore

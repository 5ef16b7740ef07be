// Package pebblestore is Grove's embedded event store, on a pebble
// database in a local directory: zero set-up, durable (every acknowledged
// append is fsynced), and fast under many writers through group commit.
// It implements eventstore.Store and eventstore.Checkpoints.
//
// # Usage
//
//	s, err := pebblestore.Open(pebblestore.Config{Dir: "data/events"})
//	if err != nil { ... }
//	defer s.Close()
//	_, err = s.Append(ctx, "order-1", eventstore.NoStream, eventstore.EventData{Type: "Placed"})
//
// # How it works
//
// One committer goroutine owns every write. Appends and deletes queue for
// it; it takes all that are queued (up to Config.MaxBatchEvents events),
// checks each request's expected versions against the streams as the
// requests before it in the group leave them, writes the accepted ones in
// one pebble batch committed with fsync, and then answers each request and
// publishes the last position to readers. A rejected request does not
// affect the others of its group; a failed commit fails them all and
// nothing of the group is kept. A delete commits in a group of its own.
//
// Keys: 'e'+position → the event, or a link's record (the stream and
// version holding the link and the linked event's position; $all reads
// skip it); 's'+stream+version → the stream index: one entry per append and
// stream, under its last version, holding its first version and first
// position (an append's events for a stream have consecutive positions), so
// that a batch of a hundred events adds one index key, not a hundred;
// 'm'+stream → the stream's version, creation time, deleted flag and last
// event's ID (so that the idempotence check of an append with Any reads
// nothing unless the IDs match); 'n'+stream → its snapshot; 'c'+name → a checkpoint; 'h' →
// the last position assigned, so that positions are never reused after a
// hard delete and a restart. Records start with a format byte and use
// varints; a record that does not decode gives eventstore.ErrCorrupt.
//
// Readers of $all read up to the last published position, so they never
// see an event before those below it are durable. Stream reads use one
// pebble snapshot for the stream record and its events.
//
// # Limits
//
// The committer caches each stream's record it has seen, for the life of
// the store (a few dozen bytes per stream). One process opens a directory
// at a time (pebble locks it): in a cluster, each node's embedded store is
// its own; use pgstore to share one store between nodes.
package pebblestore

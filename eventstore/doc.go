// Package eventstore defines Grove's event store: streams of immutable
// events appended with optimistic concurrency, a global order of every
// event ($all), snapshots, upcasters that modernise old events as they are
// read, and a change signal for subscribers. Backends live in
// sub-packages: memstore (in memory, for tests), pebblestore (embedded,
// the default: zero set-up) and pgstore (PostgreSQL). All three pass the
// same conformance suite, eventstore/storetest.
//
// # Usage
//
//	s, err := pebblestore.Open(pebblestore.Config{Dir: "data/events"})
//	if err != nil { ... }
//	defer s.Close()
//
//	// Open an account: only if the stream does not exist yet.
//	_, err = s.Append(ctx, "account-42", eventstore.NoStream,
//		eventstore.EventData{Type: "AccountOpened", Data: body})
//
//	// Deposit, expecting exactly the version we decided on.
//	_, err = s.Append(ctx, "account-42", eventstore.Exact(1),
//		eventstore.EventData{Type: "Deposited", Data: amount})
//	if errors.Is(err, eventstore.ErrWrongExpectedVersion) { /* reload and retry */ }
//
//	// A transfer touches two streams: both or neither.
//	_, err = s.AppendMulti(ctx,
//		eventstore.StreamAppend{Stream: "account-42", Expected: eventstore.Exact(2), Events: debit},
//		eventstore.StreamAppend{Stream: "account-7", Expected: eventstore.StreamExists, Events: credit})
//
//	evs, err := s.ReadStream(ctx, "account-42", 1, 100, eventstore.Forward)
//	all, err := s.ReadAll(ctx, lastSeen+1, 500, eventstore.Forward)
//
// # Expected versions
//
// A stream's version is its number of events. Every append names what it
// expects: Any, NoStream (no events yet), StreamExists (at least one), or
// Exact(n). The check and the write are one atomic step in every backend —
// under the memory store's mutex, in the embedded store's single committer,
// and under the stream's row lock in PostgreSQL (an UPDATE whose WHERE
// clause is the expectation, re-evaluated after any concurrent writer
// commits) — so two writers that expect the same version can never both
// succeed. A failed check returns a *VersionError (ErrWrongExpectedVersion)
// with the version found.
//
// # The global order and why a $all reader never misses an event
//
// Each event gets a position in $all. Positions grow with commit order, so
// a subscriber can read from the position after the last one it saw and
// never miss an event, and positions may have gaps (aborted transactions,
// hard-deleted streams). The hard part is to give that order without a
// single row that every append updates (EventStore for Elixir's $all row,
// which caps it near 8,600 events/s with 50 writers):
//
//   - memstore assigns positions under its mutex: commit order is position
//     order.
//   - pebblestore has one committer goroutine that takes every queued
//     append, checks them in turn, writes them in one synced batch (a group
//     commit) and only then publishes the new last position to readers.
//     Writers never wait for each other's fsync one by one, and readers
//     never see a position whose predecessors are not yet durable.
//   - pgstore draws positions from a sequence (no row lock, nothing held to
//     commit), so appends commit in any order: position 10 may commit
//     before position 9. A reader that saw 10 and went on from 11 would miss
//     9 forever. So $all reads stop at a horizon: the store reads the last
//     position drawn (hi) and then which appends are running: every append
//     takes a shared advisory lock of the schema before it draws a position,
//     and a transaction releases its locks only after its commit is visible.
//     So any append holding a position at or below hi is in that list, or
//     has ended and is visible. Once all of them have ended, hi is safe:
//     nothing at or below it can appear any more. The horizon advances on
//     every read and trails the newest commit by a sample at most; Head
//     waits (briefly) until it passes the store's own appends, so a process
//     reads its own writes. Only appends to the same schema hold it back.
//
// # Deletion, snapshots, upcasters
//
// Delete with SoftDelete marks a stream deleted: reading or appending to it
// fails with ErrStreamDeleted and its events stay in $all. HardDelete
// removes the stream, its events (from $all too) and its snapshot; the name
// may then be used again from version 1.
//
// Link appends to a stream links to events already stored
// (link_to_stream): the stream reads them as its own versions, and $all
// keeps each event once.
//
// # Idempotent appends
//
// An append repeated with the same event IDs and the same expectation
// (after a timeout, say) writes nothing and answers as the first did; one
// partly stored fails with ErrDuplicateEvent. Appender gives the rule.
//
// SaveSnapshot keeps one snapshot per stream (the latest), for aggregates
// that would otherwise replay long streams.
//
// WithUpcasters wraps a store so that reads pass events through upcasters
// by type; stored events are never rewritten.
//
// # Subscriptions
//
// Store.Watch is a coalesced wake-up, never the source of truth: package
// eventstore/subscription reads from positions and checkpoints, and polls,
// so a lost signal delays an event and never loses it.
package eventstore

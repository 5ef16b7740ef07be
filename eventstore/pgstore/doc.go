// Package pgstore is Grove's PostgreSQL event store (pgx v5), shared by
// every node that connects to the same database and schema. It implements
// eventstore.Store and eventstore.Checkpoints, and adds leases
// (exactly-one ownership with fencing tokens, for persistent subscriptions)
// and SaveCheckpointTx (a projection's checkpoint committed in the same
// transaction as its read model).
//
// # Usage
//
//	s, err := pgstore.Open(ctx, pgstore.Config{URL: "postgres://app@db:5432/app", Schema: "events"})
//	if err != nil { ... }
//	defer s.Close()
//	_, err = s.Append(ctx, "order-1", eventstore.NoStream, eventstore.EventData{Type: "Placed"})
//
// # Tables
//
// Open creates, if missing, a schema (Config.Schema, default grove_es)
// with a sequence for positions; streams (one row per stream: its version,
// deleted flag and last event's ID); events (position primary key, unique
// (stream, version)); links (stream, version → the linked event's position;
// links draw no position); snapshots; checkpoints; leases; and the
// functions append, link, remove and horizon (with their helpers bump,
// repeat_kind and stream_ids). A stream is read as its events and its
// links merged in version order.
//
// The idempotence rule of eventstore.Appender runs inside the append
// function: the update that checks an exact expectation fails when the
// stream has moved on, and only then are the events at the expected
// versions compared with the append's IDs; for Any and StreamExists the
// update also requires the stream's last ID to differ from the append's
// last, so a new append costs no read and only a possible repeat is
// compared. Nodes that open the same schema at once serialize the creation
// on an advisory lock.
//
// # Appends
//
// An append is one call of the append function: one round trip and one
// transaction, whatever the number of streams and events (no limit of
// query parameters: the events travel as arrays). For each stream, sorted
// by name so that concurrent multi-stream appends lock in the same order,
// one statement checks the expectation and bumps the version under the
// stream's row lock; then the events are inserted with positions from the
// sequence. The sequence is the only thing every append touches, and
// drawing from it holds no lock until commit, so writers of different
// streams never wait for each other.
//
// # Reading $all
//
// Positions are drawn before commit, so they can commit out of order;
// reads of $all stop at a horizon below which every transaction that drew
// a position has ended (see package eventstore for the argument). Head
// returns it, waiting briefly for the store's own last append to fall
// below it. Only appends to the same schema hold the horizon back.
//
// # Notifications
//
// After each append the store sends one NOTIFY on channel <schema>_events
// (coalesced, outside the append's transaction, since NOTIFY inside it
// would serialize commits on the notification queue's lock), and one
// connection per store LISTENs and wakes the store's watchers. It is a
// wake-up only: subscribers read from their own position and poll as well,
// so a lost notification or a dropped LISTEN connection (reconnected with
// backoff, and waking every watcher when it is back) delays events and
// never loses them.
//
// # Tests
//
// The tests need a server: set GROVE_TEST_POSTGRES to its URL. Without it
// they skip and say so; with GROVE_TEST_POSTGRES_REQUIRED set (as in
// continuous integration) they fail instead. Each test uses a schema of
// its own and drops it.
package pgstore

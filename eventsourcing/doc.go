// Package eventsourcing is Grove's event-sourcing framework, after
// Commanded: aggregates that decide events from commands, run as Grove
// processes (one per aggregate id, started on demand, stopped after a
// lifespan); a command router with identity, middleware and retry on a
// lost append race; consistency eventual or strong (a dispatch returns once
// named handlers have seen its events); event handlers and projections
// with checkpoints; process managers with timeouts; and replay of an
// aggregate or projection to any past point (time travel). Events live in
// an eventstore.Store (memory, embedded pebble, PostgreSQL).
//
// # Usage
//
//	types := eventsourcing.NewTypes()
//	eventsourcing.Register[AccountOpened](types, "AccountOpened")
//	eventsourcing.Register[Deposited](types, "Deposited")
//
//	app, _ := eventsourcing.New(eventsourcing.Config{Store: store, Types: types, Runtime: rt})
//	accounts := eventsourcing.Kind{Name: "account", New: func(id string) eventsourcing.Aggregate { return &Account{} }}
//	eventsourcing.Route(app, accounts, func(c Deposit) string { return c.Account })
//
//	res, err := app.Dispatch(ctx, Deposit{Account: "42", Amount: 10},
//		eventsourcing.WithConsistency(eventsourcing.Strong, "balances"))
//
// # Aggregates
//
// An Aggregate's Execute decides the events of a command from the state,
// without changing it; Apply evolves the state by one event. The host
// loads the aggregate from its snapshot and stream on its first command,
// executes commands one at a time, appends their events expecting the
// version it holds, and applies them. If another process appended
// meanwhile (a second node, a restarted instance), the append fails with
// a wrong expected version; the host reads the new events and decides
// again, up to Kind.Retries times. So two instances of one aggregate may
// run at once without ever overwriting each other. An aggregate idle for
// Kind.Lifespan stops; the next command starts it again. Every
// Kind.SnapshotEvery events the state's JSON is saved as a snapshot.
//
// LocalHost (the default) runs one proc process per aggregate id on one
// runtime, registered under "aggregate:<kind>:<id>". ClusterHost runs each
// aggregate id on one node of a cluster at a time, on the keyed processes
// of package entity: routed there from any node, activated by its first
// command, passivated after its lifespan, moved when the members change.
//
//	host, _ := eventsourcing.NewClusterHost(clu, eventsourcing.ClusterHostConfig{Store: store, Types: types})
//	app, _ := eventsourcing.New(eventsourcing.Config{Store: store, Types: types, Host: host})
//	eventsourcing.Route(app, accounts, func(c Deposit) string { return c.Account }) // on every node
//
// # Applied once
//
// Every command has an id (Metadata[MetaCommandID], random unless given)
// that its events carry, and its events' ids are derived from it. An
// instance remembers the command ids of the stream's latest events
// (Kind.RememberCommands), also across a reload from a snapshot, so a
// command dispatched again with its id — after a lost reply, a timeout, the
// death of the node that ran it — is answered from the events it caused
// and not applied twice. A ClusterHost retries by itself while the node of
// an aggregate cannot be reached or dies during a command; process
// managers derive their commands' ids from the event or timeout that
// caused them, so a redelivered event causes nothing twice. An error that
// leaves the outcome open (a cut-short append, a node lost with the
// command) is an *OutcomeUnknownError (ErrOutcomeUnknown): dispatch again
// with the same id to settle it.
//
// # Commands
//
// Route binds a command type to a kind and an identity function. Dispatch
// adds metadata (command, correlation and causation ids) that its events
// carry, passes through the middleware (outermost first) and returns the
// events, the version, the global position and, with ReturnState, a copy
// of the state.
//
// # Handlers, projections, process managers
//
// StartHandler runs an event handler on a persistent subscription of $all
// (package eventstore/subscription) with checkpoint "handler:<name>", from
// the origin or from now, in batches, with concurrency partitioned by
// stream (or a key of the handler's choice), an error policy, and
// optionally on one node at a time (a Locker). Events are delivered at
// least once across restarts: a handler is idempotent, or keeps its
// checkpoint with its work (StartBatchHandler with OwnCheckpoints; package
// eventsourcing/pgprojection does this for PostgreSQL).
//
// A Process (StartProcess) routes events to process manager instances,
// dispatches the commands they decide, and keeps each instance's state as a
// snapshot with the position of the last event it applied, so an event
// that comes again after a restart is not handled twice. A ProcessManager
// that is a Timeouter gets OnTimeout once its deadline passes; deadlines
// are kept in the store and armed again when the process starts.
//
// # Time travel
//
// AggregateAt rebuilds an aggregate as it was at any version; Replay feeds
// the events up to any position through a handler, to rebuild a read model
// as it was then.
package eventsourcing

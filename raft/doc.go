// Package raft runs replicated state machines — many Raft groups per node,
// on one shared durable log — as Erlang's ra does: a user's Machine applies
// committed commands, the group answers commands and queries from any
// member, and survives crashes, partitions and membership changes.
//
// It is built on go.etcd.io/raft/v3 (the algorithm, without I/O); the
// package owns the rest: storage, transport, snapshots, quiescence.
//
// # Usage
//
//	reg, _ := codec.NewRegistry(codec.Config{})
//	raft.RegisterTypes(reg) // on every node, before it starts
//	// ... rt, n := node.Start(ctx, rt, node.Config{Codec: reg, ...})
//
//	h, err := raft.Start(n, raft.Config{DataDir: dir})
//	defer h.Close()
//	g, err := h.StartGroup(ctx, raft.GroupConfig{
//		Name:    "accounts",
//		Members: []string{"a@h1", "b@h2", "c@h3"}, // the same on every first member
//		Machine: &ledger{},
//	})
//	res, err := g.Command(ctx, cmd)              // replicated, applied, replied
//	v, err := g.ConsistentQuery(ctx, readBalance) // linearizable read
//
// After a node restart, Host.Groups lists the groups of the log; start each
// again with StartGroup (Members may be empty): it replays its log from the
// last snapshot and rejoins.
//
// # Commands
//
// Command waits until the member it was called on applied the command and
// returns the machine's reply with the index and the leader; a follower
// forwards the proposal to its leader, so any member answers. Pipeline
// proposes without waiting and reports through a callback, with a
// correlation id. Errors tell apart what a caller must:
//
//   - ErrNoLeader, ErrNoQuorum, ErrTimeout (the context ended before the
//     command was proposed), ErrOverloaded, ErrTooLarge: the command was
//     certainly not applied.
//   - ErrUnknownOutcome: it was proposed and may be applied, now or later.
//   - ErrRejected / *RejectedError: raft refused the proposal, or the
//     machine's reply was an error.
//   - *NotLeaderError (ErrNotLeader) with the leader's name as a hint, from
//     operations that only the leader runs.
//
// A host bounds the commands it has accepted and not finished with
// (Config.MaxPendingCommands, MaxPendingBytes): when the leader cannot keep
// up, Command waits for room (its context bounds the wait) and Pipeline
// fails at once with ErrOverloaded, so a flood from many goroutines costs
// bounded memory and the engine keeps answering.
//
// # Queries
//
// LocalQuery reads this member's machine at once: possibly stale.
// LeaderQuery reads the leader's machine without asking the followers: a
// deposed leader that has not noticed yet (at most an election timeout,
// thanks to CheckQuorum) may answer from an old state, so it is not
// linearizable; no clock-based lease is used. ConsistentQuery uses Raft's
// ReadIndex: the leader confirms with a quorum that it still leads, and the
// member answers once it applied up to the leader's commit index —
// linearizable on any member.
//
// # Membership
//
// AddMember adds a node as a learner, waits until it caught up, then
// promotes it to voter, so that an empty member never weakens the quorum;
// AddLearner keeps it a learner; RemoveMember removes; TransferLeadership
// hands leadership over. The new node starts its member with
// GroupConfig.Join and is brought up to date by a snapshot if the log was
// truncated. PreVote and CheckQuorum are always on: a partitioned member
// does not disturb the group when it returns, and a leader cut off from a
// quorum steps down.
//
// # Effects
//
// Apply returns effects — Send a message, Propose a command, monitor a
// process or node (the machine then receives the Command given as a command
// when it goes down), Timers — that run on the leader only, after it
// applied the command. They are at least once, not exactly once: the ones a
// leader had not run when it lost leadership are lost with it, so a machine
// that needs them re-issues them from StateEnter(Leader), and one may then
// run twice.
//
// # Engine
//
// One goroutine per Host drives every group: it steps received messages,
// ticks the groups that are active, sends every group's messages to each
// peer in one node message per round, and applies committed entries. What
// must be persisted goes into one pebble batch shared by every group, which
// a writer goroutine commits with one fsync while the engine goes on (etcd
// raft's asynchronous storage writes); what may only leave once it is
// durable — a follower's acknowledgement, a vote — leaves when its batch is
// on disk. While one batch is written the next collects every round's
// appends, so under load the fsyncs follow each other back to back and
// each carries the entries of many proposals and groups: the batching
// adapts to the load.
// Messages travel to the peer's "grove.raft" process over the existing node
// link; snapshots travel in chunks (Config.SnapshotChunkBytes) to
// "grove.raft.snapshot", a lane of their own, so a large snapshot does not
// hold up heartbeats.
//
// A group whose leader has seen everything committed, applied and
// acknowledged by every member for Config.QuiesceTicks ticks quiesces: the
// leader tells its followers and all stop ticking, so an idle group costs
// no CPU and no network. Any command, query or message wakes it; a node
// link going down or up wakes the groups that have a member there, so a
// dead leader is replaced as usual.
//
// # Durability
//
// A command is acknowledged only after its entry is in the log of a
// quorum, fsynced. A kill -9 at any moment therefore loses no acknowledged
// command. When the log cannot be written (fsync fails, disk full) the host
// stops every group: the commands in flight end with ErrUnknownOutcome
// wrapping ErrStorage, nothing unwritten is ever acknowledged, and every
// later operation fails with ErrStorage until the host is restarted.
//
// The machine's state lives in memory and is rebuilt on restart from the
// last snapshot and the log after it. Every Config.SnapshotEntries applied
// entries the machine is snapshotted and the log before it dropped.
//
// # Limits
//
// Apply, Snapshot and Restore run on the engine goroutine: a slow machine
// slows every group of the node. Snapshots are held in memory whole. A
// node name hashes to its Raft id (FNV-64), and one node holds at most one
// member of a group.
package raft

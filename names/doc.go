// Package names is Grove's cluster-wide process registry, the eventually
// consistent flavour: Erlang's global and Horde.Registry, without a
// cluster-wide lock and with conflicts settled the same way on every node.
//
// Every node of a cluster runs a Registry of the same name. A process
// registers a key on its own node; the registration is acknowledged
// locally at once (no network round trip, no lock taken elsewhere) and sent
// to every connected node immediately, so that it is visible everywhere
// within a network hop (links are ordered and reliable while they are up).
// What a node could not take is sent again: to a member whose registry was
// not running yet, within one sync interval of its first message;
// otherwise by the first round, with the link up, at least five rounds
// after the unacknowledged send. Lookups read local memory: no network, no
// mailbox.
// Entries are usable as destinations through Via, so
//
//	proc.Call[string](ctx, rt, reg.Via("session:42"), "hello")
//
// works from any node, as with a PID.
//
// # Usage
//
//	reg, err := names.New(clu, names.Config{}) // on every node; names.RegisterTypes(codec) first
//	if err != nil { ... }
//	defer reg.Close()
//
//	pid, _ := rt.Spawn(&session{})
//	if err := reg.Register(pid, "session:42", nil); err != nil { ... }
//
//	// On any node:
//	reply, err := proc.Call[string](ctx, rt, reg.Via("session:42"), "hello")
//	pid, ok := reg.WhereIs("session:42")
//
// A Duplicate registry collects many processes per key (groups, topics):
// Lookup and Dispatch return them all, from every node.
//
// # How it works
//
// Each node owns the entries of its own processes and is their only
// writer: it watches them, and removes their entries when they exit. The
// nodes exchange, per origin node incarnation, numbered deltas of those
// entries (with the receiver's digest of what it has as acknowledgement),
// fall back to a full state when a peer is too far behind, and relay the
// entries of a node to peers that cannot hear it directly. This is not a
// general CRDT map (such as Horde's delta-CRDT, where any node may write
// any key and concurrent writes interleave): with a single writer per
// entry there is nothing to merge, deletions need no tombstones beyond
// the acknowledgement round, and a dead node's entries are dropped whole
// by membership rather than by remote deletes that race with the node's
// own writes.
//
// # Guarantees
//
//   - Register, Unregister and lookups are local and never wait on the
//     network. A registration is sent to every connected member at once;
//     Sync waits until all have acknowledged it.
//   - A process's entries vanish cluster-wide when it exits (its node sends
//     the removal), and a node's entries vanish on every node when its
//     membership declares it dead or departed, or when it restarts under
//     the same name (a new incarnation drops the old one's entries).
//   - A node that joins is complete (Complete, WaitComplete) only once
//     every live member has sent it its entries. Until then a lookup that
//     misses reports ErrIncomplete (through Resolve, and through Via's
//     error), never a false "not registered".
//   - Unique keys: two processes on nodes that could not see each other
//     may register one key. Every node orders the contenders by the
//     Resolver's Less — by default Order: the oldest claim wins, ties to
//     the lower node name — so every node that sees the same contenders
//     shows the same winner, and the first of all never loses: exactly one
//     contender keeps the name. The loser's node applies the Resolver's
//     verdict once the winner's node has acknowledged the loser: by
//     default (StopLoser) the loser exits with a *ConflictError naming the
//     key and the winner. KeepBoth and UnregisterBoth are the other
//     built-in resolvers.
//
// # Consistency
//
// The registry is eventually consistent, as Horde's and Phoenix's are:
// during a partition each side registers freely, and two nodes can
// briefly show different holders of a key (one of them has not yet seen
// the other's entry). What is promised is convergence: once the members
// can talk and membership agrees, every node shows the same entries and
// every unique key the same single live holder. A process whose node was
// declared dead while it was only cut off comes back with the node, and
// its names with it (settling any conflict). For names that must never
// have two holders, even during a partition, use the strongly consistent
// registry built on Raft.
//
// # Limits
//
// Keys are strings of at most MaxKeyLen bytes; values are encoded with the
// node's codec (their types registered on every node) up to 1 MiB. Only
// local processes can be registered. Entries of a dead node are kept out
// of sight for Config.DownRetention, then forgotten.
package names

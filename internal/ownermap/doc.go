// Package ownermap is the replication engine under Grove's cluster
// registry and distributed supervisor: a map of string keys to processes,
// kept on every node of a cluster, in which each node is the only writer
// of its own entries (those of its processes).
//
// # Model
//
// An origin is one incarnation of a node (its name and runtime creation).
// Each origin numbers its changes (put, update, remove) with a sequence
// number; an entry carries the number of its last change, a removal
// leaves a tombstone with its number. Peers exchange sync messages, node
// to node, carrying the sender's digest (for every origin it keeps, the
// sequence number up to which it has every change: its acknowledgement)
// and deltas: the changes of an origin after what the peer acknowledged,
// or the origin's full state when the tombstones needed are gone (they are
// dropped once every live member acknowledged them). A local change is
// sent to every connected peer at once; a round every Interval sends what
// was not acknowledged, relays the entries of an origin to a peer whose
// reports show it stuck behind (a node it cannot reach directly), and
// sends idle digests.
//
// Visibility follows membership: the entries of an origin are in the view
// while the membership holds its node alive or suspect and the origin is
// the newest incarnation known of that node. Entries of a dead, departed
// or restarted node leave the view at once (ReasonNodeDown) but are kept,
// as orphans, for DownRetention: they are what a failover restarts, and
// they come back if the node does (a partition that healed). A node is
// complete when every live member has sent it its own entries.
//
// In a unique map a key held by entries of several origins is a conflict:
// every node orders the contenders with Config.Less (a strict total order
// computed from the entries: by default the oldest claim first) and shows
// the first. The node of a losing entry is told once the winner's node
// has acknowledged the loser (or after ConflictTicks rounds): at that
// moment both nodes have seen both entries, so a verdict that removes the
// winner too cannot be undone by the race of the two removals.
//
// The deterministic core (core.go) holds all of this as data and step
// functions with time passed in; Map wraps it with a process that receives
// sync messages and runs the rounds, a sharded read-only view for lookups,
// and a goroutine that runs the hooks.
package ownermap

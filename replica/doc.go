// Package replica keeps a named CRDT replicated on a set of nodes by
// delta-state anti-entropy (Almeida, Shoker and Baquero, "Delta State
// Replicated Data Types", 2018).
//
// A Replica holds one crdt.State under a name on one node. Writes apply a
// delta mutator to the local state and return at once: they never wait for
// another node. Reads take a read lock on the current state and never wait
// on a mailbox or the network. Every Config.Interval the replica ships to
// each peer the deltas that peer has not acknowledged, joined into one delta
// group per origin, and learns from each peer's digest what it has.
//
// # Digests and repair
//
// Every delta carries its origin (the replica incarnation that wrote it) and
// a sequence number of that origin. A replica's digest is, for each origin,
// the highest sequence number up to which it has applied every delta. Each
// sync message carries the sender's digest, which doubles as its
// acknowledgement. A replica keeps the deltas it wrote or received in a
// bounded log and ships a peer exactly the ranges its digest says are
// missing. Received deltas are relayed to a peer that stays behind on them
// for Config.RelayTicks rounds (one replica first, then the others in turn),
// so a node reachable only through a third one still converges, while in a
// healthy full mesh each delta travels once from its origin to each peer. A peer that missed messages (loss) is repaired
// by retransmission after Config.RetransmitTicks; a peer that was partitioned
// is repaired when digests flow again after the heal. When the missing part
// is no longer in the log (the log is bounded by Config.MaxLogBytes, and
// entries every known peer acknowledged are dropped), the full state is sent
// instead. So little change means little traffic: an idle replica sends only
// a small digest every Config.DigestTicks intervals.
//
// WaitAcked blocks (under a context) until every member has acknowledged
// what this replica had, for callers that want to know a write has spread.
//
// Sync messages carry at most Config.MaxMessageBytes of deltas; the rest go
// in later rounds. A full state is sent in one message whatever its size.
// Stats counts the messages and bytes sent, split into deltas and full
// states, which is how the cost of a repair can be compared with a full-state
// transfer.
//
// # Identity
//
// Each Replica picks a fresh incarnation id at New (the node name, '#', and a
// random number): deltas and CRDT writes of a restarted node never reuse the
// dots or counter entries of its earlier life, whose state it lost, or,
// when persistent, whose last writes a crash may have kept from the store.
// Typed wrappers write with this id; callers of Update use ID.
//
// # Persistence
//
// With Config.DataDir set, a replica keeps its state in a pebble database
// of its own, DataDir/<name> (one database per replica, not shared; pebble
// locks it, so two replicas cannot open the same one). It stores one record,
// replaced at each write: the CRDT state (its MarshalBinary), the digest
// that describes it, the state's Go type and the id of the incarnation that
// wrote it, with a CRC-32C. New reads it back: the stored state is joined
// into the initial one and the digest restored, under a fresh incarnation
// id, and peers repair what the record lacks as for any replica behind
// them (from their logs, or by a full state). A store that cannot be
// opened or read, a record that does not decode, or a state of another type
// make New fail with an error wrapping ErrStore.
//
// The record is written in a pebble batch committed with Sync, at most once
// per Config.Interval (at the end of a sync round, when the state changed)
// and by Close. The guarantee is therefore: after a crash (process killed,
// machine down) a restarted replica has every change, local or received,
// that it had applied before its last completed store write — at most the
// changes of the last Interval (plus the time of the write itself) are
// missing, plus, if a write failed (logged
// as a warning and retried the next interval), those since the last one
// that succeeded. A change missing locally is not lost if a peer received
// it: the restarted replica gets it back by digest repair. Only a local
// write that no peer had received and no store write covered is lost. With
// Config.SyncEveryWrite, Update returns nil only after the state including
// the change is synced, so an acknowledged local write is never lost;
// received changes are still written once per Interval. Close writes a last
// time, so a replica whose Close returned nil loses nothing.
//
// Each write stores the whole state, so its cost grows with the state's
// size: with large states, keep Interval long enough for that, and avoid
// SyncEveryWrite for frequent writes.
//
// # Members
//
// The replica is kept on the nodes a Members implementation names, all
// connected nodes by default (NodeMembers). A node that leaves the member set
// keeps its place in the log's bookkeeping for Config.ForgetAfter, so that a
// partitioned node is repaired from the log on its return rather than by a
// full state.
//
// # Events
//
// Subscribers receive change events, in order, on one goroutine of the
// replica: Added, Updated and Removed keys for Map, Added and Removed
// elements for Set, Changed for every other type. Events are computed only
// while somebody is subscribed.
//
// # Transport
//
// Sync messages travel as node casts to a function the replica registers
// under "grove.replica/" + name; one replica of a name per node. Their type
// must be registered in the codec of every node with RegisterTypes before
// the node starts talking. CRDT states travel as the bytes of their
// MarshalBinary. The replica sends only to members its node is connected
// to: it never dials from its sync loop.
//
// # Limits
//
// Without Config.DataDir a restarted node starts from the initial state and
// catches up from its peers; its writes that no peer had received are lost.
// The store holds the whole state, written whole (there is no incremental
// log of deltas), and not the delta log, so peers behind a restarted node
// on its earlier deltas get a full state. Metadata of the CRDTs is not garbage-collected by causal
// stability yet (State.GC is never called), and a full state is sent in one
// message whatever its size.
//
// # Usage
//
//	reg, _ := codec.NewRegistry(codec.Config{})
//	replica.RegisterTypes(reg) // on every node, before it starts
//	// ... start rt and n := node.Start(ctx, rt, node.Config{Codec: reg, ...})
//
//	cart, err := replica.NewMap[string, int](n, "cart", replica.Config{})
//	if err != nil { ... }
//	defer cart.Close()
//	cart.Set("apples", 3)      // local, acknowledged at once
//	v, ok := cart.Get("apples") // never waits
//	cancel := cart.Subscribe(func(e replica.Event) { log.Println(e) })
//	defer cancel()
//
// To keep the cart across restarts, give it a directory (the node's data
// dir, say); it is restored from there by the next NewMap:
//
//	cart, err := replica.NewMap[string, int](n, "cart", replica.Config{DataDir: dataDir})
//
// Any CRDT can be replicated with New and Update:
//
//	r, err := replica.New(n, "flags", crdt.NewEWFlag(), replica.Config{})
//	err = r.Update(func(s crdt.State) crdt.State {
//		return s.(*crdt.EWFlag).Enable(r.ID())
//	})
//	r.Read(func(s crdt.State) { on = s.(*crdt.EWFlag).Value() })
package replica

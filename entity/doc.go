// Package entity runs keyed processes — Akka's sharded entities, Orleans'
// grains, a per-session or per-device process — without managing their
// lifecycle: Entity(key) addresses the one process of a key, started on
// its node by the first message, stopped (passivated) after an idle
// timeout, started again by the next message.
//
// # Usage
//
//	// On every node (entity.RegisterTypes(codec) first):
//	sessions, err := entity.Start(clu, entity.Config{
//		Kind:        "session",
//		New:         func(key string) (proc.Behavior, error) { return &session{id: key}, nil },
//		IdleTimeout: 10 * time.Minute,
//	})
//
//	// From any node:
//	s := sessions.Entity("user:42")
//	err = s.Cast(Login{At: now})
//	n, err := entity.Call[int](ctx, s, Unread{})
//
// # How messages travel
//
// A key's node is a pure function of the key and the members that run the
// kind (Config.Placement over them; rendezvous hashing by default, so a
// member joining or leaving moves only the keys it takes or had). Each
// node runs Config.Shards shard processes per kind; a message goes to the
// shard of its key on the key's node, which starts the key's entity if it
// is not running and hands the message on. Messages from one sender to one
// key keep their order. A node that receives a message for a key it does
// not own (the sender's view of the members was older or newer) forwards
// it, at most MaxHops times, then takes it.
//
// # Passivation and moves
//
// An entity that handled nothing for IdleTimeout (checked every
// IdleTimeout, so it stops after one to two timeouts) asks its shard to
// stop it; the shard holds what arrives for the key from then on, and
// once the entity has handled what was already queued and stopped, starts
// a new incarnation for the held messages. When the members change, each
// shard stops the entities of keys it no longer owns the same way and
// sends what it held to their new node. Nothing sent is lost in either
// case; state lives in the entity and goes with it, so an entity that must
// survive passivation, moves and crashes keeps its state elsewhere
// (a replica, an event store) and loads it in Init, as with Akka.
//
// # Consistency
//
// Entities of a key are unique per view of the members: while two nodes
// disagree on the members (for the moment a membership change takes to
// spread, or during a partition, each side routing to its own members),
// two nodes may each run an entity of one key; once they agree, the one
// that no longer owns the key stops it. Keys that must never run twice,
// even then, belong in the distributed supervisor in quorum mode.
package entity

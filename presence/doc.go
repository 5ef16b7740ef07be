// Package presence tracks which processes are present on which topics
// across a Grove cluster, the Go form of Phoenix.Tracker and
// Phoenix.Presence: a chat room's members, a document's editors, a game's
// players, with metadata (a status, a cursor) and join and leave diffs
// delivered to the topic's subscribers.
//
// A Tracker runs on each node under one name (Config.Name). Each node is
// the authority for the presences of its own processes: Track, Update and
// Untrack change them locally and the node tells the others. A presence
// belongs to its process and leaves when the process exits.
//
// # Usage
//
//	ps, _ := pubsub.Start(nd, pubsub.Config{})
//	tr, err := presence.Start(nd, ps, presence.Config{}) // on every node
//	defer tr.Close()
//
//	tr.Track(pid, "room:lobby", "ann", Status{Away: false})
//	tr.Update(pid, "room:lobby", "ann", Status{Away: true})
//	everyone := tr.List("room:lobby")   // every node's, as known here
//	n := tr.Count("room:lobby")
//
//	// A process subscribes to the topic and receives *pubsub.Message with a
//	// presence.Diff payload, starting from the list returned.
//	sub, current, err := tr.Subscribe(self, "room:lobby")
//
// Metadata values travel through the node's codec: register their types
// on every node.
//
// # Reads
//
// List, Range, Get, Count, CountKeys and Topics take no lock: each topic's
// presences are immutable — a hash array mapped trie by key, for Get, and a
// vector of contiguous chunks, for List and Range — that writers replace
// atomically, sharing all but the changed path. A reader works on the
// version current when it started, so listing 100,000 presences never
// waits for, nor delays, the tracks and updates going on meanwhile, and
// costs about what copying a slice of 100,000 presences does; no server
// process stands between readers and the data (Phoenix serialises list and
// track through one GenServer per shard). Writes on a node take one lock
// and never wait on the network.
//
// # Replication
//
// Each node numbers its changes and its server sends what accumulated as
// one message to each other node; every Config.HeartbeatInterval it also
// says how far its changes go, so that a node that lost some (a message
// refused by a full mailbox) notices and asks for a full report. When two
// nodes find each other (at start, after a partition heals, after a
// restart) each sends the other a full report of its presences, which
// replaces what the other knew of it; the diff between the two is what
// subscribers receive.
//
// When the link to a node goes down (the node crashed or was killed, a
// partition cut it off, or membership declared it dead and disconnected
// it), its presences are removed at once, and subscribers receive their
// leaves. They come back with the full report after the link does. A node
// that restarts under the same name is a new incarnation: everything of
// the old one is dropped the moment the new one is seen, so a restart never
// leaves zombie presences behind (Phoenix #2306). Nothing is kept of a
// node that is gone, so departed replicas cost no memory: there is no
// permdown period to wait for.
//
// So after any partition heals, every node lists exactly the presences of
// the live processes of the nodes it reaches, and a subscriber that applies
// the diffs it received to the list Subscribe returned holds that same
// list. A subscriber that falls behind its buffer learns it from
// Message.Dropped (see package pubsub) and should List again.
//
// # Diffs
//
// Diffs are delivered through a PubSub on the topic itself, with
// LocalBroadcast on each node: every node computes its own from what it
// learns, so subscribers anywhere see every change, in the order the node
// applied them. A change touches one Diff per topic; Apply makes many
// changes at once, with one Diff per topic.
package presence

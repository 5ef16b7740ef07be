// Package pg is process groups across a Grove cluster, the Go form of
// Erlang's pg module: processes join named groups in a scope, and any node
// lists a group's members cluster-wide or locally, or monitors a group or
// the whole scope for joins and leaves.
//
// A Scope runs on each node under one name (Config.Name, default
// "grove.pg"); scopes of the same name on different nodes share their
// groups. Each node is the authority for its own processes: it keeps their
// memberships and tells the other nodes of every change. A member leaves
// when it calls Leave, when it exits, and, as seen from the other nodes,
// when its node's link goes down (the node crashed, was declared dead, or
// was cut off): its members vanish there at once, with leave events, and
// come back with join events when the link is up again.
//
// # Usage
//
//	scope, err := pg.Start(nd, pg.Config{}) // on every node
//	defer scope.Close()
//
//	scope.Join("workers", pid)              // local processes only
//	members := scope.Members("workers")     // every node's, as known here
//	local := scope.LocalMembers("workers")
//	scope.Leave("workers", pid)
//
//	// Process monitors receive pg.Event in HandleInfo.
//	ref, current, err := scope.Monitor(self, "workers")
//
//	// Functions can watch too.
//	current, cancel, err := scope.Watch("workers", func(e pg.Event) {
//		log.Println(e.Kind, e.Group, e.PIDs)
//	})
//
// # Joins in bulk
//
// Changes travel in batches: a node numbers its changes and its server
// sends what accumulated since its last send as one message to each other
// node, so 10,000 processes joining one after another become visible
// elsewhere in a handful of messages, not one round trip each (Erlang's pg
// sends one message per join and per node). Join with many processes is a
// single change.
//
// # Consistency
//
// Each node sees its own changes at once and the others' in the order they
// made them. When two nodes find each other (at start, and whenever their
// link comes back), each sends the other a full report of its members,
// which replaces what the other knew of it; the changes that follow are
// applied on top of it. A node that finds a gap in another's numbered
// changes (a message refused by a full mailbox) asks for a full report
// again.
//
// Anti-entropy repairs what no later message would reveal: every
// Config.AntiEntropyInterval each node sends every other a digest of its
// members — the number of its last change and a sum of a hash over its
// memberships, kept up to date with each change, a few bytes whatever the
// number of members — on the lane of its changes, after them. A node whose
// copy of the sender's members is behind that number, or at that number
// with another sum, or that never got the sender's full report, asks for a
// full report (Stats.Resyncs). So a lost report, or a lost last change,
// is repaired within an interval or two, not only when the nodes meet
// again. So after any partition heals, every node lists exactly the members
// of the processes alive on the nodes it can reach, and a monitor's events,
// applied to the members Monitor returned, give the members it lists.
// Members of a node this one cannot reach are not listed: there is no
// quorum and no global order, as in Erlang's pg.
//
// A node restarted under the same name is a new incarnation: its earlier
// processes are gone, and their memberships with them.
//
// # Monitors
//
// Monitor and MonitorScope send Event values (Joined or Left, with the
// processes; a process joined twice appears twice) to a local process, in
// order, until Demonitor or the process's exit; Watch and WatchScope call a
// function instead, on a goroutine of their own, one event at a time. The
// members returned with a monitor are those at the moment it began, so the
// events that follow are exactly the changes since.
package pg

package names

import "github.com/grovedev/grove/internal/ownermap"

// Resolver settles the conflicts of a unique registry: the same key
// registered by processes of two nodes that could not see each other
// (during a partition, or within one sync interval). Every node orders the
// contenders with Less and shows the first; the node of each contender
// then applies Settle's Action to its own contender.
//
// Less must be a strict total order over distinct entries, computed from
// the entries alone, the same on every node: then every node that sees the
// same contenders picks the same winner, and the first of all contenders
// never loses, so a Resolver whose Settle keeps the winner always leaves
// exactly one. Settle is called on the winner's node when it first sees a
// loser, and on a loser's node once the winner's node has acknowledged the
// loser (or after a bounded wait if it never does), so both ends of a
// conflict act on it. Both may be called from any goroutine, but never
// concurrently for one registry.
type Resolver interface {
	Less(a, b Entry) bool
	Settle(c Conflict) Action
}

// Action is what happens to a local contender of a conflict.
type Action int

// Actions.
const (
	// Keep keeps the entry and says nothing.
	Keep Action = iota
	// Notify keeps the entry and sends the process the Conflict.
	Notify
	// Unregister removes the entry (the process lives on) and sends the
	// process the Conflict.
	Unregister
	// Stop removes the entry and ends the process with an exit signal
	// whose reason is a *ConflictError. A process trapping exits receives
	// it as a proc.Exit message instead; its entry is removed either way.
	Stop
)

func (a Action) String() string {
	switch a {
	case Keep:
		return "keep"
	case Notify:
		return "notify"
	case Unregister:
		return "unregister"
	case Stop:
		return "stop"
	}
	return "unknown"
}

// Conflict describes a conflict to a Resolver and, with Notify and
// Unregister, to the processes involved (as a message they receive in
// HandleInfo).
type Conflict struct {
	Key    string
	Winner Entry
	Loser  Entry
	// Won tells whether the contender of the node at hand is the winner.
	Won bool
}

// Order is the default order of contenders: the oldest claim wins. A
// claim is the registration of the entry (stamped with the hybrid logical
// clock of its node) or, for a process handed off by the distributed
// supervisor, that of the entry it replaces; ties (equal stamps) go to the
// lower node name, node incarnation and registration serial. So a process
// that held a name before a partition keeps it over one that took the name
// on the other side during the partition.
func Order(a, b Entry) bool { return ownermap.Less(a.internal(), b.internal()) }

// StopLoser is the default Resolver: the winner keeps the name, the loser
// is stopped with a *ConflictError, as Erlang's global and Horde do.
type StopLoser struct{}

// Less is Order.
func (StopLoser) Less(a, b Entry) bool { return Order(a, b) }

// Settle stops the loser.
func (StopLoser) Settle(c Conflict) Action {
	if c.Won {
		return Keep
	}
	return Stop
}

// KeepBoth keeps both processes running: the winner keeps the name, the
// loser loses only the name, and both are told.
type KeepBoth struct{}

// Less is Order.
func (KeepBoth) Less(a, b Entry) bool { return Order(a, b) }

// Settle unregisters the loser and notifies both.
func (KeepBoth) Settle(c Conflict) Action {
	if c.Won {
		return Notify
	}
	return Unregister
}

// UnregisterBoth removes both entries and tells both processes: nobody
// holds the name until one registers it again.
type UnregisterBoth struct{}

// Less is Order.
func (UnregisterBoth) Less(a, b Entry) bool { return Order(a, b) }

// Settle unregisters the contender.
func (UnregisterBoth) Settle(Conflict) Action { return Unregister }

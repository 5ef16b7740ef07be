package cluster

import "time"

// State is a member's state as this node sees it.
type State uint8

// Member states. A member is Alive while the membership protocol holds it
// alive and this node can reach it over its Grove link; Suspect while the
// protocol still holds it alive but the link to it is down (lost, or never
// established because connecting failed); Dead once the protocol declared
// it failed; Left once it announced a graceful departure.
const (
	StateAlive State = iota
	StateSuspect
	StateDead
	StateLeft
)

// String returns "alive", "suspect", "dead" or "left".
func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return "unknown"
}

// Member is one node of the cluster as this node sees it.
type Member struct {
	// Name is the member's node name, "name@host".
	Name string
	// Addr is the address its Grove node listens on (node.Node.Addr).
	Addr string
	// GossipAddr is the "ip:port" its membership traffic uses.
	GossipAddr string
	// Meta is what the member says about itself.
	Meta Meta
	// State is the member's state.
	State State
	// Creation is the incarnation of the member's node runtime, as in its
	// PIDs (proc.Runtime.Creation): a restarted node has a new one.
	Creation uint64
	// Incarnation orders the member's descriptions of itself: it starts at
	// the wall clock in nanoseconds when the member starts (at least
	// Creation) and every UpdateMeta raises it to max(previous+1, wall
	// clock), so a later description, of the same life or of a restart,
	// has a higher one (as long as the wall clock does not step back by
	// more than the time between the two).
	Incarnation uint64
	// Since is when this node last saw State change.
	Since time.Time
	// Local is true for the member that is this node.
	Local bool
}

// EventKind says what happened to a member.
type EventKind uint8

// Kinds of member events.
const (
	// EventJoined: a member appeared, came back after it was dead or
	// left, or restarted (its Creation is higher than before).
	EventJoined EventKind = iota + 1
	// EventUpdated: a member changed its metadata (a higher Incarnation),
	// or became reachable again after it was suspected.
	EventUpdated
	// EventSuspected: a member alive for the membership protocol cannot
	// be reached over its Grove link.
	EventSuspected
	// EventFailed: the membership protocol declared a member dead.
	EventFailed
	// EventLeft: a member left gracefully (Leave), also when it was
	// reported failed a moment before its announcement arrived.
	EventLeft
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventJoined:
		return "joined"
	case EventUpdated:
		return "updated"
	case EventSuspected:
		return "suspected"
	case EventFailed:
		return "failed"
	case EventLeft:
		return "left"
	}
	return "unknown"
}

// Event tells a subscriber what happened to a member; Member is the
// member's state right after the change.
type Event struct {
	Kind   EventKind
	Member Member
}

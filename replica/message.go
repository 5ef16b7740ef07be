package replica

import (
	"github.com/grovedev/grove/codec"
)

// syncTypeName is the codec name of a sync message.
const syncTypeName = "grove.replica.Sync"

// funcPrefix is the prefix of the node function a replica receives on.
const funcPrefix = "grove.replica/"

// syncMsg is what replicas send each other: the sender's digest (which is
// also its acknowledgement of everything it covers), and either delta groups
// the receiver is missing or the sender's full state.
type syncMsg struct {
	_ struct{} `cbor:",toarray"`
	// From is the sending node's name.
	From string
	// Origin is the sending replica's incarnation id.
	Origin string
	// Digest is, per origin, the sequence number up to which the sender
	// has applied every delta. When Full is set, it describes Full.
	Digest map[string]uint64
	// Groups are joined deltas of one origin each.
	Groups []group
	// Full is the sender's whole state, MarshalBinary-encoded, or nil.
	Full []byte
	// Hello asks the receiver for its digest at its next round: the
	// sender does not know it (it is new, restarted, or forgot the
	// receiver).
	Hello bool
}

// group is the join of the deltas From+1 .. To of one origin.
type group struct {
	_      struct{} `cbor:",toarray"`
	Origin string
	From   uint64
	To     uint64
	Data   []byte
}

// RegisterTypes registers the message types replicas send in r. Call it
// on the codec of every node that holds a replica, before the node starts.
func RegisterTypes(r *codec.Registry) error {
	return codec.Register[syncMsg](r, syncTypeName)
}

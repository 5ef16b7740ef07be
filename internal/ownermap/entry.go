package ownermap

import (
	"cmp"
	"strconv"

	"github.com/grovedev/grove/hlc"
	"github.com/grovedev/grove/proc"
)

// Origin is one incarnation of a node: the only writer of its own entries.
type Origin struct {
	Node     string
	Creation uint64 // the node runtime's creation, as in its PIDs
}

func (o Origin) String() string { return o.Node + "#" + strconv.FormatUint(o.Creation, 10) }

// Ref names one entry cluster-wide: its origin and its serial there.
type Ref struct {
	Origin
	ID uint64 // from 1, never reused by the origin
}

// IsZero reports whether r names no entry.
func (r Ref) IsZero() bool { return r.ID == 0 }

func (r Ref) String() string { return r.Origin.String() + "/" + strconv.FormatUint(r.ID, 10) }

func compareRef(a, b Ref) int {
	if c := cmp.Compare(a.Node, b.Node); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Creation, b.Creation); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// Claim is what conflicts are settled on: when an entry was first claimed
// and by which entry. A handed-off entry inherits the claim of the entry it
// replaces, with Gen one higher, so a handoff never loses a conflict its
// predecessor would have won.
type Claim struct {
	Stamp hlc.Timestamp // when the first entry of the chain was registered
	First Ref           // that first entry
	Gen   uint64        // 0 for a fresh registration, +1 per handoff
}

// Entry is one registration: a key held by a process, with a value, owned
// by the node that hosts the process.
type Entry struct {
	Key   string
	PID   proc.PID
	Value any
	Ref   Ref   // identity of this entry
	Claim Claim // rank in conflicts
	// Supersedes is the entry this one replaces after a handoff, if any.
	Supersedes Ref
}

// Less is the default conflict order: a beats b when its claim is older
// (earlier HLC stamp, then lower first Ref), then when it is a later
// generation of the same claim (a handoff beats the entry it replaces),
// then by Ref. It is a strict total order over distinct entries, so every
// node that sees the same contenders picks the same winner.
func Less(a, b Entry) bool { return compareEntries(a, b) < 0 }

func compareEntries(a, b Entry) int {
	if c := a.Claim.Stamp.Compare(b.Claim.Stamp); c != 0 {
		return c
	}
	if c := compareRef(a.Claim.First, b.Claim.First); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Claim.Gen, a.Claim.Gen); c != 0 { // higher generation first
		return c
	}
	return compareRef(a.Ref, b.Ref)
}

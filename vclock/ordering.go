package vclock

// Ordering is the causal relation between two clocks.
type Ordering int

// The four possible relations between two vector clocks, from the point of
// view of the receiver of Compare.
const (
	// Equal means both clocks have seen the same events.
	Equal Ordering = iota
	// Before means the receiver happened before the argument: the argument
	// has seen everything the receiver has, and more.
	Before
	// After means the receiver happened after the argument.
	After
	// Concurrent means each clock has seen an event the other has not.
	Concurrent
)

// String returns the name of o.
func (o Ordering) String() string {
	switch o {
	case Equal:
		return "Equal"
	case Before:
		return "Before"
	case After:
		return "After"
	case Concurrent:
		return "Concurrent"
	default:
		return "Ordering(?)"
	}
}

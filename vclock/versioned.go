package vclock

// Versioned is a value together with the vector clock of the update that
// produced it.
type Versioned[T any] struct {
	Value T
	Clock Clock
}

// ResolveConcurrent returns the version that supersedes the other when one
// clock dominates (a when the clocks are equal). When the versions are
// concurrent it returns merge(a.Value, b.Value) with the merged clock of
// both, so that the result supersedes each of them. merge must be
// deterministic and should be commutative, so that replicas resolving the
// same conflict in either order agree. The result's clock is never shared
// with a or b.
func ResolveConcurrent[T any](a, b Versioned[T], merge func(x, y T) T) Versioned[T] {
	switch a.Clock.Compare(b.Clock) {
	case Equal, After:
		return Versioned[T]{Value: a.Value, Clock: a.Clock.Copy()}
	case Before:
		return Versioned[T]{Value: b.Value, Clock: b.Clock.Copy()}
	default:
		c := a.Clock.Copy()
		c.Merge(b.Clock)
		return Versioned[T]{Value: merge(a.Value, b.Value), Clock: c}
	}
}

package discovery

import "context"

// Strategy finds candidate peers of this node's cluster.
//
// Discover asks the strategy's source (a seed list, DNS, the Kubernetes API,
// or a user's own) which peers exist right now. It returns the peers found;
// an empty answer means "found nothing this time", never "every known peer
// is gone": callers such as Poller only ever add peers from an answer.
// Discover may return some peers together with a non-nil error when only part
// of the source answered (one DNS record type failed, one page of a list
// failed); callers keep the peers and count the error.
//
// Concurrency: Discover may be called from several goroutines at once, and
// implementations must be safe for that. Discover must return promptly once
// ctx is done, with an error wrapping ctx.Err(). It must not retain the
// returned slice; callers may modify it.
//
// Implementations that hold resources may also implement io.Closer; Poller
// does not close the strategy it runs, its creator does.
type Strategy interface {
	Discover(ctx context.Context) ([]Peer, error)
}

// StrategyFunc adapts a function to the Strategy interface, for users' own
// sources of peers. The function must honour Strategy's contract, including
// safety for concurrent calls.
type StrategyFunc func(ctx context.Context) ([]Peer, error)

var _ Strategy = StrategyFunc(nil)

// Discover calls f.
func (f StrategyFunc) Discover(ctx context.Context) ([]Peer, error) { return f(ctx) }

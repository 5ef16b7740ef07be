// Package resilience keeps calls to other nodes from making a bad day
// worse: circuit breakers per remote node that fail fast instead of
// waiting on a node that keeps failing, retries with exponential backoff
// and full jitter for idempotent operations, and bulk variants of RPC and
// call that run many requests against many nodes within concurrency bounds
// and return one result per request.
//
// It works over the public APIs of package node and package proc. Its
// decisions — a breaker's state machine, the waits between retries, which
// bulk request starts next — are pure functions of their inputs and of the
// time they are given, tested on a manual clock (clock/clocktest).
//
// # Usage
//
// A breaker per remote node, in front of calls and RPCs:
//
//	nb, err := resilience.NewNodeBreakers(n, resilience.NodeBreakersConfig{
//		Breaker: resilience.BreakerConfig{ConsecutiveFailures: 5, OpenTimeout: 5 * time.Second},
//	})
//	v, err := resilience.RPC[int](ctx, nb, "db@10.0.0.6", "count", nil)
//	if errors.Is(err, resilience.ErrOpen) {
//		// db@10.0.0.6 failed too often lately: not even tried
//	}
//	s, err := resilience.Call[State](ctx, nb, proc.NodeName{Node: "db@10.0.0.6", Name: "store"}, Get{})
//	stats := nb.Stats() // state and counters of every node's breaker
//
// Retries of an idempotent operation:
//
//	v, err := resilience.RetryValue(ctx, resilience.RetryPolicy{MaxAttempts: 5, Initial: 50 * time.Millisecond},
//		func(ctx context.Context) (any, error) { return n.RPC(ctx, "db@10.0.0.6", "get", key) })
//
// Many RPCs at once, at most 32 in flight and 4 per node, each behind its
// node's breaker:
//
//	results, err := resilience.BulkRPC(ctx, n, reqs, resilience.BulkConfig{Concurrency: 32, PerNode: 4, Breakers: nb})
//
// # Circuit breakers
//
// A Breaker is closed while calls succeed. It opens after
// ConsecutiveFailures failures in a row, or when at least FailureRate of
// the calls of the last Window failed (once the window holds MinRequests
// calls). Open, it refuses every call at once with an error wrapping
// ErrOpen. After OpenTimeout it is half-open: it lets HalfOpenCalls trial
// calls through at a time (refusing the others); that many successes close
// it, one failure opens it again — for longer each time with
// MaxOpenTimeout, as Akka's exponential backoff. A trial call that does
// not report within OpenTimeout counts as failed, and Do frees the trial
// slot of a function that panics, so no lost outcome keeps a breaker
// half-open. NodeBreakers.Collector exports every breaker to Prometheus. A Classifier tells what counts as a
// failure: for node breakers (NodeClassifier), only what says the node is
// unreachable or overloaded — a function that failed or a process that
// exited shows a node that answered. The outcome of a call let through
// before the breaker last changed state does not count. A breaker starts
// no goroutine and sets no timer: it reads its clock when asked.
//
// # Retries
//
// RetryPolicy makes up to MaxAttempts attempts; the n-th wait is uniform
// in [0, min(Max, Initial × Multiplier^(n-1))) — "full jitter", which
// spreads the retries of many clients instead of synchronising them. Only
// Retryable errors are retried (DefaultRetryable: lost connections,
// timeouts, full mailboxes, exited processes; never an open breaker). A
// wait that would end after the context's deadline is not started. Retry
// only operations that are safe to repeat: an attempt that timed out may
// have taken effect.
//
// # Bulk calls
//
// BulkRPC and BulkCall start the requests in the order given, at most
// Concurrency at once and PerNode per node (a request whose node is at its
// bound lets later requests for other nodes go first), and return the
// results in the order of the requests. When the context ends, the
// requests not yet started are not sent and their error wraps
// ErrNotStarted.
package resilience

package cluster

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grovedev/grove/node"
)

// DefaultQuorumTimeout bounds Quorum when ctx has no deadline.
const DefaultQuorumTimeout = 5 * time.Second

// QuorumError is the error of a Quorum that reached no majority. It
// matches ErrNoQuorum under errors.Is.
type QuorumError struct {
	// Needed is the majority: len(nodes)/2 + 1 of the distinct nodes asked.
	Needed int
	// Best is the largest number of nodes that agreed on one result.
	Best int
	// Errors holds, by node, the error of every node that gave no vote:
	// unreachable, timed out, failed, or answered with a result that is
	// not a T or not comparable.
	Errors map[string]error
}

func (e *QuorumError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster: quorum not reached: best %d votes, need %d", e.Best, e.Needed)
	names := make([]string, 0, len(e.Errors))
	for n := range e.Errors {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "; %s: %v", n, e.Errors[n])
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNoQuorum) true.
func (e *QuorumError) Is(target error) bool { return target == ErrNoQuorum }

// Quorum calls the function fn (registered with node.Register on every
// node) with arg on each of nodes at once, through nd, and returns the
// result a majority of them gave: at least len(nodes)/2 + 1 of the distinct
// names (a name listed twice is asked once and votes once). Errors are not
// votes, nor are results that are not a T; results are compared with ==.
// Quorum returns as soon as a result has a majority (cancelling the calls
// still running) and a *QuorumError, matching ErrNoQuorum, as soon as no
// result can get one any more or when ctx's deadline passes
// (DefaultQuorumTimeout when ctx has none). nd's own name may be among
// nodes: its function is called directly.
//
// To decide over the whole cluster, pass Cluster.Voters(): members that
// are suspect or dead cannot answer but still count in the majority, as in
// HasQuorum.
func Quorum[T comparable](ctx context.Context, nd *node.Node, nodes []string, fn string, arg any) (T, error) {
	var zero T
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultQuorumTimeout)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// The calls still running when a result is known are cancelled and
	// waited for: Quorum leaves no goroutine behind.
	defer func() {
		cancel()
		wg.Wait()
	}()
	voters := slices.Clone(nodes)
	slices.Sort(voters)
	voters = slices.Compact(voters)
	qe := &QuorumError{Needed: len(voters)/2 + 1, Errors: map[string]error{}}
	if len(voters) == 0 {
		return zero, qe
	}
	type answer struct {
		node string
		v    any
		err  error
	}
	// Buffered for every voter: calls still running when Quorum returns
	// finish (their ctx is cancelled) without blocking.
	answers := make(chan answer, len(voters))
	for _, n := range voters {
		wg.Go(func() {
			v, err := nd.RPC(ctx, n, fn, arg)
			answers <- answer{n, v, err}
		})
	}
	counts := map[T]int{}
	pending := len(voters)
	for pending > 0 {
		var a answer
		select {
		case a = <-answers:
		case <-ctx.Done():
			for _, n := range voters {
				if _, answered := qe.Errors[n]; !answered {
					qe.Errors[n] = ctx.Err()
				}
			}
			// Votes counted so far are not errors.
			for n, err := range qe.Errors {
				if err == nil {
					delete(qe.Errors, n)
				}
			}
			return zero, qe
		}
		pending--
		if a.err == nil {
			v, ok := a.v.(T)
			switch {
			case !ok:
				a.err = fmt.Errorf("cluster: result of type %T is not a %s", a.v, reflect.TypeFor[T]())
			case !reflect.ValueOf(&v).Elem().Comparable():
				a.err = fmt.Errorf("cluster: result %v is not comparable", a.v)
			default:
				qe.Errors[a.node] = nil // answered, voted
				counts[v]++
				if counts[v] >= qe.Needed {
					return v, nil
				}
				qe.Best = max(qe.Best, counts[v])
				if qe.Best+pending < qe.Needed {
					goto fail
				}
				continue
			}
		}
		qe.Errors[a.node] = a.err
		if qe.Best+pending < qe.Needed {
			goto fail
		}
	}
fail:
	for n, err := range qe.Errors {
		if err == nil {
			delete(qe.Errors, n)
		}
	}
	return zero, qe
}

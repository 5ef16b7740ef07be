package check

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Views returns, for each node, its view of some replicated state (a
// membership list, a CRDT's value, a registry's names), or an error when
// the node cannot answer yet.
type Views func(node string) (any, error)

// Converged reports whether every node answers the same view (compared
// with reflect.DeepEqual), and if not, an error describing the views.
func Converged(nodes []string, view Views) error {
	var first any
	var lines []string
	same := true
	for i, n := range nodes {
		v, err := view(n)
		if err != nil {
			lines = append(lines, fmt.Sprintf("%s: error %v", n, err))
			same = false
			continue
		}
		lines = append(lines, fmt.Sprintf("%s: %v", n, v))
		if i == 0 {
			first = v
		} else if !reflect.DeepEqual(first, v) {
			same = false
		}
	}
	if same {
		return nil
	}
	return fmt.Errorf("check: views differ:\n\t%s", strings.Join(lines, "\n\t"))
}

// WaitConverged polls until Converged holds or ctx is done, then returns
// the last difference.
func WaitConverged(ctx context.Context, nodes []string, view Views) error {
	wait := time.Millisecond
	for {
		err := Converged(nodes, view)
		if err == nil {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// EventuallyConverges fails t unless every node's view becomes the same
// within timeout (after a heal, say). It polls; it never sleeps a fixed
// time.
func EventuallyConverges(t TB, timeout time.Duration, nodes []string, view Views) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := WaitConverged(ctx, nodes, view); err != nil {
		t.Fatalf("not converged after %v: %v", timeout, err)
	}
}

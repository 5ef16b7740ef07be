package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
)

// voteCluster starts 5 members whose "vote" function answers as behave says
// for each member index: a value, "slow" (waits for the caller's deadline),
// "fail" (returns an error) or "list" (an incomparable value).
func voteCluster(t *testing.T, behave map[int]string) (*harness, []*tmember) {
	h := newHarness(t, nil)
	ms := startCluster(t, h, 5)
	for i, m := range ms {
		b := behave[i]
		m.nd.Register("vote", func(ctx context.Context, arg any) (any, error) {
			switch b {
			case "slow":
				<-ctx.Done()
				return nil, ctx.Err()
			case "fail":
				return nil, errors.New("cannot decide")
			case "list":
				return []any{"yes"}, nil
			}
			return b, nil
		})
	}
	waitStates(t, 5*time.Second, ms, allAlive(0, 1, 2, 3, 4))
	return h, ms
}

func names(is ...int) []string {
	var out []string
	for _, i := range is {
		out = append(out, name(i))
	}
	return out
}

func TestQuorumMajorityDespiteSlowAndFailing(t *testing.T) {
	_, ms := voteCluster(t, map[int]string{0: "yes", 1: "yes", 2: "yes", 3: "slow", 4: "fail"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	v, err := Quorum[string](ctx, ms[0].nd, ms[0].c.Voters(), "vote", nil)
	if err != nil || v != "yes" {
		t.Fatalf("Quorum = %q, %v", v, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("waited %v for the slow member after a majority answered", d)
	}
}

func TestQuorumOneVotePerNode(t *testing.T) {
	_, ms := voteCluster(t, map[int]string{0: "x", 1: "y", 2: "y", 3: "x", 4: "x"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	// n0 listed three times votes once: of {n0, n1, n2}, "y" has 2 of 3.
	v, err := Quorum[string](ctx, ms[3].nd, append(names(0, 0, 0), names(1, 2)...), "vote", nil)
	if err != nil || v != "y" {
		t.Fatalf("Quorum = %q, %v; want y", v, err)
	}
}

func TestQuorumNotReached(t *testing.T) {
	h, ms := voteCluster(t, map[int]string{0: "yes", 1: "yes", 2: "slow", 3: "fail", 4: "yes"})
	// Member 4 is cut off from member 0: its vote cannot arrive.
	h.nw.Block(host(0), host(4))
	h.nw.Block(host(4), host(0))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Quorum[string](ctx, ms[0].nd, ms[0].c.Voters(), "vote", nil)
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("err = %v, want ErrNoQuorum", err)
	}
	var qe *QuorumError
	if !errors.As(err, &qe) || qe.Needed != 3 || qe.Best != 2 || len(qe.Errors) != 3 {
		t.Fatalf("QuorumError = %+v", qe)
	}
	for _, i := range []int{2, 3, 4} {
		if qe.Errors[name(i)] == nil {
			t.Fatalf("no error recorded for %s: %v", name(i), qe)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Quorum overran its deadline: %v", d)
	}
}

func TestQuorumSplitVoteFailsEarly(t *testing.T) {
	_, ms := voteCluster(t, map[int]string{0: "a", 1: "a", 2: "b", 3: "b", 4: "list"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := Quorum[string](ctx, ms[0].nd, ms[0].c.Voters(), "vote", nil)
	var qe *QuorumError
	if !errors.As(err, &qe) || qe.Best != 2 || qe.Errors[name(4)] == nil {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("split vote waited for the deadline: %v", d)
	}
	// Nothing to ask is no quorum either.
	if _, err := Quorum[string](ctx, ms[0].nd, nil, "vote", nil); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("empty electorate: %v", err)
	}
}

func TestQuorumErrorMessage(t *testing.T) {
	e := &QuorumError{Needed: 2, Best: 1, Errors: map[string]error{"b": errors.New("down"), "a": errors.New("late")}}
	want := "cluster: quorum not reached: best 1 votes, need 2; a: late; b: down"
	if e.Error() != want {
		t.Fatalf("%q", e.Error())
	}
	testutil.Eventually(t, time.Second, func() error {
		if !errors.Is(fmt.Errorf("wrapped: %w", e), ErrNoQuorum) {
			return errors.New("not ErrNoQuorum")
		}
		return nil
	})
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

// TestQuorumErrorOverLostMembers: with three of five members killed, the
// quorum error names each lost member once, with why, and never repeats
// "noconnection" (it read "noconnection: noconnection: dial …").
func TestQuorumErrorOverLostMembers(t *testing.T) {
	h, ms := voteCluster(t, map[int]string{0: "yes", 1: "yes", 2: "yes", 3: "yes", 4: "yes"})
	voters := ms[0].c.Voters()
	for _, i := range []int{2, 3, 4} {
		h.kill(i)
	}
	for _, wait := range []bool{false, true} {
		if wait {
			// Once the links are down, the members are dialled afresh.
			testutil.Eventually(t, 10*time.Second, func() error {
				if st := states(ms[0].c)[name(2)]; st == StateAlive {
					return fmt.Errorf("%s still %v", name(2), st)
				}
				return nil
			})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := Quorum[string](ctx, ms[0].nd, voters, "vote", nil)
		cancel()
		var qe *QuorumError
		if !errors.As(err, &qe) {
			t.Fatalf("err = %v", err)
		}
		text := err.Error()
		t.Logf("%s", text)
		if strings.Contains(text, "noconnection: noconnection") {
			t.Fatalf("repeated cause: %s", text)
		}
		for _, i := range []int{2, 3, 4} {
			e := qe.Errors[name(i)]
			if e == nil || strings.Count(e.Error(), proc.ErrNoConnection.Error()) > 1 {
				t.Fatalf("%s: %v", name(i), e)
			}
		}
	}
}

package discovery

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Union is a strategy that asks several strategies and returns every peer
// any of them found. A failing strategy does not hide the others' peers:
// Discover returns them together with the joined errors.
type Union []Strategy

var _ Strategy = Union(nil)

// Discover asks each strategy in turn and returns the union of their peers.
func (u Union) Discover(ctx context.Context) ([]Peer, error) {
	var peers []Peer
	var errs []error
	for _, s := range u {
		ps, err := s.Discover(ctx)
		peers = append(peers, ps...)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return sortPeers(peers), errors.Join(errs...)
}

// String lists the strategies, separated by spaces.
func (u Union) String() string {
	parts := make([]string, len(u))
	for i, s := range u {
		parts[i] = describe(s)
	}
	return fmt.Sprintf("union(%s)", strings.Join(parts, " "))
}

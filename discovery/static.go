package discovery

import (
	"context"
	"fmt"
	"slices"
)

// Static is a fixed seed list. Its Discover returns the same peers every
// time and never fails.
type Static struct {
	peers []Peer
}

var _ Strategy = (*Static)(nil)

// NewStatic returns a Static strategy over peers, which must each pass
// Peer.Validate. At least one peer is required.
func NewStatic(peers ...Peer) (*Static, error) {
	if len(peers) == 0 {
		return nil, fmt.Errorf("%w: static seed list is empty", ErrInvalidConfig)
	}
	for _, p := range peers {
		if err := p.Validate(); err != nil {
			return nil, err
		}
	}
	return &Static{peers: sortPeers(slices.Clone(peers))}, nil
}

// Discover returns a copy of the seed list. It fails only when ctx is done.
func (s *Static) Discover(ctx context.Context) ([]Peer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return slices.Clone(s.peers), nil
}

// String returns the seed list in the static: spec syntax.
func (s *Static) String() string { return Spec{Kind: KindStatic, Peers: s.peers}.String() }

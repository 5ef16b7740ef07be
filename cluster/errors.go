package cluster

import "errors"

// Errors of the cluster package, checked with errors.Is.
var (
	// ErrClosed is returned by calls on a Cluster after Close or Leave.
	ErrClosed = errors.New("cluster: closed")
	// ErrInvalidConfig wraps every configuration error.
	ErrInvalidConfig = errors.New("cluster: invalid configuration")
	// ErrMetaTooLarge is returned for metadata that does not fit in
	// memberlist's 512-byte node metadata.
	ErrMetaTooLarge = errors.New("cluster: metadata too large")
	// ErrNoSeedReachable is returned by Join when no address answered.
	ErrNoSeedReachable = errors.New("cluster: no seed reachable")
	// ErrNoQuorum is returned by Quorum when no result was given by a
	// majority of the nodes asked before the deadline.
	ErrNoQuorum = errors.New("cluster: quorum not reached")
)

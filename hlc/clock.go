package hlc

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/clock"
)

// Clock is a hybrid logical clock over a physical clock.
//
// Clock is safe for concurrent use by many goroutines: Now and Update are
// serialized, and every timestamp they return is greater than every
// timestamp returned before it by the same Clock.
type Clock struct {
	physical clock.Clock
	maxSkew  time.Duration
	rejected atomic.Uint64
	mu       struct {
		sync.Mutex
		last Timestamp
	}
}

// New returns a hybrid logical clock reading physical.
func New(physical clock.Clock, cfg Config) (*Clock, error) {
	if physical == nil {
		return nil, fmt.Errorf("%w: nil physical clock", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Clock{physical: physical, maxSkew: cfg.MaxSkew}, nil
}

// Now returns a timestamp for a local event or an outgoing message. It is
// the physical time when that is ahead of every timestamp seen so far, and
// otherwise the latest timestamp seen with its logical counter incremented.
func (c *Clock) Now() Timestamp {
	pt := c.physical.Now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if pt > c.mu.last.WallNanos {
		c.mu.last = Timestamp{WallNanos: pt}
	} else {
		c.mu.last = tick(c.mu.last)
	}
	return c.mu.last
}

// Update records the receipt of a message stamped remote and returns the
// timestamp of the receive event, which is after both remote and every
// timestamp this clock issued before. If remote is more than MaxSkew ahead
// of the local physical clock, Update leaves the clock unchanged, counts the
// refusal and returns a *SkewError.
func (c *Clock) Update(remote Timestamp) (Timestamp, error) {
	pt := c.physical.Now().UnixNano()
	// remote > pt, so the wrapped int64 difference read as uint64 is exact.
	if remote.WallNanos > pt && uint64(remote.WallNanos-pt) > uint64(c.maxSkew) {
		c.rejected.Add(1)
		return Timestamp{}, &SkewError{Remote: remote, Physical: pt, MaxSkew: c.maxSkew}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	last := c.mu.last
	switch wall := max(last.WallNanos, remote.WallNanos, pt); {
	case wall == last.WallNanos && wall == remote.WallNanos:
		c.mu.last = tick(Timestamp{WallNanos: wall, Logical: max(last.Logical, remote.Logical)})
	case wall == last.WallNanos:
		c.mu.last = tick(last)
	case wall == remote.WallNanos:
		c.mu.last = tick(remote)
	default:
		c.mu.last = Timestamp{WallNanos: wall}
	}
	return c.mu.last, nil
}

// Last returns the latest timestamp issued, without issuing a new one.
func (c *Clock) Last() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.last
}

// Rejected returns the number of remote timestamps Update has refused.
func (c *Clock) Rejected() uint64 { return c.rejected.Load() }

// tick returns the smallest timestamp after t. When the logical counter is
// exhausted (2^32 events within one nanosecond of wall time) it moves the
// wall time on by a nanosecond instead.
func tick(t Timestamp) Timestamp {
	if t.Logical == math.MaxUint32 {
		return Timestamp{WallNanos: t.WallNanos + 1}
	}
	t.Logical++
	return t
}

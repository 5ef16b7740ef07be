package hlc

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by this package.
var (
	// ErrClockSkew is the sentinel of a *SkewError: a remote timestamp was
	// too far ahead of the local physical clock.
	ErrClockSkew = errors.New("hlc: remote clock too far ahead")
	// ErrInvalidConfig is returned by Config.Validate and New for a
	// configuration that cannot work.
	ErrInvalidConfig = errors.New("hlc: invalid config")
)

// SkewError reports a remote timestamp refused by Clock.Update.
type SkewError struct {
	// Remote is the refused timestamp.
	Remote Timestamp
	// Physical is the local physical clock reading, in Unix nanoseconds,
	// when the timestamp was refused.
	Physical int64
	// MaxSkew is the configured tolerance that Remote exceeded.
	MaxSkew time.Duration
}

// Error describes the skew.
func (e *SkewError) Error() string {
	return fmt.Sprintf("%v: remote %v is %v ahead of local physical time, max %v",
		ErrClockSkew, e.Remote, time.Duration(e.Remote.WallNanos-e.Physical), e.MaxSkew)
}

// Unwrap returns ErrClockSkew.
func (e *SkewError) Unwrap() error { return ErrClockSkew }

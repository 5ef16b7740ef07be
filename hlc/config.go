package hlc

import (
	"fmt"
	"time"
)

// DefaultMaxSkew is the MaxSkew used when Config.MaxSkew is zero.
const DefaultMaxSkew = 500 * time.Millisecond

// Config tunes a Clock. The zero Config is valid and uses the defaults.
type Config struct {
	// MaxSkew is how far a remote timestamp may be ahead of the local
	// physical clock before Update refuses it. Zero means DefaultMaxSkew.
	// It must not be negative.
	MaxSkew time.Duration
}

// Validate reports whether c can be used.
func (c Config) Validate() error {
	if c.MaxSkew < 0 {
		return fmt.Errorf("%w: negative MaxSkew %v", ErrInvalidConfig, c.MaxSkew)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxSkew == 0 {
		c.MaxSkew = DefaultMaxSkew
	}
	return c
}

// Package bench measures Grove against the figures named in the design's
// benchmark set, with the raw baselines (a Go channel, a plain TCP stream)
// measured in the same run so results read as ratios. cmd/grove's bench
// subcommands print what this package returns.
package bench

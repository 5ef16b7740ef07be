//go:build race

package kv

// raceEnabled shortens the fault tests under the race detector.
const raceEnabled = true

//go:build race

package bench

// raceEnabled shortens the benchmark tests under the race detector.
const raceEnabled = true

//go:build race

package proc

// raceEnabled tells tests that the race detector slows everything down.
const raceEnabled = true

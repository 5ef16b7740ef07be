//go:build race

package registry

// raceEnabled tells tests that the race detector slows everything down.
const raceEnabled = true

//go:build race

package distsup

// raceEnabled is set when the race detector is on: it slows the process
// down several times, too much for twenty in-process members whose
// failure detection runs on real time.
const raceEnabled = true

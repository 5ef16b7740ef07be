//go:build !race

package distsup

const raceEnabled = false

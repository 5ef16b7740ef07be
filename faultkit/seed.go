package faultkit

import (
	"os"
	"strconv"
	"time"
)

// SeedEnv is the environment variable Seed reads a seed from, to replay a
// failing run.
const SeedEnv = "GROVE_SEED"

// TB is the part of testing.TB the kit's test helpers use, so that the
// kit does not import package testing.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	Failed() bool
}

// Seed returns the seed of a randomized test: the value of GROVE_SEED when
// set, else a fresh one from the time. When the test fails, it logs the
// seed and how to replay it. Use it for every random choice of the test
// (the Network, the nemesis, the workload), so that one number replays
// the run.
func Seed(t TB) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(SeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("faultkit: %s=%q: %v", SeedEnv, s, err)
		}
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("faultkit: seed %d; replay with %s=%d", seed, SeedEnv, seed)
		}
	})
	return seed
}

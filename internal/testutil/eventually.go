// Package testutil holds helpers shared by Grove's tests: polling for a
// condition instead of sleeping.
package testutil

import (
	"fmt"
	"time"
)

// TB is the part of testing.TB the helpers use, so that this package does
// not import testing into production builds.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Eventually polls cond until it returns nil or timeout elapses, then fails
// the test with cond's last error.
func Eventually(t TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 100 * time.Microsecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
			return
		}
		time.Sleep(wait)
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// Errorf is fmt.Errorf, for conditions written inline.
func Errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

package storetest

import (
	"os"
	"testing"
)

// PostgresURL returns the connection string of the PostgreSQL server the
// tests may use, from GROVE_TEST_POSTGRES. Without it the test is skipped
// with a message saying so, unless GROVE_TEST_POSTGRES_REQUIRED is set
// (continuous integration sets it): then the test fails instead, so that
// tests of the PostgreSQL backend are never skipped silently there.
func PostgresURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("GROVE_TEST_POSTGRES")
	if url != "" {
		return url
	}
	const msg = "no PostgreSQL server: set GROVE_TEST_POSTGRES=postgres://user@host:port/db to run this test"
	if os.Getenv("GROVE_TEST_POSTGRES_REQUIRED") != "" {
		t.Fatal(msg + " (GROVE_TEST_POSTGRES_REQUIRED is set)")
	}
	t.Skip(msg)
	return ""
}

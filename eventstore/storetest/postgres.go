package storetest

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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

var schemaSeq atomic.Int64

// PostgresSchema returns the test server's URL and a schema name no other
// test, process or earlier run uses, dropped (with everything in it) when
// the test ends. It skips or fails as PostgresURL does.
func PostgresSchema(t testing.TB) (url, schema string) {
	t.Helper()
	url = PostgresURL(t)
	schema = fmt.Sprintf("es_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, schemaSeq.Add(1))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Logf("dropping schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Logf("dropping schema %s: %v", schema, err)
		}
	})
	return url, schema
}

// PostgresSchemaIfAvailable is PostgresSchema for tests that can also run
// without a server: it returns empty strings instead of skipping, unless
// GROVE_TEST_POSTGRES_REQUIRED is set (then a missing server fails the
// test).
func PostgresSchemaIfAvailable(t testing.TB) (url, schema string) {
	t.Helper()
	if os.Getenv("GROVE_TEST_POSTGRES") == "" && os.Getenv("GROVE_TEST_POSTGRES_REQUIRED") == "" {
		return "", ""
	}
	return PostgresSchema(t)
}

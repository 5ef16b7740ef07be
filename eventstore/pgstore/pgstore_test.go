package pgstore_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/pgstore"
	"github.com/grovedev/grove/eventstore/storetest"
)

// freshSchema returns a schema of the test's own.
func freshSchema(t *testing.T, _ string) string {
	_, schema := storetest.PostgresSchema(t)
	return schema
}

func openSchema(t *testing.T, url, schema string) *pgstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := pgstore.Open(ctx, pgstore.Config{URL: url, Schema: schema, MaxConns: 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	url := storetest.PostgresURL(t)
	storetest.Run(t, func(t *testing.T) eventstore.Store { return openSchema(t, url, freshSchema(t, url)) })
}

// TestOutOfOrderCommit holds an append's transaction open after it drew its
// position, lets a later append (a higher position) commit, and checks that
// $all shows neither until the first commits: a reader that went on from
// the higher position would have skipped the lower one for good.
func TestOutOfOrderCommit(t *testing.T) {
	url := storetest.PostgresURL(t)
	schema := freshSchema(t, url)
	ctx := context.Background()
	s, err := pgstore.Open(ctx, pgstore.Config{URL: url, Schema: schema, VisibilityWait: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Append(ctx, "first", eventstore.NoStream, eventstore.EventData{Type: "T"}); err != nil {
		t.Fatal(err)
	}
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var slowPos int64
	err = tx.QueryRow(ctx, `SELECT o_position FROM `+schema+`.append($1, $2, $3, $4, $5, $6, $7, $8)`,
		[]string{"slow"}, []int64{-1}, []int32{1}, []int32{1}, []string{"slow-1"}, []string{"T"}, [][]byte{nil}, [][]byte{nil}).Scan(&slowPos)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := s.Append(ctx, "fast", eventstore.NoStream, eventstore.EventData{Type: "T"})
	if err != nil {
		t.Fatal(err)
	}
	if fast.Position <= uint64(slowPos) {
		t.Fatalf("fast position %d not above slow %d", fast.Position, slowPos)
	}
	for range 5 {
		all, err := s.ReadAll(ctx, 0, 10, eventstore.Forward)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range all {
			if e.Position >= uint64(slowPos) {
				t.Fatalf("$all shows %s at %d while position %d is uncommitted", e.StreamID, e.Position, slowPos)
			}
		}
		if h, _ := s.Head(ctx); h >= uint64(slowPos) {
			t.Fatalf("head %d while position %d is uncommitted", h, slowPos)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var all []eventstore.RecordedEvent
	for range 3 { // the horizon trails by one sample
		if all, err = s.ReadAll(ctx, 0, 10, eventstore.Forward); err != nil {
			t.Fatal(err)
		}
	}
	if len(all) != 3 || all[1].StreamID != "slow" || all[2].StreamID != "fast" {
		t.Fatalf("$all after the commit: %+v", all)
	}
}

func TestCrashChild(t *testing.T) {
	storetest.CrashChild(t, func(t *testing.T) eventstore.Store {
		return openSchema(t, os.Getenv("GROVE_TEST_POSTGRES"), os.Getenv("PGSTORE_CRASH_SCHEMA"))
	})
}

// TestKillDuringAppends kills a real child process with SIGKILL while eight
// writers append through it, three times, and checks the store after each:
// the transactions cut off roll back, the acknowledged ones are all there.
func TestKillDuringAppends(t *testing.T) {
	url := storetest.PostgresURL(t)
	schema := freshSchema(t, url)
	storetest.RunCrash(t, storetest.CrashConfig{
		ChildTest: "TestCrashChild",
		Env:       []string{"PGSTORE_CRASH_SCHEMA=" + schema},
		Open:      func(t *testing.T) eventstore.Store { return openSchema(t, url, schema) },
		Seed:      uint64(time.Now().UnixNano()),
	})
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []pgstore.Config{{}, {URL: "postgres://x", Schema: "Bad-Name"}, {URL: "postgres://x", MaxConns: -1}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := (pgstore.Config{URL: "postgres://x"}).Validate(); err != nil {
		t.Error(err)
	}
}

// TestSchemaFromBeforeLinks opens a schema as it was before links and the
// streams' last IDs (the column and table removed), with events in it: Open
// adds what is missing, the old streams go on, and a repeat expecting Any
// is recognised once the stream has a last ID.
func TestSchemaFromBeforeLinks(t *testing.T) {
	url := storetest.PostgresURL(t)
	schema := freshSchema(t, url)
	ctx := context.Background()
	s := openSchema(t, url, schema)
	r, err := s.Append(ctx, "old", eventstore.NoStream, eventstore.EventData{ID: "o1", Type: "T"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `ALTER TABLE `+schema+`.streams DROP COLUMN last_id; DROP TABLE `+schema+`.links`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openSchema(t, url, schema)
	defer s.Close()
	if _, err := s.Append(ctx, "old", eventstore.Exact(1), eventstore.EventData{ID: "o2", Type: "T"}); err != nil {
		t.Fatal(err)
	}
	if rr, err := s.Append(ctx, "old", eventstore.Any, eventstore.EventData{ID: "o2", Type: "T"}); err != nil || rr.Streams[0].Version != 2 {
		t.Fatalf("repeat %+v %v", rr, err)
	}
	if _, err := s.Link(ctx, "l", eventstore.NoStream, r.Position); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadStream(ctx, "l", 0, 10, eventstore.Forward)
	if err != nil || len(got) != 1 || got[0].ID != "o1" {
		t.Fatalf("link %+v %v", got, err)
	}
}

package pgprojection_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/eventsourcing"
	"github.com/grovedev/grove/eventsourcing/pgprojection"
	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/pgstore"
	"github.com/grovedev/grove/eventstore/storetest"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
	"github.com/jackc/pgx/v5"
)

type Deposited struct {
	Account string
	Amount  int
}

const childEnv = "PGPROJECTION_CHILD_SCHEMA"

func setup(t *testing.T, url, schema string) (*pgstore.Store, *eventsourcing.App) {
	t.Helper()
	ctx := context.Background()
	s, err := pgstore.Open(ctx, pgstore.Config{URL: url, Schema: schema, Logger: slog.New(slog.DiscardHandler), LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rt, _ := proc.New(proc.Config{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { rt.Close(context.Background()) })
	types := eventsourcing.NewTypes()
	eventsourcing.Register[Deposited](types, "Deposited")
	app, err := eventsourcing.New(eventsourcing.Config{Store: s, Types: types, Runtime: rt, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `CREATE TABLE IF NOT EXISTS `+schema+`.applied (event_id text PRIMARY KEY);
		CREATE TABLE IF NOT EXISTS `+schema+`.balance (account text PRIMARY KEY, amount bigint NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return s, app
}

// project applies a deposit: the primary key of applied makes an event
// applied twice fail loudly, and the balance sums what was applied.
func project(schema string, slow time.Duration) pgprojection.Apply {
	return func(ctx context.Context, tx pgx.Tx, e eventsourcing.Event) error {
		d := e.Data.(Deposited)
		if _, err := tx.Exec(ctx, `INSERT INTO `+schema+`.applied VALUES ($1)`, e.Recorded.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+schema+`.balance VALUES ($1, $2)
			ON CONFLICT (account) DO UPDATE SET amount = balance.amount + $2`, d.Account, d.Amount); err != nil {
			return err
		}
		if slow > 0 {
			time.Sleep(slow)
		}
		return nil
	}
}

// TestChildProjection is the child side of TestKilledMidBatch.
func TestChildProjection(t *testing.T) {
	schema := os.Getenv(childEnv)
	if schema == "" {
		t.Skip("run by TestKilledMidBatch in a child process")
	}
	s, app := setup(t, os.Getenv("GROVE_TEST_POSTGRES"), schema)
	_ = s
	h, err := pgprojection.Start(context.Background(), app, s, pgprojection.Config{Name: "balances", BatchSize: 50, SingleNode: true},
		project(schema, 200*time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("started")
	for {
		fmt.Println("at", h.Position())
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKilledMidBatch runs the projection in a child process, kills it with
// SIGKILL while batches are in flight, and lets a projection in this
// process catch up: the read model ends with every event applied once.
func TestKilledMidBatch(t *testing.T) {
	url, schema := storetest.PostgresSchema(t)
	s, app := setup(t, url, schema)
	ctx := context.Background()
	const accounts, events = 7, 3000
	want := map[string]int{}
	batch := make([]eventstore.EventData, 0, 100)
	for i := range events {
		d := Deposited{Account: fmt.Sprint("acc-", i%accounts), Amount: i%13 + 1}
		want[d.Account] += d.Amount
		ed, err := app.Types().Encode(d, nil)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, ed)
		if len(batch) == cap(batch) {
			if _, err := s.Append(ctx, fmt.Sprint("dep-", i/100), eventstore.NoStream, batch...); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	for round := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChildProjection$", "-test.v=false")
		cmd.Env = append(os.Environ(), childEnv+"="+schema)
		cmd.Stderr = os.Stderr
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		target := uint64(events / 3 * (round + 1))
		killed := false
		for sc.Scan() {
			var p uint64
			if n, _ := fmt.Sscanf(sc.Text(), "at %d", &p); n == 1 && p >= target && !killed {
				cmd.Process.Kill()
				killed = true
			}
			if strings.HasPrefix(sc.Text(), "FAIL") {
				t.Fatal("child failed")
			}
		}
		cmd.Wait()
		if !killed {
			t.Fatal("child ended before reaching", target)
		}
		cp, _, _ := s.LoadCheckpoint(ctx, eventsourcing.CheckpointName("balances"))
		t.Logf("round %d: killed the child at checkpoint %d", round, cp)
	}
	// Catch up here, after the lease the killed child held expires.
	h, err := pgprojection.Start(ctx, app, s, pgprojection.Config{Name: "balances", SingleNode: true, PollInterval: 20 * time.Millisecond}, project(schema, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	head, _ := s.Head(ctx)
	testutil.Eventually(t, 60*time.Second, func() error {
		if p := h.Position(); p < head {
			return fmt.Errorf("projection at %d, head %d", p, head)
		}
		return nil
	})
	var applied int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM `+schema+`.applied`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != events {
		t.Fatalf("%d events applied, want %d", applied, events)
	}
	rows, _ := s.Pool().Query(ctx, `SELECT account, amount FROM `+schema+`.balance`)
	got := map[string]int{}
	for rows.Next() {
		var a string
		var n int
		rows.Scan(&a, &n)
		got[a] = n
	}
	rows.Close()
	for a, n := range want {
		if got[a] != n {
			t.Fatalf("balance of %s is %d, want %d", a, got[a], n)
		}
	}
}

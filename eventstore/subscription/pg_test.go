package subscription_test

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/pgstore"
	"github.com/grovedev/grove/eventstore/storetest"
	"github.com/grovedev/grove/eventstore/subscription"
	"github.com/grovedev/grove/internal/testutil"
)

func openPG(t *testing.T, url, schema string, ttl time.Duration) *pgstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := pgstore.Open(ctx, pgstore.Config{URL: url, Schema: schema, MaxConns: 10, LeaseTTL: ttl, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPostgresListenLost kills the store's LISTEN connection (and every
// other connection of the writer) while a subscriber waits with a long poll
// interval: the events still arrive, through the reconnect's wake-up.
func TestPostgresListenLost(t *testing.T) {
	url, schema := storetest.PostgresSchema(t)
	reader := openPG(t, url, schema, 0)
	writer := openPG(t, url, schema, 0)
	var c collector
	start(t, reader, subscription.Config{PollInterval: time.Hour}, c.handle)
	appendN(t, writer, "a", 0, 2)
	c.waitLen(t, 2)
	for round := range 3 {
		ctx := context.Background()
		if _, err := writer.Pool().Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN `+schema+`%'`); err != nil {
			t.Fatal(err)
		}
		appendN(t, writer, "a", 2+2*round, 2)
		c.waitLen(t, 4+2*round)
	}
}

// TestPostgresNotificationsMissedWhileAway makes the subscriber's store miss
// notifications for sure (EventStore for Elixir #309): its role may not log
// in and all its connections are cut, so its LISTEN connection stays away
// while another store appends and notifies. The subscriber polls once an
// hour, so only the reconnect can bring the events: when the role may log in
// again, the listener comes back, wakes the subscriber, and it catches up
// from its position. Three rounds.
func TestPostgresNotificationsMissedWhileAway(t *testing.T) {
	url, schema := storetest.PostgresSchema(t)
	ctx := context.Background()
	writer := openPG(t, url, schema, 0)
	role := schema + "_sub"
	if _, err := writer.Pool().Exec(ctx, `CREATE ROLE `+role+` LOGIN SUPERUSER`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		writer.Pool().Exec(context.Background(), `ALTER ROLE `+role+` LOGIN`)
		writer.Pool().Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role)
		writer.Pool().Exec(context.Background(), `DROP ROLE IF EXISTS `+role)
	})
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	u.User = neturl.User(role) // the test server trusts local connections, as in CI
	reader := openPG(t, u.String(), schema, 0)
	var c collector
	start(t, reader, subscription.Config{PollInterval: time.Hour}, c.handle)
	appendN(t, writer, "a", 0, 2)
	c.waitLen(t, 2)
	for round := range 3 {
		if _, err := writer.Pool().Exec(ctx, `ALTER ROLE `+role+` NOLOGIN`); err != nil {
			t.Fatal(err)
		}
		if _, err := writer.Pool().Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 20*time.Second, func() error {
			var n int
			if err := writer.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE usename = $1`, role).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%d connections of the subscriber left", n)
			}
			return nil
		})
		appendN(t, writer, "a", 2+2*round, 2)
		if got := len(c.datas()); got != 2+2*round {
			t.Fatalf("round %d: %d events handled while the subscriber's store was away", round, got)
		}
		if _, err := writer.Pool().Exec(ctx, `ALTER ROLE `+role+` LOGIN`); err != nil {
			t.Fatal(err)
		}
		c.waitLen(t, 4+2*round)
	}
	if got := c.datas(); fmt.Sprint(got) != "[0 1 2 3 4 5 6 7]" {
		t.Fatalf("handled %v", got)
	}
}

// TestPostgresExactlyOneNode runs the same persistent subscription on three
// stores (three nodes) with a lease: the handler never runs on two at once,
// every event is handled, and when the holder closes another takes over from
// the checkpoint.
func TestPostgresExactlyOneNode(t *testing.T) {
	url, schema := storetest.PostgresSchema(t)
	const ttl = 300 * time.Millisecond
	var active atomic.Int32
	var mu sync.Mutex
	handled := map[string]int{}
	runs := map[int]int{}
	var subs []*subscription.Subscription
	for n := range 3 {
		s := openPG(t, url, schema, ttl)
		sub := start(t, s, subscription.Config{Name: "one", Locker: s, PollInterval: 20 * time.Millisecond, BatchSize: 3},
			func(ctx context.Context, evs []eventstore.RecordedEvent) error {
				if a := active.Add(1); a != 1 {
					t.Errorf("%d handlers running at once", a)
				}
				defer active.Add(-1)
				mu.Lock()
				for _, e := range evs {
					handled[string(e.Data)]++
				}
				runs[n]++
				mu.Unlock()
				return nil
			})
		subs = append(subs, sub)
	}
	w := openPG(t, url, schema, 0)
	appendN(t, w, "x", 0, 20)
	waitHandled := func(n int) {
		testutil.Eventually(t, 30*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			for i := range n {
				if handled[fmt.Sprint(i)] == 0 {
					return fmt.Errorf("event %d not handled", i)
				}
			}
			return nil
		})
	}
	waitHandled(20)
	holder := -1
	testutil.Eventually(t, 10*time.Second, func() error {
		count := 0
		for i, s := range subs {
			if s.Running() {
				holder, count = i, count+1
			}
		}
		if count != 1 {
			return fmt.Errorf("%d subscriptions running", count)
		}
		return nil
	})
	subs[holder].Close()
	appendN(t, w, "x", 20, 20)
	waitHandled(40)
	mu.Lock()
	defer mu.Unlock()
	for i := range 40 {
		if handled[fmt.Sprint(i)] > 1 {
			// A takeover redelivers at most the batch after the checkpoint;
			// with a clean release there is none.
			t.Errorf("event %d handled %d times", i, handled[fmt.Sprint(i)])
		}
	}
}

// TestPostgresLeaseFencing takes a lease over behind its holder's back:
// the old holder's checkpoint writes are refused and it sees the loss.
func TestPostgresLeaseFencing(t *testing.T) {
	url, schema := storetest.PostgresSchema(t)
	a := openPG(t, url, schema, 2*time.Second)
	b := openPG(t, url, schema, 2*time.Second)
	ctx := context.Background()
	la, err := a.Acquire(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	defer la.Release(ctx)
	ck := la.(eventstore.Checkpoints)
	if err := ck.SaveCheckpoint(ctx, "job", 5); err != nil {
		t.Fatal(err)
	}
	// b cannot take it while a holds it.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	if _, err := b.Acquire(short, "job"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second acquire: %v", err)
	}
	cancel()
	// Expire it in the database, as a partitioned holder's lease would.
	if _, err := a.Pool().Exec(ctx, `UPDATE `+schema+`.leases SET expires = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	lb, err := b.Acquire(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Release(ctx)
	if err := ck.SaveCheckpoint(ctx, "job", 9); !errors.Is(err, eventstore.ErrLeaseLost) {
		t.Fatalf("old holder's checkpoint: %v", err)
	}
	select {
	case <-la.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("old holder never saw the loss")
	}
	if err := lb.(eventstore.Checkpoints).SaveCheckpoint(ctx, "job", 9); err != nil {
		t.Fatal(err)
	}
	if p, _, _ := b.LoadCheckpoint(ctx, "job"); p != 9 {
		t.Fatalf("checkpoint %d", p)
	}
}

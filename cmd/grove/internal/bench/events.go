package bench

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/pebblestore"
	"github.com/grovedev/grove/eventstore/pgstore"
	"github.com/grovedev/grove/eventstore/subscription"
	"github.com/grovedev/grove/internal/pgserver"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EventsConfig sizes `grove bench events`. Zero fields take the defaults.
type EventsConfig struct {
	// PostgresURL is the server to measure; empty starts one from an
	// installed server's binaries in a temporary directory.
	PostgresURL string
	// Duration of each throughput figure. Default 5 s.
	Duration time.Duration
	// Writers of the many-writer figures. Default 50.
	Writers int
	// Batch is the events per append of the batched figures. Default 100.
	Batch int
	// GrowthEvents is the store size of the latency-growth figure's second
	// point; the first is a tenth of it. Default 10,000,000.
	GrowthEvents int
	// GrowthStore is "postgres" (default) or "embedded".
	GrowthStore string
	// GrowthSamples is the number of appends timed at each point.
	// Default 2,000.
	GrowthSamples int
	// CatchupEvents bounds the events the catch-up figure reads. Default
	// 1,000,000.
	CatchupEvents int
	// Dir holds the embedded stores. Default a temporary directory.
	Dir string
}

func (c EventsConfig) withDefaults() EventsConfig {
	if c.Duration <= 0 {
		c.Duration = 5 * time.Second
	}
	if c.Writers <= 0 {
		c.Writers = 50
	}
	if c.Batch <= 0 {
		c.Batch = 100
	}
	if c.GrowthEvents <= 0 {
		c.GrowthEvents = 10_000_000
	}
	if c.GrowthStore == "" {
		c.GrowthStore = "postgres"
	}
	if c.GrowthSamples <= 0 {
		c.GrowthSamples = 2000
	}
	if c.CatchupEvents <= 0 {
		c.CatchupEvents = 1_000_000
	}
	return c
}

// EventsResult holds the figures of `grove bench events`. JSON names are
// part of the command's output contract.
type EventsResult struct {
	PGAppend1W           float64 `json:"pg_append_eps_1w"`            // events/s, 1 writer, batches of Batch
	PGAppend50W          float64 `json:"pg_append_eps_50w"`           // events/s, Writers writers, batches of Batch
	PGAppend50WB1        float64 `json:"pg_append_eps_50w_b1"`        // events/s, Writers writers, one event per append
	PGHotRow50W          float64 `json:"pg_hot_row_append_eps_50w"`   // baseline: the same appends also updating one $all row
	EmbeddedAppend50W    float64 `json:"embedded_append_eps_50w"`     // events/s, Writers writers, batches of Batch
	PebbleRaw50W         float64 `json:"pebble_raw_commit_eps_50w"`   // baseline: each writer commits its own synced pebble batch
	CatchupEPS           float64 `json:"catchup_eps"`                 // a persistent subscription reading $all from 0 (PostgreSQL)
	EmbeddedCatchupEPS   float64 `json:"embedded_catchup_eps"`        // the same on the embedded store
	CatchupEvents        int     `json:"catchup_events"`              // events read by the catch-up figures
	GrowthSmallP50Us     float64 `json:"append_latency_p50_us_small"` // p50 of one-event appends at GrowthEvents/10 stored
	GrowthLargeP50Us     float64 `json:"append_latency_p50_us_large"` // the same at GrowthEvents stored
	AppendLatencyGrowth  float64 `json:"append_latency_growth"`       // large / small
	GrowthEvents         int     `json:"growth_events"`               // the large point's store size
	GrowthStore          string  `json:"growth_store"`                // postgres or embedded
	Writers              int     `json:"writers"`
	Batch                int     `json:"batch"`
	EventStoreElixir50W  float64 `json:"eventstore_elixir_eps_50w"` // published: EventStore for Elixir, 50 writers, batches of 100
	EventStoreElixir1W   float64 `json:"eventstore_elixir_eps_1w"`  // published: one writer
	PostgresStartedByRun bool    `json:"postgres_started_by_bench"`
}

var benchPayload = []byte(`{"account":"0123456789","amount":4200,"currency":"EUR","note":"benchmark event"}`)

func benchEvents(n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = eventstore.EventData{ID: eventstore.NewID(), Type: "Deposited", Data: benchPayload}
	}
	return out
}

// appendThroughput runs writers that each append batches of batch events
// to streams of their own, expecting the exact version, for d; events/s.
func appendThroughput(ctx context.Context, s eventstore.Store, prefix string, writers, batch int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var total atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("%s-%d", prefix, w)
			var v uint64
			for time.Now().Before(deadline) {
				r, err := s.Append(ctx, stream, eventstore.Exact(v), benchEvents(batch)...)
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				v = r.Streams[0].Version
				total.Add(int64(batch))
			}
		}()
	}
	wg.Wait()
	return float64(total.Load()) / time.Since(start).Seconds(), firstErr
}

// hotRowThroughput is the baseline design: every append also updates one
// row that stands for $all (EventStore for Elixir's stream 0), in the same
// transaction, so appends serialize on that row's lock until commit.
func hotRowThroughput(ctx context.Context, pool *pgxpool.Pool, writers, batch int, d time.Duration) (float64, error) {
	for _, q := range []string{
		`DROP TABLE IF EXISTS bench_hot_all, bench_hot_events`,
		`CREATE TABLE bench_hot_all (id int PRIMARY KEY, version bigint NOT NULL)`,
		`INSERT INTO bench_hot_all VALUES (0, 0)`,
		`CREATE TABLE bench_hot_events (position bigint PRIMARY KEY, stream_id text NOT NULL, version bigint NOT NULL,
			event_id text NOT NULL, type text NOT NULL, data bytea, created timestamptz NOT NULL DEFAULT now(),
			UNIQUE (stream_id, version))`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			return 0, err
		}
	}
	defer pool.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS bench_hot_all, bench_hot_events`)
	var total atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	deadline := time.Now().Add(d)
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("hot-%d", w)
			var v int64
			ids := make([]string, batch)
			types := make([]string, batch)
			data := make([][]byte, batch)
			for time.Now().Before(deadline) {
				for i := range ids {
					ids[i], types[i], data[i] = eventstore.NewID(), "Deposited", benchPayload
				}
				_, err := pool.Exec(ctx, `WITH a AS (UPDATE bench_hot_all SET version = version + $1 WHERE id = 0 RETURNING version)
					INSERT INTO bench_hot_events (position, stream_id, version, event_id, type, data)
					SELECT (SELECT version FROM a) - $1 + u.ord, $2, $3 + u.ord, u.id, u.type, u.data
					FROM unnest($4::text[], $5::text[], $6::bytea[]) WITH ORDINALITY AS u(id, type, data, ord)`,
					batch, stream, v, ids, types, data)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				v += int64(batch)
				total.Add(int64(batch))
			}
		}()
	}
	wg.Wait()
	return float64(total.Load()) / time.Since(start).Seconds(), firstErr
}

// pebbleRawThroughput is the embedded baseline: the same events written
// straight into pebble by each writer as its own synced batch (pebble's own
// commit pipeline still groups concurrent syncs).
func pebbleRawThroughput(dir string, writers, batch int, d time.Duration) (float64, error) {
	db, err := pebble.Open(dir, &pebble.Options{MemTableSize: 64 << 20, Logger: quietPebble{}})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var pos atomic.Uint64
	var total atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	deadline := time.Now().Add(d)
	start := time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				b := db.NewBatch()
				for range batch {
					p := pos.Add(1)
					key := fmt.Appendf(nil, "e%016x", p)
					_ = b.Set(key, append([]byte(eventstore.NewID()), benchPayload...), nil)
				}
				err := b.Commit(pebble.Sync)
				b.Close()
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				total.Add(int64(batch))
			}
		}()
	}
	wg.Wait()
	return float64(total.Load()) / time.Since(start).Seconds(), firstErr
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)         {}
func (quietPebble) Errorf(string, ...any)        {}
func (quietPebble) Fatalf(f string, args ...any) { pebble.DefaultLogger.Fatalf(f, args...) }

// catchup reads $all from position 0 through a persistent subscription
// until it has handled n events (or the head); events/s.
func catchup(ctx context.Context, s eventstore.Store, n int) (float64, int, error) {
	head, err := s.Head(ctx)
	if err != nil {
		return 0, 0, err
	}
	var seen atomic.Int64
	done := make(chan struct{})
	var once sync.Once
	start := time.Now()
	sub, err := subscription.Start(ctx, s, subscription.Config{Name: fmt.Sprint("bench-catchup-", time.Now().UnixNano()), BatchSize: 1000,
		Logger: slog.New(slog.DiscardHandler)},
		func(_ context.Context, evs []eventstore.RecordedEvent) error {
			if seen.Add(int64(len(evs))) >= int64(n) || evs[len(evs)-1].Position >= head {
				once.Do(func() { close(done) })
			}
			return nil
		})
	if err != nil {
		return 0, 0, err
	}
	defer sub.Close()
	select {
	case <-done:
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	return float64(seen.Load()) / time.Since(start).Seconds(), int(seen.Load()), nil
}

// fill appends events with many writers in big batches until the store
// holds target events in all.
func fill(ctx context.Context, s eventstore.Store, have *int, target int, progress func(string)) error {
	const writers, batch = 16, 1000
	var next atomic.Int64
	next.Store(int64(*have))
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	lastReport := time.Now()
	var mu sync.Mutex
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(batch)
				if n > int64(target) || ctx.Err() != nil {
					return
				}
				stream := fmt.Sprintf("fill-%d", n/batch%20000)
				if _, err := s.Append(ctx, stream, eventstore.Any, benchEvents(batch)...); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				mu.Lock()
				if time.Since(lastReport) > 10*time.Second {
					lastReport = time.Now()
					progress(fmt.Sprintf("filling: %d of %d events", n, target))
				}
				mu.Unlock()
				_ = w
			}
		}()
	}
	wg.Wait()
	*have = target
	return firstErr
}

// appendP50 times one-event appends by one writer to random existing
// streams; the median in microseconds.
func appendP50(ctx context.Context, s eventstore.Store, n int) (float64, error) {
	lat := make([]time.Duration, 0, n)
	r := rand.New(rand.NewPCG(1, 2))
	for range n {
		stream := fmt.Sprintf("grow-%d", r.IntN(10000))
		t := time.Now()
		if _, err := s.Append(ctx, stream, eventstore.Any, benchEvents(1)...); err != nil {
			return 0, err
		}
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	return float64(lat[len(lat)/2].Nanoseconds()) / 1e3, nil
}

// Events runs the event store benchmarks.
func Events(ctx context.Context, cfg EventsConfig, progress func(string)) (EventsResult, error) {
	cfg = cfg.withDefaults()
	res := EventsResult{Writers: cfg.Writers, Batch: cfg.Batch, GrowthEvents: cfg.GrowthEvents, GrowthStore: cfg.GrowthStore,
		EventStoreElixir50W: 8586, EventStoreElixir1W: 4929}
	url := cfg.PostgresURL
	if url == "" {
		bin, err := pgserver.FindBin()
		if err != nil {
			return res, err
		}
		progress("starting a PostgreSQL server of the benchmark's own")
		srv, err := pgserver.Start(ctx, bin)
		if err != nil {
			return res, err
		}
		defer srv.Stop()
		url, res.PostgresStartedByRun = srv.URL(), true
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "grove-bench-events-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	quiet := slog.New(slog.DiscardHandler)
	schema := fmt.Sprintf("grove_bench_%d", time.Now().UnixNano()%1e9)
	pg, err := pgstore.Open(ctx, pgstore.Config{URL: url, Schema: schema, MaxConns: int32(cfg.Writers + 10), Logger: quiet})
	if err != nil {
		return res, err
	}
	defer func() {
		pg.Pool().Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		pg.Close()
	}()

	progress("PostgreSQL: 1 writer, batches of " + fmt.Sprint(cfg.Batch))
	if res.PGAppend1W, err = appendThroughput(ctx, pg, "w1", 1, cfg.Batch, cfg.Duration); err != nil {
		return res, err
	}
	progress(fmt.Sprintf("PostgreSQL: %d writers, batches of %d", cfg.Writers, cfg.Batch))
	if res.PGAppend50W, err = appendThroughput(ctx, pg, "w50", cfg.Writers, cfg.Batch, cfg.Duration); err != nil {
		return res, err
	}
	progress(fmt.Sprintf("PostgreSQL: %d writers, one event per append", cfg.Writers))
	if res.PGAppend50WB1, err = appendThroughput(ctx, pg, "w50b1", cfg.Writers, 1, cfg.Duration); err != nil {
		return res, err
	}
	progress("PostgreSQL baseline: the same appends through one $all row")
	if res.PGHotRow50W, err = hotRowThroughput(ctx, pg.Pool(), cfg.Writers, cfg.Batch, cfg.Duration); err != nil {
		return res, err
	}
	progress("PostgreSQL: a subscription catching up from position 0")
	if res.CatchupEPS, res.CatchupEvents, err = catchup(ctx, pg, cfg.CatchupEvents); err != nil {
		return res, err
	}

	emb, err := pebblestore.Open(pebblestore.Config{Dir: dir + "/embedded", Logger: quiet})
	if err != nil {
		return res, err
	}
	defer emb.Close()
	progress(fmt.Sprintf("embedded: %d writers, batches of %d", cfg.Writers, cfg.Batch))
	if res.EmbeddedAppend50W, err = appendThroughput(ctx, emb, "w50", cfg.Writers, cfg.Batch, cfg.Duration); err != nil {
		return res, err
	}
	progress("embedded baseline: each writer commits its own synced pebble batch")
	if res.PebbleRaw50W, err = pebbleRawThroughput(dir+"/raw", cfg.Writers, cfg.Batch, cfg.Duration); err != nil {
		return res, err
	}
	progress("embedded: a subscription catching up from position 0")
	if res.EmbeddedCatchupEPS, _, err = catchup(ctx, emb, cfg.CatchupEvents); err != nil {
		return res, err
	}

	var gs eventstore.Store = pg
	if cfg.GrowthStore == "embedded" {
		gs = emb
	}
	head, err := gs.Head(ctx)
	if err != nil {
		return res, err
	}
	have := int(head)
	small := cfg.GrowthEvents / 10
	samples := cfg.GrowthSamples
	if have < small {
		progress(fmt.Sprintf("latency growth (%s): filling to %d events", cfg.GrowthStore, small))
		if err := fill(ctx, gs, &have, small, progress); err != nil {
			return res, err
		}
	}
	if res.GrowthSmallP50Us, err = appendP50(ctx, gs, samples); err != nil {
		return res, err
	}
	progress(fmt.Sprintf("latency growth (%s): filling to %d events", cfg.GrowthStore, cfg.GrowthEvents))
	if err := fill(ctx, gs, &have, cfg.GrowthEvents, progress); err != nil {
		return res, err
	}
	if res.GrowthLargeP50Us, err = appendP50(ctx, gs, samples); err != nil {
		return res, err
	}
	res.AppendLatencyGrowth = res.GrowthLargeP50Us / res.GrowthSmallP50Us
	return res, nil
}

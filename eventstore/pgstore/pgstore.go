package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/eventstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config tunes a Store. Zero fields mean the defaults.
type Config struct {
	// URL is the database's connection string
	// ("postgres://user@host:5432/db"). Required unless Pool is set.
	URL string
	// Pool, when set, is used instead of opening one from URL; the store
	// does not close it.
	Pool *pgxpool.Pool
	// Schema holds the store's tables, created if missing. Default
	// "grove_es". A plain lower-case identifier.
	Schema string
	// MaxConns bounds the pool opened from URL. Default 60.
	MaxConns int32
	// Logger receives warnings (a lost LISTEN connection). Default
	// slog.Default().
	Logger *slog.Logger
	// LeaseTTL is how long a lease (Acquire) lasts without renewal.
	// Default 5 s.
	LeaseTTL time.Duration
	// Owner names this store's leases. Default a random id.
	Owner string
	// VisibilityWait bounds how long Head (and so ReadAll) waits for the
	// $all horizon to pass this store's own last append, and how long a
	// notification from another process waits for the horizon to pass
	// the append it announces before waking the watchers. Appends are
	// short, so the wait is usually a millisecond or two; an append
	// transaction left open (a stuck client) can make it reach the bound,
	// and then readers see what is safe so far. Default 2 s.
	VisibilityWait time.Duration
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.URL == "" && c.Pool == nil:
		return errors.New("pgstore: Config.URL or Config.Pool is required")
	case !schemaName.MatchString(c.Schema):
		return fmt.Errorf("pgstore: schema name %q is not a plain lower-case identifier", c.Schema)
	case c.MaxConns < 0:
		return fmt.Errorf("pgstore: MaxConns %d is negative", c.MaxConns)
	case c.VisibilityWait < 0:
		return fmt.Errorf("pgstore: VisibilityWait %v is negative", c.VisibilityWait)
	case c.LeaseTTL < 0 || (c.LeaseTTL > 0 && c.LeaseTTL < 30*time.Millisecond):
		return fmt.Errorf("pgstore: LeaseTTL %v is below 30ms", c.LeaseTTL)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Schema == "" {
		c.Schema = "grove_es"
	}
	if c.MaxConns == 0 {
		c.MaxConns = 60
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 5 * time.Second
	}
	if c.Owner == "" {
		c.Owner = eventstore.NewID()
	}
	if c.VisibilityWait == 0 {
		c.VisibilityWait = 2 * time.Second
	}
	return c
}

// Store is an event store in PostgreSQL. It is safe for concurrent use, by
// many goroutines and many processes on the same database and schema.
type Store struct {
	cfg      Config
	owner    string
	pool     *pgxpool.Pool
	ownPool  bool
	q        queries
	channel  string // LISTEN/NOTIFY channel
	watch    eventstore.Watchers
	hz       horizon
	notifyCh chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closed   atomic.Bool
	once     sync.Once
	// lastAppended is the highest position an append of this store
	// returned: Head waits for the horizon to pass it.
	lastAppended atomic.Uint64
}

var (
	_ eventstore.Store       = (*Store)(nil)
	_ eventstore.Checkpoints = (*Store)(nil)
)

// queries are the store's SQL with the schema filled in.
type queries struct {
	append, link, remove, horizon                   string
	readStreamFwd, readStreamBack, streamInfo       string
	readAllFwd, readAllBack                         string
	saveSnap, loadSnap, delSnap, loadCkpt, saveCkpt string
}

func newQueries(s string) queries {
	cols := `position, stream_id, version, event_id, type, data, metadata, created`
	return queries{
		append:         `SELECT o_versions, o_position FROM ` + s + `.append($1, $2, $3, $4, $5, $6, $7, $8)`,
		remove:         `SELECT ` + s + `.remove($1, $2, $3)`,
		horizon:        `SELECT o_done, o_hi, o_xips FROM ` + s + `.horizon($1)`,
		streamInfo:     `SELECT version, deleted, created FROM ` + s + `.streams WHERE stream_id = $1`,
		link:           `SELECT o_version, o_position FROM ` + s + `.link($1, $2, $3)`,
		readStreamFwd:  readStream(s, ">=", "") + ` LIMIT $3`,
		readStreamBack: readStream(s, "<=", " DESC") + ` LIMIT $3`,
		readAllFwd:     `SELECT ` + cols + ` FROM ` + s + `.events WHERE position >= $1 AND position <= $2 ORDER BY position LIMIT $3`,
		readAllBack:    `SELECT ` + cols + ` FROM ` + s + `.events WHERE position <= $1 ORDER BY position DESC LIMIT $2`,
		saveSnap: `INSERT INTO ` + s + `.snapshots (stream_id, version, type, data, created) VALUES ($1, $2, $3, $4, now())
			ON CONFLICT (stream_id) DO UPDATE SET version = $2, type = $3, data = $4, created = now()`,
		loadSnap: `SELECT version, type, data, created FROM ` + s + `.snapshots WHERE stream_id = $1`,
		delSnap:  `DELETE FROM ` + s + `.snapshots WHERE stream_id = $1`,
		loadCkpt: `SELECT position FROM ` + s + `.checkpoints WHERE name = $1`,
		saveCkpt: `INSERT INTO ` + s + `.checkpoints (name, position) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET position = $2`,
	}
}

// readStream selects a stream's own events and its links (the linked
// events, with where they were appended), in version order. Each branch
// takes its own first $3 rows by its (stream, version) index, so that the
// merge sorts at most twice the limit, never the whole stream.
func readStream(s, cmp, order string) string {
	return `(SELECT position, stream_id, version, event_id, type, data, metadata, created, '' AS ostream, 0::bigint AS oversion
		FROM ` + s + `.events WHERE stream_id = $1 AND version ` + cmp + ` $2
		ORDER BY version` + order + ` LIMIT $3)
		UNION ALL
		(SELECT e.position, l.stream_id, l.version, e.event_id, e.type, e.data, e.metadata, e.created, e.stream_id, e.version
		FROM ` + s + `.links l JOIN ` + s + `.events e ON e.position = l.position
		WHERE l.stream_id = $1 AND l.version ` + cmp + ` $2
		ORDER BY l.version` + order + ` LIMIT $3)
		ORDER BY version` + order
}

// Open connects, creates the schema if missing, and starts listening for
// other processes' appends.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Store{cfg: cfg, owner: cfg.Owner, pool: cfg.Pool, q: newQueries(cfg.Schema), channel: cfg.Schema + "_events", notifyCh: make(chan struct{}, 1)}
	if s.pool == nil {
		pc, err := pgxpool.ParseConfig(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("pgstore: %w", err)
		}
		pc.MaxConns = cfg.MaxConns
		if s.pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
			return nil, fmt.Errorf("pgstore: %w", err)
		}
		s.ownPool = true
	}
	if err := setupSchema(ctx, s.pool, cfg.Schema); err != nil {
		s.closePool()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(2)
	go s.listen()
	go s.notifier()
	return s, nil
}

func (s *Store) closePool() {
	if s.ownPool {
		s.pool.Close()
	}
}

// Pool returns the store's connection pool, for handlers that write into
// the same database (see SaveCheckpointTx).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the schema that holds the store's tables.
func (s *Store) Schema() string { return s.cfg.Schema }

// Close stops listening and closes the pool if the store opened it. It is
// idempotent.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.cancel()
		s.wg.Wait()
		s.watch.Close()
		s.closePool()
	})
	return nil
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	return ctx.Err()
}

// Watch implements eventstore.Store: it signals after this process's
// appends and after a NOTIFY from any process's store (a wake-up only).
func (s *Store) Watch() (<-chan struct{}, func()) { return s.watch.Add() }

// Append implements eventstore.Appender.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	return s.AppendMulti(ctx, eventstore.StreamAppend{Stream: stream, Expected: expected, Events: events})
}

// AppendMulti implements eventstore.Appender: one round trip, one
// transaction.
func (s *Store) AppendMulti(ctx context.Context, appends ...eventstore.StreamAppend) (eventstore.AppendResult, error) {
	appends = slices.Clone(appends)
	for i := range appends {
		appends[i].Events = slices.Clone(appends[i].Events)
	}
	if err := eventstore.ValidateAppend(appends); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := s.check(ctx); err != nil {
		return eventstore.AppendResult{}, err
	}
	// Lock order: streams by name.
	order := make([]int, len(appends))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if appends[a].Stream < appends[b].Stream {
			return -1
		}
		return 1
	})
	n := 0
	for _, a := range appends {
		n += len(a.Events)
	}
	streams := make([]string, len(appends))
	expected := make([]int64, len(appends))
	counts := make([]int32, len(appends))
	si := make([]int32, 0, n)
	ids := make([]string, 0, n)
	types := make([]string, 0, n)
	data := make([][]byte, 0, n)
	meta := make([][]byte, 0, n)
	for j, i := range order {
		a := appends[i]
		streams[j], expected[j], counts[j] = a.Stream, int64(a.Expected), int32(len(a.Events))
		for _, e := range a.Events {
			si = append(si, int32(j+1))
			ids = append(ids, e.ID)
			types = append(types, e.Type)
			data = append(data, e.Data)
			meta = append(meta, e.Metadata)
		}
	}
	var versions []int64
	var pos int64
	err := s.pool.QueryRow(ctx, s.q.append, streams, expected, counts, si, ids, types, data, meta).Scan(&versions, &pos)
	if err != nil {
		return eventstore.AppendResult{}, s.mapErr(err)
	}
	res := eventstore.AppendResult{Streams: make([]eventstore.StreamVersion, len(appends)), Position: uint64(pos)}
	for {
		last := s.lastAppended.Load()
		if res.Position <= last || s.lastAppended.CompareAndSwap(last, res.Position) {
			break
		}
	}
	for j, i := range order {
		res.Streams[i] = eventstore.StreamVersion{Stream: appends[i].Stream, Version: uint64(versions[j])}
	}
	s.changed()
	return res, nil
}

// mapErr turns the store functions' errors into the package's.
func (s *Store) mapErr(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		if s.closed.Load() {
			return eventstore.ErrClosed
		}
		return fmt.Errorf("pgstore: %w", err)
	}
	switch pe.Code {
	case "GE001":
		return fmt.Errorf("%w: %q", eventstore.ErrStreamDeleted, pe.Message)
	case "GE003":
		return fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, pe.Message)
	case "GE002":
		actual, _ := strconv.ParseUint(pe.Detail, 10, 64)
		return &eventstore.VersionError{Stream: pe.Message, Actual: actual, Exists: pe.Hint == "true", Expected: eventstore.Any}
	case "GE004":
		return fmt.Errorf("%w: %q", eventstore.ErrDuplicateEvent, pe.Message)
	case "GE005":
		return fmt.Errorf("%w: position %s", eventstore.ErrEventNotFound, pe.Message)
	case "23505": // a unique violation: two writers raced for a new stream
		return &eventstore.VersionError{Stream: pe.TableName, Exists: true, Expected: eventstore.Any}
	}
	return fmt.Errorf("pgstore: %w", err)
}

// Link implements eventstore.Appender: one call of the link function. Links
// draw no position (they hold $all back for no reader).
func (s *Store) Link(ctx context.Context, stream string, expected eventstore.ExpectedVersion, positions ...uint64) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateLink(stream, expected, positions); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := s.check(ctx); err != nil {
		return eventstore.AppendResult{}, err
	}
	ps := make([]int64, len(positions))
	for i, p := range positions {
		ps[i] = clampInt64(p)
	}
	var ver, pos int64
	if err := s.pool.QueryRow(ctx, s.q.link, stream, int64(expected), ps).Scan(&ver, &pos); err != nil {
		err = s.mapErr(err)
		var ve *eventstore.VersionError
		if errors.As(err, &ve) {
			ve.Expected = expected
		}
		return eventstore.AppendResult{}, err
	}
	s.changed()
	return eventstore.AppendResult{Streams: []eventstore.StreamVersion{{Stream: stream, Version: uint64(ver)}}, Position: uint64(pos)}, nil
}

// Delete implements eventstore.Appender.
func (s *Store) Delete(ctx context.Context, stream string, expected eventstore.ExpectedVersion, mode eventstore.DeleteMode) error {
	if err := eventstore.ValidateStream(stream); err != nil {
		return err
	}
	if !expected.Valid() {
		return fmt.Errorf("%w: expected version %v", eventstore.ErrInvalid, expected)
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, s.q.remove, stream, int64(expected), mode == eventstore.HardDelete); err != nil {
		err = s.mapErr(err)
		var ve *eventstore.VersionError
		if errors.As(err, &ve) {
			ve.Expected = expected
		}
		return err
	}
	return nil
}

// scanEvents scans rows of the events' columns, followed (links) by the
// original stream and version.
func scanEvents(rows pgx.Rows, links bool) ([]eventstore.RecordedEvent, error) {
	defer rows.Close()
	var out []eventstore.RecordedEvent
	for rows.Next() {
		var e eventstore.RecordedEvent
		var pos, ver, over int64
		dest := []any{&pos, &e.StreamID, &ver, &e.ID, &e.Type, &e.Data, &e.Metadata, &e.Created}
		if links {
			dest = append(dest, &e.OriginalStreamID, &over)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		e.Position, e.Version, e.OriginalVersion, e.Created = uint64(pos), uint64(ver), uint64(over), e.Created.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// clampInt64 maps a uint64 position or version onto PostgreSQL's bigint.
func clampInt64(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}

// ReadStream implements eventstore.Reader.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int, dir eventstore.Direction) ([]eventstore.RecordedEvent, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	// The info and the events in one snapshot.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, s.mapErr(err)
	}
	defer tx.Rollback(ctx)
	var ver int64
	var deleted bool
	var created time.Time
	err = tx.QueryRow(ctx, s.q.streamInfo, stream).Scan(&ver, &deleted, &created)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
	case err != nil:
		return nil, s.mapErr(err)
	case deleted:
		return nil, fmt.Errorf("%w: %q", eventstore.ErrStreamDeleted, stream)
	}
	var rows pgx.Rows
	if dir == eventstore.Forward {
		rows, err = tx.Query(ctx, s.q.readStreamFwd, stream, clampInt64(max(from, 1)), limit)
	} else {
		rows, err = tx.Query(ctx, s.q.readStreamBack, stream, clampInt64(from), limit)
	}
	if err != nil {
		return nil, s.mapErr(err)
	}
	evs, err := scanEvents(rows, true)
	if err != nil {
		return nil, s.mapErr(err)
	}
	return evs, tx.Commit(ctx)
}

// ReadAll implements eventstore.Reader. It reads no further than the $all
// horizon: the highest position below which every transaction that drew a
// position has ended (see the package doc).
func (s *Store) ReadAll(ctx context.Context, from uint64, limit int, dir eventstore.Direction) ([]eventstore.RecordedEvent, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	safe, err := s.Head(ctx)
	if err != nil {
		return nil, err
	}
	var rows pgx.Rows
	if dir == eventstore.Forward {
		if from > safe {
			return nil, nil
		}
		rows, err = s.pool.Query(ctx, s.q.readAllFwd, clampInt64(max(from, 1)), clampInt64(safe), limit)
	} else {
		rows, err = s.pool.Query(ctx, s.q.readAllBack, clampInt64(min(from, safe)), limit)
	}
	if err != nil {
		return nil, s.mapErr(err)
	}
	evs, err := scanEvents(rows, false)
	if err != nil {
		return nil, s.mapErr(err)
	}
	return evs, nil
}

// Head implements eventstore.Reader: the $all horizon. It waits (up to
// Config.VisibilityWait) until the horizon has passed this store's own last
// append, so that a process reads its own writes in $all.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	return s.headAtLeast(ctx, s.lastAppended.Load())
}

// headAtLeast advances the horizon until it reaches target or
// Config.VisibilityWait passes.
func (s *Store) headAtLeast(ctx context.Context, target uint64) (uint64, error) {
	deadline := time.Now().Add(s.cfg.VisibilityWait)
	wait := 200 * time.Microsecond
	for {
		safe, err := s.sampleHorizon(ctx)
		if err != nil || safe >= target || time.Now().After(deadline) {
			return safe, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return safe, nil
		case <-t.C:
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
}

func (s *Store) sampleHorizon(ctx context.Context) (uint64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	safe, err := s.hz.advance(ctx, func(ctx context.Context, pending []string) (sample, error) {
		var sm sample
		var hi int64
		err := s.pool.QueryRow(ctx, s.q.horizon, pending).Scan(&sm.done, &hi, &sm.xips)
		sm.hi = uint64(hi)
		return sm, err
	})
	if err != nil {
		return 0, s.mapErr(err)
	}
	return safe, nil
}

// StreamInfo implements eventstore.Reader.
func (s *Store) StreamInfo(ctx context.Context, stream string) (eventstore.StreamInfo, error) {
	if err := s.check(ctx); err != nil {
		return eventstore.StreamInfo{}, err
	}
	var ver int64
	info := eventstore.StreamInfo{Stream: stream}
	err := s.pool.QueryRow(ctx, s.q.streamInfo, stream).Scan(&ver, &info.Deleted, &info.Created)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.StreamInfo{}, fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
	}
	if err != nil {
		return eventstore.StreamInfo{}, s.mapErr(err)
	}
	info.Version, info.Created = uint64(ver), info.Created.UTC()
	return info, nil
}

// SaveSnapshot implements eventstore.Snapshots.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	if err := eventstore.ValidateStream(snap.Stream); err != nil {
		return err
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, s.q.saveSnap, snap.Stream, clampInt64(snap.Version), snap.Type, snap.Data)
	if err != nil {
		return s.mapErr(err)
	}
	return nil
}

// LoadSnapshot implements eventstore.Snapshots.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (eventstore.Snapshot, error) {
	if err := s.check(ctx); err != nil {
		return eventstore.Snapshot{}, err
	}
	snap := eventstore.Snapshot{Stream: stream}
	var ver int64
	err := s.pool.QueryRow(ctx, s.q.loadSnap, stream).Scan(&ver, &snap.Type, &snap.Data, &snap.Created)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Snapshot{}, fmt.Errorf("%w: %q", eventstore.ErrSnapshotNotFound, stream)
	}
	if err != nil {
		return eventstore.Snapshot{}, s.mapErr(err)
	}
	snap.Version, snap.Created = uint64(ver), snap.Created.UTC()
	return snap, nil
}

// DeleteSnapshot implements eventstore.Snapshots.
func (s *Store) DeleteSnapshot(ctx context.Context, stream string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, s.q.delSnap, stream); err != nil {
		return s.mapErr(err)
	}
	return nil
}

// LoadCheckpoint implements eventstore.Checkpoints.
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (uint64, bool, error) {
	if err := s.check(ctx); err != nil {
		return 0, false, err
	}
	var p int64
	err := s.pool.QueryRow(ctx, s.q.loadCkpt, name).Scan(&p)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, s.mapErr(err)
	}
	return uint64(p), true, nil
}

// SaveCheckpoint implements eventstore.Checkpoints.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, pos uint64) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, s.q.saveCkpt, name, clampInt64(pos)); err != nil {
		return s.mapErr(err)
	}
	return nil
}

// SaveCheckpointTx stores the named position inside tx, so that a
// projection writing its read model into this database commits its work and
// its checkpoint together: both or neither.
func (s *Store) SaveCheckpointTx(ctx context.Context, tx pgx.Tx, name string, pos uint64) error {
	if _, err := tx.Exec(ctx, s.q.saveCkpt, name, clampInt64(pos)); err != nil {
		return s.mapErr(err)
	}
	return nil
}

package pebblestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/internal/repeat"
)

// Config tunes a Store. Zero fields mean the defaults.
type Config struct {
	// Dir is the database directory, created if missing (required).
	Dir string
	// Logger receives pebble's warnings and errors. Default slog.Default().
	Logger *slog.Logger
	// MaxBatchEvents bounds the events of one group commit. Default 20,000.
	MaxBatchEvents int
	// MemTableSize is pebble's memtable size in bytes. Default 64 MiB.
	MemTableSize uint64
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("pebblestore: Config.Dir is required")
	case c.MaxBatchEvents < 0:
		return fmt.Errorf("pebblestore: MaxBatchEvents %d is negative", c.MaxBatchEvents)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBatchEvents == 0 {
		c.MaxBatchEvents = 20000
	}
	if c.MemTableSize == 0 {
		c.MemTableSize = 64 << 20
	}
	return c
}

// Store is an event store in a pebble database. It is safe for concurrent
// use.
type Store struct {
	cfg     Config
	db      *pebble.DB
	reqs    chan *request
	flights chan flight // applied groups waiting for their fsync, in order
	quit    chan struct{}
	stopped chan struct{}
	synced  chan struct{} // closed when the sync waiter has stopped
	closing sync.Once
	closed  atomic.Bool
	visible atomic.Uint64 // the last position readers of $all may see
	watch   eventstore.Watchers
	now     func() time.Time

	// Owned by the committer goroutine.
	streams map[string]streamRecord // cache of committed stream records
	head    uint64                  // the last position assigned
}

var (
	_ eventstore.Store       = (*Store)(nil)
	_ eventstore.Checkpoints = (*Store)(nil)
)

// Open opens (creating it) the store in cfg.Dir. A damaged database gives an
// error wrapping eventstore.ErrCorrupt or pebble's own.
func Open(cfg Config) (s *Store, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("pebblestore: opening %s: %v", cfg.Dir, p)
		}
	}()
	db, err := pebble.Open(cfg.Dir, &pebble.Options{
		Logger:       pebbleLogger{cfg.Logger},
		MemTableSize: cfg.MemTableSize,
	})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: opening %s: %w", cfg.Dir, err)
	}
	s = &Store{
		cfg: cfg, db: db,
		reqs:    make(chan *request, 1024),
		flights: make(chan flight, maxInFlight),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
		synced:  make(chan struct{}),
		streams: map[string]streamRecord{},
		now:     func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
	if s.head, err = s.readHead(); err != nil {
		db.Close()
		return nil, err
	}
	s.visible.Store(s.head)
	go s.commitLoop()
	go s.syncLoop()
	return s, nil
}

func (s *Store) readHead() (uint64, error) {
	v, closer, err := s.db.Get(headKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pebblestore: reading head: %w", err)
	}
	defer closer.Close()
	return decodeU64(v)
}

// Close stops the committer (appends queued behind it fail with ErrClosed)
// and closes the database. It is idempotent.
func (s *Store) Close() error {
	var err error
	s.closing.Do(func() {
		s.closed.Store(true)
		close(s.quit)
		<-s.stopped
		<-s.synced
		s.watch.Close()
		err = s.db.Close()
	})
	return err
}

// Watch implements eventstore.Store.
func (s *Store) Watch() (<-chan struct{}, func()) { return s.watch.Add() }

// request is an append or a delete for the committer.
type request struct {
	appends []eventstore.StreamAppend
	link    *linkReq
	del     *deleteReq
	res     eventstore.AppendResult
	err     error
	done    chan struct{}
}

type linkReq struct {
	stream    string
	expected  eventstore.ExpectedVersion
	positions []uint64
}

type deleteReq struct {
	stream   string
	expected eventstore.ExpectedVersion
	mode     eventstore.DeleteMode
}

func (s *Store) submit(ctx context.Context, r *request) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	r.done = make(chan struct{})
	select {
	case s.reqs <- r:
	case <-s.quit:
		return eventstore.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		// The committer may still commit it: the caller cannot know.
		return ctx.Err()
	}
}

// Append implements eventstore.Appender.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	return s.AppendMulti(ctx, eventstore.StreamAppend{Stream: stream, Expected: expected, Events: events})
}

// AppendMulti implements eventstore.Appender.
func (s *Store) AppendMulti(ctx context.Context, appends ...eventstore.StreamAppend) (eventstore.AppendResult, error) {
	appends = slices.Clone(appends)
	for i := range appends {
		appends[i].Events = slices.Clone(appends[i].Events)
	}
	if err := eventstore.ValidateAppend(appends); err != nil {
		return eventstore.AppendResult{}, err
	}
	r := &request{appends: appends}
	if err := s.submit(ctx, r); err != nil {
		return eventstore.AppendResult{}, err
	}
	return r.res, nil
}

// Link implements eventstore.Appender. A link takes a position of its own,
// under which its record names the linked event; $all reads skip it.
func (s *Store) Link(ctx context.Context, stream string, expected eventstore.ExpectedVersion, positions ...uint64) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateLink(stream, expected, positions); err != nil {
		return eventstore.AppendResult{}, err
	}
	r := &request{link: &linkReq{stream: stream, expected: expected, positions: slices.Clone(positions)}}
	if err := s.submit(ctx, r); err != nil {
		return eventstore.AppendResult{}, err
	}
	return r.res, nil
}

// Delete implements eventstore.Appender.
func (s *Store) Delete(ctx context.Context, stream string, expected eventstore.ExpectedVersion, mode eventstore.DeleteMode) error {
	if err := eventstore.ValidateStream(stream); err != nil {
		return err
	}
	if !expected.Valid() {
		return fmt.Errorf("%w: expected version %v", eventstore.ErrInvalid, expected)
	}
	return s.submit(ctx, &request{del: &deleteReq{stream: stream, expected: expected, mode: mode}})
}

// commitLoop is the committer: it takes the requests queued, checks each
// against the streams as the requests before it leave them, writes all the
// accepted ones in one synced pebble batch, and only then answers them and
// moves the visible position. So positions are assigned in commit order,
// and $all has no in-flight holes for a reader to skip.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	defer close(s.flights)
	var group []*request
	var held *request // a delete that waits for the group before it
	for {
		group = nil // the sync waiter keeps the previous one
		if held != nil {
			group, held = append(group, held), nil
		} else {
			select {
			case r := <-s.reqs:
				group = append(group, r)
			case <-s.quit:
				s.failQueued()
				return
			}
		}
		// A delete commits alone, so that it reads committed state only.
		events := group[0].events()
	drain:
		for group[0].del == nil && events < s.cfg.MaxBatchEvents {
			select {
			case r := <-s.reqs:
				if r.del != nil {
					held = r
					break drain
				}
				group = append(group, r)
				events += r.events()
			default:
				break drain
			}
		}
		s.commit(group)
	}
}

func (r *request) events() int {
	n := 1
	if r.link != nil {
		n += len(r.link.positions)
	}
	for _, a := range r.appends {
		n += len(a.Events)
	}
	return n
}

func (s *Store) failQueued() {
	for {
		select {
		case r := <-s.reqs:
			r.err = eventstore.ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

// group is the state of one group commit.
type group struct {
	s       *Store
	batch   *pebble.Batch
	pending map[string]streamRecord // streams as this group leaves them
	parts   map[string][]part       // what this group writes to each stream, for repeat checks
	key     []byte                  // scratch buffers for the batch
	val     []byte
	head    uint64
	now     time.Time
	err     error // a read error: fails the whole group
}

// part is one request's events (or links) for one stream in a group.
type part struct {
	first  uint64 // the version of its first event
	pos    uint64 // the position of its first event (of events)
	events []eventstore.EventData
	ids    []string // of links: the linked events' IDs and positions
	poss   []uint64
}

// idAt returns a repeat.IDAt for stream at record rec, as the group
// leaves it so far: this group's own writes first, then the database
// (which holds every earlier group). last is the ID the caller will
// compare the stream's last event with: the record's own last ID answers
// a mismatch without a read.
func (g *group) idAt(stream string, rec streamRecord, last string) repeat.IDAt {
	return func(v uint64) (string, uint64, bool, error) {
		if v == rec.version && rec.lastID != "" && rec.lastID != last {
			return rec.lastID, 0, true, nil
		}
		for _, p := range g.parts[stream] {
			if v < p.first {
				continue
			}
			if i := v - p.first; i < uint64(len(p.events)) {
				return p.events[i].ID, p.pos + i, true, nil
			} else if i < uint64(len(p.ids)) {
				return p.ids[i], p.poss[i], true, nil
			}
		}
		return g.s.storedID(stream, v)
	}
}

// storedID reads the ID and position of stream's event at version v from
// the database, following a link; false for a gap.
func (s *Store) storedID(stream string, v uint64) (string, uint64, bool, error) {
	pos, ok, err := indexLookup(s.db, stream, v)
	if err != nil || !ok {
		return "", 0, false, err
	}
	return s.eventID(pos, true)
}

// indexLookup finds the position of stream's version v in the index: the
// entry with the lowest version at or above v covers it.
func indexLookup(r pebble.Reader, stream string, v uint64) (uint64, bool, error) {
	prefix := streamPrefix(stream)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, false, err
	}
	defer it.Close()
	if !it.SeekGE(indexKey(stream, v)) {
		return 0, false, it.Error()
	}
	last, err := indexVersion(it.Key())
	if err != nil {
		return 0, false, err
	}
	first, pos, err := decodeIndex(last, it.Value())
	if err != nil || first > v {
		return 0, false, err
	}
	return pos + (v - first), true, nil
}

// eventID reads the ID of the event at pos; a link's record is followed
// if follow, else it counts as no event.
func (s *Store) eventID(pos uint64, follow bool) (string, uint64, bool, error) {
	b, closer, err := s.db.Get(eventKey(pos))
	if errors.Is(err, pebble.ErrNotFound) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, err
	}
	defer closer.Close()
	if isLink(b) {
		if !follow {
			return "", 0, false, nil
		}
		_, _, target, err := decodeLink(b)
		if err != nil {
			return "", 0, false, err
		}
		return s.eventID(target, false)
	}
	e, err := decodeEvent(pos, b)
	if err != nil {
		return "", 0, false, err
	}
	return e.ID, pos, true, nil
}

func (g *group) stream(name string) (streamRecord, bool) {
	if r, ok := g.pending[name]; ok {
		return r, r.version > 0 || r.deleted
	}
	r, ok, err := g.s.loadStream(name)
	if err != nil && g.err == nil {
		g.err = err
	}
	return r, ok
}

func (s *Store) loadStream(name string) (streamRecord, bool, error) {
	if r, ok := s.streams[name]; ok {
		return r, true, nil
	}
	v, closer, err := s.db.Get(streamKey(name))
	if errors.Is(err, pebble.ErrNotFound) {
		return streamRecord{}, false, nil
	}
	if err != nil {
		return streamRecord{}, false, fmt.Errorf("pebblestore: reading stream %q: %w", name, err)
	}
	defer closer.Close()
	r, err := decodeStream(v)
	if err != nil {
		return streamRecord{}, false, fmt.Errorf("stream %q: %w", name, err)
	}
	s.streams[name] = r
	return r, true, nil
}

// maxInFlight bounds the groups applied but not yet known durable.
const maxInFlight = 8

// flight is a group applied to the database whose fsync is pending.
type flight struct {
	batch *pebble.Batch
	reqs  []*request
	head  uint64
}

// commit checks and encodes one group and applies it to the database
// without waiting for the fsync: the sync waiter acknowledges it once the
// write-ahead log is durable, while the committer already prepares the next
// group. Groups enter the log in commit order, so a group is durable only
// if every group before it is.
func (s *Store) commit(reqs []*request) {
	g := &group{s: s, batch: s.db.NewBatch(), pending: map[string]streamRecord{}, parts: map[string][]part{}, head: s.head, now: s.now()}
	for _, r := range reqs {
		if r.del != nil {
			r.err = g.delete(r.del)
		} else if r.link != nil {
			r.res, r.err = g.link(r.link)
		} else {
			r.res, r.err = g.append(r.appends)
		}
	}
	if g.err == nil && g.head != s.head {
		g.err = g.batch.Set(headKey, u64(g.head), nil)
	}
	if g.err == nil && g.batch.Empty() {
		// Only rejected requests: nothing to write, but answer them in
		// order, after the groups before them.
		g.batch.Close()
		s.flights <- flight{reqs: reqs, head: s.head}
		return
	}
	if g.err == nil {
		g.err = s.db.ApplyNoSyncWait(g.batch, pebble.Sync)
	}
	if g.err != nil {
		g.batch.Close()
		s.failGroup(reqs, g.err)
		// The cache may hold nothing of this group; drop what reads
		// brought in to be safe.
		clear(s.streams)
		return
	}
	for name, rec := range g.pending {
		if rec.version == 0 && !rec.deleted {
			delete(s.streams, name)
		} else {
			s.streams[name] = rec
		}
	}
	s.head = g.head
	s.flights <- flight{batch: g.batch, reqs: reqs, head: g.head}
}

func (s *Store) failGroup(reqs []*request, cause error) {
	err := fmt.Errorf("pebblestore: commit: %w", cause)
	for _, r := range reqs {
		if r.err == nil {
			r.err = err
		}
		close(r.done)
	}
	s.cfg.Logger.Error("pebblestore: group commit failed", "err", cause, "requests", len(reqs))
}

// syncLoop waits for each applied group's fsync, in order, then publishes
// its last position to readers and answers its requests.
func (s *Store) syncLoop() {
	defer close(s.synced)
	for f := range s.flights {
		if f.batch != nil {
			err := f.batch.SyncWait()
			f.batch.Close()
			if err != nil {
				s.failGroup(f.reqs, err)
				continue
			}
			s.visible.Store(f.head)
		}
		for _, r := range f.reqs {
			close(r.done)
		}
		if f.batch != nil {
			s.watch.Notify()
		}
	}
}

// check applies the idempotence rule and then the expectations to an
// append's streams: a repeat gives the result of the events found.
func (g *group) check(appends []eventstore.StreamAppend, ids [][]string, recs []streamRecord) (eventstore.AppendResult, bool, error) {
	var kinds []repeat.Kind
	var res eventstore.AppendResult
	exists := make([]bool, len(appends))
	for i, a := range appends {
		rec, ok := g.stream(a.Stream)
		if g.err != nil {
			return eventstore.AppendResult{}, false, g.err
		}
		if rec.deleted {
			return eventstore.AppendResult{}, false, fmt.Errorf("%w: %q", eventstore.ErrStreamDeleted, a.Stream)
		}
		recs[i], exists[i] = rec, ok
		if !repeat.Needed(a.Expected, rec.version) {
			continue
		}
		var want []string
		if ids != nil {
			want = ids[i]
		} else {
			want = repeat.IDs(a.Events)
		}
		kind, ver, pos, err := repeat.Check(a.Expected, rec.version, want, g.idAt(a.Stream, rec, want[len(want)-1]))
		if err != nil {
			g.err = err
			return eventstore.AppendResult{}, false, err
		}
		if kind == repeat.None {
			continue
		}
		if kinds == nil {
			kinds = make([]repeat.Kind, len(appends))
			res.Streams = make([]eventstore.StreamVersion, len(appends))
		}
		kinds[i] = kind
		res.Streams[i] = eventstore.StreamVersion{Stream: a.Stream, Version: ver}
		res.Position = max(res.Position, pos)
	}
	if kinds != nil {
		names := make([]string, len(appends))
		for i := range appends {
			names[i] = appends[i].Stream
		}
		rep, err := repeat.Combine(names, kinds)
		if err != nil {
			return eventstore.AppendResult{}, false, err
		}
		if rep {
			return res, true, nil
		}
	}
	for i, a := range appends {
		if !a.Expected.Check(recs[i].version) {
			return eventstore.AppendResult{}, false, &eventstore.VersionError{Stream: a.Stream, Expected: a.Expected, Actual: recs[i].version, Exists: exists[i]}
		}
		if recs[i].version == 0 {
			recs[i].created = g.now
		}
	}
	return eventstore.AppendResult{}, false, nil
}

func (g *group) append(appends []eventstore.StreamAppend) (eventstore.AppendResult, error) {
	recs := make([]streamRecord, len(appends))
	if res, rep, err := g.check(appends, nil, recs); rep || err != nil {
		return res, err
	}
	res := eventstore.AppendResult{Streams: make([]eventstore.StreamVersion, len(appends))}
	for i, a := range appends {
		rec := recs[i]
		g.parts[a.Stream] = append(g.parts[a.Stream], part{first: rec.version + 1, pos: g.head + 1, events: a.Events})
		rec.lastID = a.Events[len(a.Events)-1].ID
		firstVersion, firstPos := rec.version+1, g.head+1
		for _, e := range a.Events {
			g.head++
			rec.version++
			re := eventstore.RecordedEvent{Position: g.head, StreamID: a.Stream, Version: rec.version,
				ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata, Created: g.now}
			// The batch copies key and value: the scratch buffers are reused.
			g.key = binary.BigEndian.AppendUint64(append(g.key[:0], kindEvent), g.head)
			g.val = appendEvent(g.val[:0], &re)
			if g.err = g.batch.Set(g.key, g.val, nil); g.err != nil {
				return eventstore.AppendResult{}, g.err
			}
		}
		// One index entry for the part's versions: its positions are
		// consecutive.
		if g.err = g.batch.Set(indexKey(a.Stream, rec.version), indexEntry(firstVersion, rec.version, firstPos), nil); g.err != nil {
			return eventstore.AppendResult{}, g.err
		}
		if g.err = g.batch.Set(streamKey(a.Stream), encodeStream(rec), nil); g.err != nil {
			return eventstore.AppendResult{}, g.err
		}
		g.pending[a.Stream] = rec
		res.Streams[i] = eventstore.StreamVersion{Stream: a.Stream, Version: rec.version}
	}
	res.Position = g.head
	return res, nil
}

func (g *group) link(l *linkReq) (eventstore.AppendResult, error) {
	ids := make([]string, len(l.positions))
	var maxPos uint64
	for i, p := range l.positions {
		id, _, ok, err := g.s.eventID(p, false)
		if err != nil {
			g.err = err
			return eventstore.AppendResult{}, err
		}
		if !ok {
			return eventstore.AppendResult{}, fmt.Errorf("%w: position %d", eventstore.ErrEventNotFound, p)
		}
		ids[i], maxPos = id, max(maxPos, p)
	}
	appends := []eventstore.StreamAppend{{Stream: l.stream, Expected: l.expected}}
	recs := make([]streamRecord, 1)
	if res, rep, err := g.check(appends, [][]string{ids}, recs); rep || err != nil {
		return res, err
	}
	rec := recs[0]
	g.parts[l.stream] = append(g.parts[l.stream], part{first: rec.version + 1, ids: ids, poss: l.positions})
	for _, p := range l.positions {
		g.head++
		rec.version++
		if g.err = g.batch.Set(eventKey(g.head), encodeLink(l.stream, rec.version, p), nil); g.err != nil {
			return eventstore.AppendResult{}, g.err
		}
		if g.err = g.batch.Set(indexKey(l.stream, rec.version), u64(g.head), nil); g.err != nil {
			return eventstore.AppendResult{}, g.err
		}
	}
	rec.lastID = ids[len(ids)-1]
	if g.err = g.batch.Set(streamKey(l.stream), encodeStream(rec), nil); g.err != nil {
		return eventstore.AppendResult{}, g.err
	}
	g.pending[l.stream] = rec
	return eventstore.AppendResult{Streams: []eventstore.StreamVersion{{Stream: l.stream, Version: rec.version}}, Position: maxPos}, nil
}

func (g *group) delete(d *deleteReq) error {
	rec, exists := g.stream(d.stream)
	switch {
	case g.err != nil:
		return g.err
	case !exists:
		return fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, d.stream)
	case rec.deleted && d.mode == eventstore.SoftDelete:
		return fmt.Errorf("%w: %q", eventstore.ErrStreamDeleted, d.stream)
	case !d.expected.Check(rec.version):
		return &eventstore.VersionError{Stream: d.stream, Expected: d.expected, Actual: rec.version, Exists: true}
	}
	if d.mode == eventstore.SoftDelete {
		rec.deleted = true
		g.pending[d.stream] = rec
		g.err = g.batch.Set(streamKey(d.stream), encodeStream(rec), nil)
		return g.err
	}
	// Hard: remove every event the index names, the index, the stream
	// record and the snapshot. A delete commits in a group of its own, so
	// the database holds every event of the stream.
	prefix := streamPrefix(d.stream)
	it, err := g.s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		g.err = err
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		last, err := indexVersion(it.Key())
		if err != nil {
			it.Close()
			g.err = err
			return err
		}
		first, pos, err := decodeIndex(last, it.Value())
		if err != nil {
			it.Close()
			g.err = err
			return err
		}
		if first == last {
			g.err = g.batch.Delete(eventKey(pos), nil)
		} else {
			g.err = g.batch.DeleteRange(eventKey(pos), eventKey(pos+(last-first)+1), nil)
		}
		if g.err != nil {
			it.Close()
			return g.err
		}
	}
	if g.err = it.Close(); g.err != nil {
		return g.err
	}
	if g.err = g.batch.DeleteRange(prefix, prefixEnd(prefix), nil); g.err != nil {
		return g.err
	}
	if g.err = g.batch.Delete(streamKey(d.stream), nil); g.err != nil {
		return g.err
	}
	g.err = g.batch.Delete(snapshotKey(d.stream), nil)
	g.pending[d.stream] = streamRecord{}
	return g.err
}

// prefixEnd returns the smallest key greater than every key with prefix.
func prefixEnd(prefix []byte) []byte {
	end := slices.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

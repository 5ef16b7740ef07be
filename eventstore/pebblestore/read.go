package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/grovedev/grove/eventstore"
)

type getter interface {
	Get(key []byte) ([]byte, io.Closer, error)
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	return ctx.Err()
}

// ReadStream implements eventstore.Reader.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int, dir eventstore.Direction) ([]eventstore.RecordedEvent, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	rec, ok, err := readStream(snap, stream)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
	case rec.deleted:
		return nil, fmt.Errorf("%w: %q", eventstore.ErrStreamDeleted, stream)
	}
	prefix := streamPrefix(stream)
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	// Events of groups whose fsync is still pending are not shown: a
	// reader never sees what a crash could still take back.
	visible := s.visible.Load()
	var out []eventstore.RecordedEvent
	// Each index entry covers versions first..last (one append's events
	// for the stream) at consecutive positions. The entry with the lowest
	// last version at or above from covers from.
	var valid bool
	if dir == eventstore.Forward {
		valid = it.SeekGE(indexKey(stream, max(from, 1)))
	} else if valid = from != eventstore.End && it.SeekGE(indexKey(stream, from)); !valid {
		valid = it.Last()
	}
	for ; valid && len(out) < limit; valid = step(it, dir) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		last, err := indexVersion(it.Key())
		if err != nil {
			return nil, err
		}
		first, pos, err := decodeIndex(last, it.Value())
		if err != nil {
			return nil, err
		}
		lo, hi, stepV := max(first, from), last, uint64(1)
		if dir == eventstore.Backward {
			lo, hi, stepV = min(last, from), first, ^uint64(0) // -1
		}
		if (dir == eventstore.Forward && lo > hi) || (dir == eventstore.Backward && lo < hi) {
			continue // not in range (entries cover 1..n without gaps, so only if corrupt)
		}
		for v := lo; len(out) < limit; v += stepV {
			p := pos + (v - first)
			if p > visible {
				// Not yet durable: nothing after it is (forward); skip it
				// (backward).
				if dir == eventstore.Forward {
					return out, nil
				}
			} else {
				e, ok, err := readStreamEvent(snap, p)
				if err != nil {
					return nil, err
				}
				if ok {
					out = append(out, e)
				}
			}
			if v == hi {
				break
			}
		}
	}
	return out, it.Error()
}

// readStreamEvent reads the event a stream index entry names, following a
// link; false for a link whose event was hard-deleted.
func readStreamEvent(g getter, pos uint64) (eventstore.RecordedEvent, bool, error) {
	v, closer, err := g.Get(eventKey(pos))
	if err != nil {
		return eventstore.RecordedEvent{}, false, fmt.Errorf("pebblestore: event at %d: %w", pos, err)
	}
	defer closer.Close()
	if !isLink(v) {
		e, err := decodeEvent(pos, v)
		return e, err == nil, err
	}
	stream, version, target, err := decodeLink(v)
	if err != nil {
		return eventstore.RecordedEvent{}, false, fmt.Errorf("link at %d: %w", pos, err)
	}
	tv, tcloser, err := g.Get(eventKey(target))
	if errors.Is(err, pebble.ErrNotFound) {
		return eventstore.RecordedEvent{}, false, nil
	}
	if err != nil {
		return eventstore.RecordedEvent{}, false, fmt.Errorf("pebblestore: event at %d: %w", target, err)
	}
	defer tcloser.Close()
	e, err := decodeEvent(target, tv)
	if err != nil {
		return eventstore.RecordedEvent{}, false, err
	}
	e.OriginalStreamID, e.OriginalVersion = e.StreamID, e.Version
	e.StreamID, e.Version = stream, version
	return e, true, nil
}

func step(it *pebble.Iterator, dir eventstore.Direction) bool {
	if dir == eventstore.Forward {
		return it.Next()
	}
	return it.Prev()
}

func readStream(g getter, stream string) (streamRecord, bool, error) {
	v, closer, err := g.Get(streamKey(stream))
	if errors.Is(err, pebble.ErrNotFound) {
		return streamRecord{}, false, nil
	}
	if err != nil {
		return streamRecord{}, false, err
	}
	defer closer.Close()
	r, err := decodeStream(v)
	if err != nil {
		return streamRecord{}, false, fmt.Errorf("stream %q: %w", stream, err)
	}
	return r, r.version > 0, nil
}

// ReadAll implements eventstore.Reader. It reads no further than the last
// group commit the committer has finished.
func (s *Store) ReadAll(ctx context.Context, from uint64, limit int, dir eventstore.Direction) ([]eventstore.RecordedEvent, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	visible := s.visible.Load()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: eventKey(1), UpperBound: eventKey(visible + 1)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []eventstore.RecordedEvent
	var valid bool
	if dir == eventstore.Forward {
		valid = it.SeekGE(eventKey(max(from, 1)))
	} else {
		if from >= visible {
			valid = it.Last()
		} else {
			valid = it.SeekLT(eventKey(from + 1))
		}
	}
	for ; valid && len(out) < limit; valid = step(it, dir) {
		k := it.Key()
		pos, err := decodeU64(k[1:])
		if err != nil {
			return nil, err
		}
		if isLink(it.Value()) {
			continue // a link is read through its stream only
		}
		e, err := decodeEvent(pos, it.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, it.Error()
}

// Head implements eventstore.Reader.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	return s.visible.Load(), nil
}

// StreamInfo implements eventstore.Reader.
func (s *Store) StreamInfo(ctx context.Context, stream string) (eventstore.StreamInfo, error) {
	if err := s.check(ctx); err != nil {
		return eventstore.StreamInfo{}, err
	}
	rec, ok, err := readStream(s.db, stream)
	if err != nil {
		return eventstore.StreamInfo{}, err
	}
	if !ok {
		return eventstore.StreamInfo{}, fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
	}
	return eventstore.StreamInfo{Stream: stream, Version: rec.version, Created: rec.created, Deleted: rec.deleted}, nil
}

// SaveSnapshot implements eventstore.Snapshots.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	if err := eventstore.ValidateStream(snap.Stream); err != nil {
		return err
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	snap.Created = s.now()
	return s.db.Set(snapshotKey(snap.Stream), encodeSnapshot(&snap), pebble.Sync)
}

// LoadSnapshot implements eventstore.Snapshots.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (eventstore.Snapshot, error) {
	if err := s.check(ctx); err != nil {
		return eventstore.Snapshot{}, err
	}
	v, closer, err := s.db.Get(snapshotKey(stream))
	if errors.Is(err, pebble.ErrNotFound) {
		return eventstore.Snapshot{}, fmt.Errorf("%w: %q", eventstore.ErrSnapshotNotFound, stream)
	}
	if err != nil {
		return eventstore.Snapshot{}, err
	}
	defer closer.Close()
	return decodeSnapshot(stream, v)
}

// DeleteSnapshot implements eventstore.Snapshots.
func (s *Store) DeleteSnapshot(ctx context.Context, stream string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return s.db.Delete(snapshotKey(stream), pebble.Sync)
}

// LoadCheckpoint implements eventstore.Checkpoints.
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (uint64, bool, error) {
	if err := s.check(ctx); err != nil {
		return 0, false, err
	}
	v, closer, err := s.db.Get(checkpointKey(name))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer closer.Close()
	p, err := decodeU64(v)
	return p, err == nil, err
}

// SaveCheckpoint implements eventstore.Checkpoints.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, pos uint64) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return s.db.Set(checkpointKey(name), u64(pos), pebble.Sync)
}

// pebbleLogger passes pebble's messages to the store's logger, its
// informational ones at debug level.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebblestore: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebblestore: " + fmt.Sprintf(format, args...))
}

// Fatalf must not return: pebble calls it on a broken invariant.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("pebblestore: fatal: " + fmt.Sprintf(format, args...))
	pebble.DefaultLogger.Fatalf(format, args...)
}

package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

var (
	// ErrClosed is returned by every operation on a closed Store.
	ErrClosed = errors.New("logstore: closed")
	// ErrFailed is returned by every write after one write failed: the
	// store no longer knows what reached the disk, so it accepts nothing
	// more until it is reopened.
	ErrFailed = errors.New("logstore: an earlier write failed")
)

// Options tune a Store. The zero value is ready to use.
type Options struct {
	// FS is the file system; default the operating system's. Tests pass
	// pebble's in-memory, crash-cloning or error-injecting ones.
	FS vfs.FS
	// Logger receives pebble's messages. Default discard.
	Logger *slog.Logger
	// CacheBytes is pebble's block cache size; default 8 MiB.
	CacheBytes int64
}

// Stats counts a store's writes.
type Stats struct {
	// Commits counts batches committed, Syncs those committed with an
	// fsync, Bytes their size.
	Commits, Syncs, Bytes atomic.Uint64
}

// Store is one node's Raft log database, shared by all its groups.
type Store struct {
	db    *pebble.DB
	stats Stats

	mu struct {
		sync.Mutex
		logs   map[uint64]*Log
		closed bool
		failed error
	}
}

// Open opens (creating if needed) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CacheBytes == 0 {
		opts.CacheBytes = 8 << 20
	}
	cache := pebble.NewCache(opts.CacheBytes)
	defer cache.Unref()
	db, err := pebble.Open(dir, &pebble.Options{
		FS:     opts.FS,
		Cache:  cache,
		Logger: pebbleLogger{opts.Logger},
		// Raft logs are written once and mostly deleted soon after:
		// a large memtable keeps them out of level 0.
		MemTableSize: 16 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("logstore: open %s: %w", dir, err)
	}
	s := &Store{db: db}
	s.mu.logs = map[uint64]*Log{}
	return s, nil
}

// Stats returns the store's counters.
func (s *Store) Stats() *Stats { return &s.stats }

// Close closes the database. Logs obtained from the store fail from now
// on. Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	s.mu.Unlock()
	return closeDB(s.db)
}

func (s *Store) usable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usableLocked()
}

func (s *Store) usableLocked() error {
	if s.mu.closed {
		return ErrClosed
	}
	if s.mu.failed != nil {
		return fmt.Errorf("%w: %v", ErrFailed, s.mu.failed)
	}
	return nil
}

// Groups returns the ids of the groups that have a metadata record, in
// increasing order: those to restart after the node restarts.
func (s *Store) Groups() ([]uint64, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindMeta}, UpperBound: []byte{kindMeta + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var ids []uint64
	for it.First(); it.Valid(); it.Next() {
		if len(it.Key()) != 9 {
			return nil, fmt.Errorf("%w: meta key of %d bytes", ErrCorrupt, len(it.Key()))
		}
		ids = append(ids, binary.BigEndian.Uint64(it.Key()[1:]))
	}
	return ids, it.Error()
}

// Log returns the log of group gid, loading what is stored of it. A group
// nothing was written for has an empty log.
func (s *Store) Log(gid uint64) (*Log, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(); err != nil {
		return nil, err
	}
	if l, ok := s.mu.logs[gid]; ok {
		return l, nil
	}
	l := &Log{s: s, gid: gid}
	if err := l.load(); err != nil {
		return nil, err
	}
	s.mu.logs[gid] = l
	return l, nil
}

func (s *Store) commit(b *pebble.Batch, sync bool) error {
	if err := s.usable(); err != nil {
		return err
	}
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	size := uint64(b.Len())
	if err := commitBatch(b, opt); err != nil {
		s.mu.Lock()
		if s.mu.failed == nil {
			s.mu.failed = err
		}
		s.mu.Unlock()
		return fmt.Errorf("%w: %v", ErrFailed, err)
	}
	s.stats.Commits.Add(1)
	s.stats.Bytes.Add(size)
	if sync {
		s.stats.Syncs.Add(1)
	}
	return nil
}

// fatalError is the panic value of pebbleLogger.Fatalf: pebble reports a
// failed commit (a WAL write or fsync that failed) as fatal, and the store
// turns it back into an error for the one commit, then refuses writes.
type fatalError struct{ msg string }

func (e fatalError) Error() string { return e.msg }

// closeDB closes db; after a failed commit pebble may report the broken
// WAL as fatal once more, which is an error here, not a crash.
func closeDB(db *pebble.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(fatalError)
			if !ok {
				panic(r)
			}
			err = fe
		}
	}()
	return db.Close()
}

// commitBatch commits b, turning pebble's fatal commit error into an error.
func commitBatch(b *pebble.Batch, opt *pebble.WriteOptions) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(fatalError)
			if !ok {
				panic(r)
			}
			err = fe
		}
	}()
	return b.Commit(opt)
}

func (s *Store) get(key []byte) ([]byte, bool, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, true, nil
}

// Log is the stored log of one group. It implements raft.Storage.
type Log struct {
	s   *Store
	gid uint64

	// staged is the log as it will be once every batch built so far is
	// committed: several batches may be in flight, each built on the
	// ones before it. Only the goroutine that builds batches uses it.
	staged struct {
		ok          bool
		trunc, last point
	}

	mu struct {
		sync.RWMutex
		trunc point // the entry before the first one kept
		last  point // the last entry (trunc when the log is empty)
		hs    *pb.HardState
		snap  *pb.SnapshotMetadata
		meta  []byte
	}
}

var _ raft.Storage = (*Log)(nil)

// ID returns the group id.
func (l *Log) ID() uint64 { return l.gid }

func (l *Log) load() error {
	s := l.s
	if v, ok, err := s.get(groupKey(kindHard, l.gid)); err != nil {
		return err
	} else if ok {
		if l.mu.hs, err = decodeHardState(v); err != nil {
			return fmt.Errorf("group %d hard state: %w", l.gid, err)
		}
	}
	if v, ok, err := s.get(groupKey(kindSnapshot, l.gid)); err != nil {
		return err
	} else if ok {
		snap, err := DecodeSnapshot(v)
		if err != nil {
			return fmt.Errorf("group %d snapshot: %w", l.gid, err)
		}
		l.mu.snap = snap.GetMetadata()
	}
	if v, ok, err := s.get(groupKey(kindTrunc, l.gid)); err != nil {
		return err
	} else if ok {
		if l.mu.trunc, err = decodePoint(v); err != nil {
			return fmt.Errorf("group %d truncation: %w", l.gid, err)
		}
	}
	if v, ok, err := s.get(groupKey(kindMeta, l.gid)); err != nil {
		return err
	} else if ok {
		if l.mu.meta, err = open(v); err != nil {
			return fmt.Errorf("group %d meta: %w", l.gid, err)
		}
	}
	l.mu.last = l.mu.trunc
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: entryKey(l.gid, 0), UpperBound: entryKey(l.gid, math.MaxUint64)})
	if err != nil {
		return err
	}
	defer it.Close()
	if it.Last() {
		idx := binary.BigEndian.Uint64(it.Key()[9:])
		e, err := DecodeEntry(idx, it.Value())
		if err != nil {
			return fmt.Errorf("group %d entry %d: %w", l.gid, idx, err)
		}
		if idx > l.mu.trunc.index {
			l.mu.last = point{idx, e.GetTerm()}
		}
	}
	return it.Error()
}

// Meta returns the group's metadata record, nil if none.
func (l *Log) Meta() []byte {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.meta
}

// HardState returns the stored hard state (empty if none).
func (l *Log) HardState() *pb.HardState {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.hs == nil {
		return &pb.HardState{}
	}
	return proto.Clone(l.mu.hs).(*pb.HardState)
}

// SnapshotMetadata returns the metadata of the stored snapshot, nil if
// none.
func (l *Log) SnapshotMetadata() *pb.SnapshotMetadata {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.snap
}

// InitialState implements raft.Storage: the hard state and the conf state
// of the snapshot (the group applies the log after it again on start).
func (l *Log) InitialState() (*pb.HardState, *pb.ConfState, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	hs := &pb.HardState{}
	if l.mu.hs != nil {
		hs = proto.Clone(l.mu.hs).(*pb.HardState)
	}
	cs := &pb.ConfState{}
	if l.mu.snap != nil && l.mu.snap.GetConfState() != nil {
		cs = proto.Clone(l.mu.snap.GetConfState()).(*pb.ConfState)
	}
	return hs, cs, nil
}

// FirstIndex implements raft.Storage.
func (l *Log) FirstIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.trunc.index + 1, nil
}

// LastIndex implements raft.Storage.
func (l *Log) LastIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.last.index, nil
}

// Term implements raft.Storage.
func (l *Log) Term(i uint64) (uint64, error) {
	l.mu.RLock()
	trunc, last := l.mu.trunc, l.mu.last
	l.mu.RUnlock()
	switch {
	case i < trunc.index:
		return 0, raft.ErrCompacted
	case i == trunc.index:
		return trunc.term, nil
	case i > last.index:
		return 0, raft.ErrUnavailable
	case i == last.index:
		return last.term, nil
	}
	v, ok, err := l.s.get(entryKey(l.gid, i))
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, raft.ErrUnavailable
	}
	e, err := DecodeEntry(i, v)
	if err != nil {
		return 0, err
	}
	return e.GetTerm(), nil
}

// Entries implements raft.Storage.
func (l *Log) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	l.mu.RLock()
	trunc, last := l.mu.trunc, l.mu.last
	l.mu.RUnlock()
	if lo <= trunc.index {
		return nil, raft.ErrCompacted
	}
	if hi > last.index+1 {
		return nil, raft.ErrUnavailable
	}
	if lo >= hi {
		return nil, nil
	}
	if err := l.s.usable(); err != nil {
		return nil, err
	}
	it, err := l.s.db.NewIter(&pebble.IterOptions{LowerBound: entryKey(l.gid, lo), UpperBound: entryKey(l.gid, hi)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := make([]*pb.Entry, 0, min(hi-lo, 64))
	var size uint64
	want := lo
	for it.First(); it.Valid(); it.Next() {
		idx := binary.BigEndian.Uint64(it.Key()[9:])
		if idx != want {
			return nil, raft.ErrUnavailable
		}
		e, err := DecodeEntry(idx, append([]byte(nil), it.Value()...))
		if err != nil {
			return nil, fmt.Errorf("group %d entry %d: %w", l.gid, idx, err)
		}
		size += EntrySize(e)
		if len(out) > 0 && size > maxSize {
			break
		}
		out = append(out, e)
		want++
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	if len(out) == 0 || (want < hi && size <= maxSize) {
		return nil, raft.ErrUnavailable
	}
	return out, nil
}

// EntrySize is the size raft's limits count for e, close to its encoded
// size.
func EntrySize(e *pb.Entry) uint64 { return uint64(len(e.GetData())) + 24 }

// Snapshot implements raft.Storage: the stored snapshot, or an empty one.
func (l *Log) Snapshot() (*pb.Snapshot, error) {
	v, ok, err := l.s.get(groupKey(kindSnapshot, l.gid))
	if err != nil {
		return nil, err
	}
	if !ok {
		return &pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: &pb.ConfState{}, Index: proto.Uint64(0), Term: proto.Uint64(0)}}, nil
	}
	return DecodeSnapshot(v)
}

// pebbleLogger sends pebble's messages to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error("pebble: fatal: " + msg)
	panic(fatalError{msg})
}

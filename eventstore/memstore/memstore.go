// Package memstore is an event store held in memory, for tests and for
// programs that need no durability. It implements eventstore.Store and
// eventstore.Checkpoints with the same semantics as the durable backends
// (the shared conformance suite, eventstore/storetest, runs on all of
// them).
//
// One mutex orders appends: positions are assigned under it in commit
// order, so $all has no gaps and a reader can never see a later position
// before an earlier one.
//
// # Usage
//
//	s := memstore.New()
//	defer s.Close()
//	_, err := s.Append(ctx, "account-1", eventstore.NoStream, eventstore.EventData{Type: "Opened"})
package memstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/internal/repeat"
)

// Store is an in-memory event store. It is safe for concurrent use.
type Store struct {
	watch eventstore.Watchers

	mu struct {
		sync.RWMutex
		all         []eventstore.RecordedEvent // by position; empty Type marks a hard-deleted slot or a link
		links       map[uint64]uint64          // a link's own position → the linked event's
		streams     map[string]*stream
		snapshots   map[string]eventstore.Snapshot
		checkpoints map[string]uint64
		closed      bool
	}
	now func() time.Time

	leaseMu   sync.Mutex // guards leases; leaseCond waits on it
	leaseCond *sync.Cond
	leases    map[string]*lease
}

type stream struct {
	created   time.Time
	deleted   bool
	positions []uint64 // positions of versions 1..n
}

var (
	_ eventstore.Store       = (*Store)(nil)
	_ eventstore.Checkpoints = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	s := &Store{now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	s.leaseCond = sync.NewCond(&s.leaseMu)
	s.mu.streams = map[string]*stream{}
	s.mu.links = map[uint64]uint64{}
	s.mu.snapshots = map[string]eventstore.Snapshot{}
	s.mu.checkpoints = map[string]uint64{}
	return s
}

// Close drops the store's contents; later calls fail with ErrClosed.
// Lock order: leaseMu before mu (Acquire); nothing takes leaseMu under mu.
func (s *Store) Close() error {
	s.mu.Lock()
	if !s.mu.closed {
		s.mu.closed = true
		s.mu.all, s.mu.streams, s.mu.links = nil, nil, nil
		s.watch.Close()
	}
	s.mu.Unlock()
	s.leaseMu.Lock()
	s.leaseCond.Broadcast()
	s.leaseMu.Unlock()
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.closed
}

// Watch implements eventstore.Store.
func (s *Store) Watch() (<-chan struct{}, func()) { return s.watch.Add() }

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
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	ids := make([][]string, len(appends))
	for i := range appends {
		ids[i] = repeat.IDs(appends[i].Events)
	}
	if res, rep, err := s.checkLocked(appends, ids); rep || err != nil {
		return res, err
	}
	now := s.now()
	res := eventstore.AppendResult{Streams: make([]eventstore.StreamVersion, 0, len(appends))}
	for _, a := range appends {
		st := s.mu.streams[a.Stream]
		if st == nil {
			st = &stream{created: now}
			s.mu.streams[a.Stream] = st
		}
		for _, e := range a.Events {
			pos := uint64(len(s.mu.all)) + 1
			st.positions = append(st.positions, pos)
			s.mu.all = append(s.mu.all, eventstore.RecordedEvent{
				Position: pos, StreamID: a.Stream, Version: uint64(len(st.positions)),
				ID: e.ID, Type: e.Type, Data: slices.Clone(e.Data), Metadata: slices.Clone(e.Metadata), Created: now,
			})
			res.Position = pos
		}
		res.Streams = append(res.Streams, eventstore.StreamVersion{Stream: a.Stream, Version: uint64(len(st.positions))})
	}
	s.watch.Notify()
	return res, nil
}

// checkLocked applies the idempotence rule and the expectations: a repeat
// gives the result of the events found; an error, nothing to write.
func (s *Store) checkLocked(appends []eventstore.StreamAppend, ids [][]string) (eventstore.AppendResult, bool, error) {
	kinds := make([]repeat.Kind, len(appends))
	names := make([]string, len(appends))
	res := eventstore.AppendResult{Streams: make([]eventstore.StreamVersion, len(appends))}
	for i, a := range appends {
		names[i] = a.Stream
		st := s.mu.streams[a.Stream]
		var v uint64
		if st != nil {
			if st.deleted {
				return eventstore.AppendResult{}, false, fmt.Errorf("%w: %q", eventstore.ErrStreamDeleted, a.Stream)
			}
			v = uint64(len(st.positions))
		}
		kind, ver, pos, err := repeat.Check(a.Expected, v, ids[i], func(v uint64) (string, uint64, bool, error) {
			e, ok := s.eventAt(st, v)
			return e.ID, e.Position, ok, nil
		})
		if err != nil {
			return eventstore.AppendResult{}, false, err
		}
		kinds[i] = kind
		res.Streams[i] = eventstore.StreamVersion{Stream: a.Stream, Version: ver}
		res.Position = max(res.Position, pos)
	}
	if rep, err := repeat.Combine(names, kinds); rep || err != nil {
		if err != nil {
			return eventstore.AppendResult{}, false, err
		}
		return res, true, nil
	}
	for _, a := range appends {
		st := s.mu.streams[a.Stream]
		var v uint64
		if st != nil {
			v = uint64(len(st.positions))
		}
		if !a.Expected.Check(v) {
			return eventstore.AppendResult{}, false, &eventstore.VersionError{Stream: a.Stream, Expected: a.Expected, Actual: v, Exists: st != nil}
		}
	}
	return eventstore.AppendResult{}, false, nil
}

// eventAt returns the stream's event at version v (1..n) as read from the
// stream: a link resolved, false for a link whose event is gone.
func (s *Store) eventAt(st *stream, v uint64) (eventstore.RecordedEvent, bool) {
	if st == nil || v == 0 || v > uint64(len(st.positions)) {
		return eventstore.RecordedEvent{}, false
	}
	p := st.positions[v-1]
	target, isLink := s.mu.links[p]
	if !isLink {
		return s.mu.all[p-1], true
	}
	e := s.mu.all[target-1]
	if e.Type == "" {
		return eventstore.RecordedEvent{}, false
	}
	e.OriginalStreamID, e.OriginalVersion = e.StreamID, e.Version
	link := s.mu.all[p-1]
	e.StreamID, e.Version = link.StreamID, link.Version
	return e, true
}

// Link implements eventstore.Appender: each link takes a slot of $all
// that reads as a gap there.
func (s *Store) Link(ctx context.Context, name string, expected eventstore.ExpectedVersion, positions ...uint64) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateLink(name, expected, positions); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	ids := make([]string, len(positions))
	var maxPos uint64
	for i, p := range positions {
		if p > uint64(len(s.mu.all)) || s.mu.all[p-1].Type == "" {
			return eventstore.AppendResult{}, fmt.Errorf("%w: position %d", eventstore.ErrEventNotFound, p)
		}
		ids[i] = s.mu.all[p-1].ID
		maxPos = max(maxPos, p)
	}
	appends := []eventstore.StreamAppend{{Stream: name, Expected: expected}}
	if res, rep, err := s.checkLocked(appends, [][]string{ids}); rep || err != nil {
		return res, err
	}
	st := s.mu.streams[name]
	if st == nil {
		st = &stream{created: s.now()}
		s.mu.streams[name] = st
	}
	for _, p := range positions {
		pos := uint64(len(s.mu.all)) + 1
		st.positions = append(st.positions, pos)
		s.mu.all = append(s.mu.all, eventstore.RecordedEvent{Position: pos, StreamID: name, Version: uint64(len(st.positions))})
		s.mu.links[pos] = p
	}
	s.watch.Notify()
	return eventstore.AppendResult{Streams: []eventstore.StreamVersion{{Stream: name, Version: uint64(len(st.positions))}}, Position: maxPos}, nil
}

// Delete implements eventstore.Appender.
func (s *Store) Delete(ctx context.Context, name string, expected eventstore.ExpectedVersion, mode eventstore.DeleteMode) error {
	if err := eventstore.ValidateStream(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return eventstore.ErrClosed
	}
	st := s.mu.streams[name]
	if st == nil {
		return fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, name)
	}
	if st.deleted && mode == eventstore.SoftDelete {
		return fmt.Errorf("%w: %q", eventstore.ErrStreamDeleted, name)
	}
	if v := uint64(len(st.positions)); !expected.Check(v) {
		return &eventstore.VersionError{Stream: name, Expected: expected, Actual: v, Exists: true}
	}
	if mode == eventstore.SoftDelete {
		st.deleted = true
		return nil
	}
	for _, p := range st.positions {
		s.mu.all[p-1] = eventstore.RecordedEvent{Position: p}
		delete(s.mu.links, p)
	}
	delete(s.mu.streams, name)
	delete(s.mu.snapshots, name)
	return nil
}

func (s *Store) rlock() error {
	s.mu.RLock()
	if s.mu.closed {
		s.mu.RUnlock()
		return eventstore.ErrClosed
	}
	return nil
}

// ReadStream implements eventstore.Reader.
func (s *Store) ReadStream(ctx context.Context, name string, from uint64, max int, dir eventstore.Direction) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	st := s.mu.streams[name]
	switch {
	case st == nil:
		return nil, fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, name)
	case st.deleted:
		return nil, fmt.Errorf("%w: %q", eventstore.ErrStreamDeleted, name)
	}
	var out []eventstore.RecordedEvent
	n := uint64(len(st.positions))
	if dir == eventstore.Forward {
		for v := max64(from, 1); v <= n && len(out) < max; v++ {
			if e, ok := s.eventAt(st, v); ok {
				out = append(out, clone(e))
			}
		}
		return out, nil
	}
	for v := min(from, n); v >= 1 && len(out) < max; v-- {
		if e, ok := s.eventAt(st, v); ok {
			out = append(out, clone(e))
		}
	}
	return out, nil
}

// ReadAll implements eventstore.Reader.
func (s *Store) ReadAll(ctx context.Context, from uint64, max int, dir eventstore.Direction) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var out []eventstore.RecordedEvent
	n := uint64(len(s.mu.all))
	if dir == eventstore.Forward {
		for p := max64(from, 1); p <= n && len(out) < max; p++ {
			if e := s.mu.all[p-1]; e.Type != "" {
				out = append(out, clone(e))
			}
		}
		return out, nil
	}
	for p := min(from, n); p >= 1 && len(out) < max; p-- {
		if e := s.mu.all[p-1]; e.Type != "" {
			out = append(out, clone(e))
		}
	}
	return out, nil
}

// Head implements eventstore.Reader.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if err := s.rlock(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	return uint64(len(s.mu.all)), nil
}

// StreamInfo implements eventstore.Reader.
func (s *Store) StreamInfo(ctx context.Context, name string) (eventstore.StreamInfo, error) {
	if err := s.rlock(); err != nil {
		return eventstore.StreamInfo{}, err
	}
	defer s.mu.RUnlock()
	st := s.mu.streams[name]
	if st == nil {
		return eventstore.StreamInfo{}, fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, name)
	}
	return eventstore.StreamInfo{Stream: name, Version: uint64(len(st.positions)), Created: st.created, Deleted: st.deleted}, nil
}

// SaveSnapshot implements eventstore.Snapshots.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	if err := eventstore.ValidateStream(snap.Stream); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return eventstore.ErrClosed
	}
	snap.Data = slices.Clone(snap.Data)
	snap.Created = s.now()
	s.mu.snapshots[snap.Stream] = snap
	return nil
}

// LoadSnapshot implements eventstore.Snapshots.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (eventstore.Snapshot, error) {
	if err := s.rlock(); err != nil {
		return eventstore.Snapshot{}, err
	}
	defer s.mu.RUnlock()
	snap, ok := s.mu.snapshots[stream]
	if !ok {
		return eventstore.Snapshot{}, fmt.Errorf("%w: %q", eventstore.ErrSnapshotNotFound, stream)
	}
	snap.Data = slices.Clone(snap.Data)
	return snap, nil
}

// DeleteSnapshot implements eventstore.Snapshots.
func (s *Store) DeleteSnapshot(ctx context.Context, stream string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return eventstore.ErrClosed
	}
	delete(s.mu.snapshots, stream)
	return nil
}

// LoadCheckpoint implements eventstore.Checkpoints.
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (uint64, bool, error) {
	if err := s.rlock(); err != nil {
		return 0, false, err
	}
	defer s.mu.RUnlock()
	p, ok := s.mu.checkpoints[name]
	return p, ok, nil
}

// SaveCheckpoint implements eventstore.Checkpoints.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, pos uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return eventstore.ErrClosed
	}
	s.mu.checkpoints[name] = pos
	return nil
}

func clone(e eventstore.RecordedEvent) eventstore.RecordedEvent {
	e.Data = slices.Clone(e.Data)
	e.Metadata = slices.Clone(e.Metadata)
	return e
}

func max64(a, b uint64) uint64 { return max(a, b) }

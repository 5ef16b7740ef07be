package logstore

import (
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Batch collects the writes of many groups for one commit. It is not safe
// for concurrent use. A Batch that was committed or discarded must not be
// used again.
type Batch struct {
	s       *Store
	b       *pebble.Batch
	updates map[*Log]*update
	order   []*Log
	sync    bool
	err     error
}

// update is what a batch will change in a Log's memory once committed.
type update struct {
	trunc, last *point
	hs          *pb.HardState
	snap        *pb.SnapshotMetadata
	meta        []byte
	setMeta     bool
	deleted     bool
}

// NewBatch starts a batch.
func (s *Store) NewBatch() *Batch {
	return &Batch{s: s, b: s.db.NewBatch(), updates: map[*Log]*update{}}
}

// Empty reports whether nothing was added.
func (b *Batch) Empty() bool { return len(b.order) == 0 }

// NeedsSync reports whether a write added so far asked for a sync.
func (b *Batch) NeedsSync() bool { return b.sync }

func (b *Batch) upd(l *Log) *update {
	u, ok := b.updates[l]
	if !ok {
		u = &update{}
		b.updates[l] = u
		b.order = append(b.order, l)
	}
	return u
}

// view returns l's truncation point and last entry as they will be after
// the writes added so far, to this batch and to batches built before it.
func (b *Batch) view(l *Log) (trunc, last point) {
	if l.staged.ok {
		return l.staged.trunc, l.staged.last
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.trunc, l.mu.last
}

// stage records l's view after a write.
func (b *Batch) stage(l *Log, trunc, last point) {
	l.staged.ok, l.staged.trunc, l.staged.last = true, trunc, last
}

func (b *Batch) fail(err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
}

// Append writes entries (consecutive, as raft hands them over) to l,
// replacing any stored entries from the first one's index on.
func (b *Batch) Append(l *Log, ents []*pb.Entry) {
	if len(ents) == 0 {
		return
	}
	b.sync = true
	first, lastE := ents[0].GetIndex(), ents[len(ents)-1]
	trunc, last := b.view(l)
	if first <= trunc.index {
		b.fail(fmt.Errorf("logstore: group %d: append at %d, at or before the truncation point %d", l.gid, first, trunc.index))
		return
	}
	if first > last.index+1 {
		b.fail(fmt.Errorf("logstore: group %d: append at %d leaves a gap after %d", l.gid, first, last.index))
		return
	}
	for _, e := range ents {
		b.fail(b.b.Set(entryKey(l.gid, e.GetIndex()), EncodeEntry(e), nil))
	}
	if last.index > lastE.GetIndex() {
		b.fail(b.b.DeleteRange(entryKey(l.gid, lastE.GetIndex()+1), entryKey(l.gid, math.MaxUint64), nil))
	}
	nl := point{lastE.GetIndex(), lastE.GetTerm()}
	b.upd(l).last = &nl
	b.stage(l, trunc, nl)
}

// SetHardState writes l's hard state. It asks for no sync by itself: the
// caller syncs when the term or vote changed (raft.Ready.MustSync); a
// commit index lost in a crash is learnt again from the leader.
func (b *Batch) SetHardState(l *Log, hs *pb.HardState) {
	b.fail(b.b.Set(groupKey(kindHard, l.gid), encodeHardState(hs), nil))
	b.upd(l).hs = proto.Clone(hs).(*pb.HardState)
}

// ApplySnapshot installs a snapshot received from the leader: it replaces
// l's whole log, which now starts after the snapshot.
func (b *Batch) ApplySnapshot(l *Log, snap *pb.Snapshot) {
	b.sync = true
	v, err := EncodeSnapshot(snap)
	if err != nil {
		b.fail(err)
		return
	}
	md := snap.GetMetadata()
	p := point{md.GetIndex(), md.GetTerm()}
	b.fail(b.b.Set(groupKey(kindSnapshot, l.gid), v, nil))
	b.fail(b.b.DeleteRange(entryKey(l.gid, 0), entryKey(l.gid, math.MaxUint64), nil))
	b.fail(b.b.Set(groupKey(kindTrunc, l.gid), encodePoint(p), nil))
	u := b.upd(l)
	u.trunc, u.last = &p, &p
	u.snap = proto.Clone(md).(*pb.SnapshotMetadata)
	b.stage(l, p, p)
}

// SaveSnapshot stores a snapshot the group took of its own applied state;
// the log is left as it is (Truncate drops what the snapshot covers).
func (b *Batch) SaveSnapshot(l *Log, snap *pb.Snapshot) {
	b.sync = true
	v, err := EncodeSnapshot(snap)
	if err != nil {
		b.fail(err)
		return
	}
	b.fail(b.b.Set(groupKey(kindSnapshot, l.gid), v, nil))
	b.upd(l).snap = proto.Clone(snap.GetMetadata()).(*pb.SnapshotMetadata)
}

// Truncate drops l's entries up to and including index, whose term is
// term; the stored snapshot must cover index.
func (b *Batch) Truncate(l *Log, index, term uint64) {
	trunc, last := b.view(l)
	if index <= trunc.index {
		return
	}
	if index > last.index {
		b.fail(fmt.Errorf("logstore: group %d: truncate at %d beyond the last entry %d", l.gid, index, last.index))
		return
	}
	p := point{index, term}
	b.fail(b.b.DeleteRange(entryKey(l.gid, 0), entryKey(l.gid, index+1), nil))
	b.fail(b.b.Set(groupKey(kindTrunc, l.gid), encodePoint(p), nil))
	b.upd(l).trunc = &p
	b.stage(l, p, last)
}

// SetMeta writes l's metadata record.
func (b *Batch) SetMeta(l *Log, meta []byte) {
	b.sync = true
	b.fail(b.b.Set(groupKey(kindMeta, l.gid), seal(meta), nil))
	u := b.upd(l)
	u.meta, u.setMeta = append([]byte(nil), meta...), true
}

// DeleteGroup removes everything stored of l's group. Batches commit in
// the order they were built, so the writes of batches built before this
// one cannot outlive the deletion. Once committed, l is forgotten by the
// store: Store.Log loads the group afresh (empty). Nothing more may be
// written to l.
func (b *Batch) DeleteGroup(l *Log) {
	b.sync = true
	for _, k := range []byte{kindEntry, kindHard, kindSnapshot, kindTrunc, kindMeta} {
		upper := groupKey(k, l.gid+1)
		if l.gid == math.MaxUint64 {
			upper = []byte{k + 1}
		}
		b.fail(b.b.DeleteRange(groupKey(k, l.gid), upper, nil))
	}
	u := b.upd(l)
	*u = update{deleted: true}
	b.stage(l, point{}, point{})
}

// Commit writes the batch, with one fsync when any write needs it (every
// write but Truncate and SetHardState does) or when sync is set, and then updates the
// in-memory view of each log. On error nothing is updated, and the store
// refuses further writes (ErrFailed).
func (b *Batch) Commit(sync bool) error {
	defer b.b.Close()
	if b.err != nil {
		return b.err
	}
	if len(b.order) == 0 {
		return nil
	}
	if err := b.s.commit(b.b, sync || b.sync); err != nil {
		return err
	}
	for _, l := range b.order {
		u := b.updates[l]
		if u.deleted {
			l.mu.Lock()
			l.mu.trunc, l.mu.last, l.mu.hs, l.mu.snap, l.mu.meta = point{}, point{}, nil, nil, nil
			l.mu.Unlock()
			b.s.mu.Lock()
			if b.s.mu.logs[l.gid] == l {
				delete(b.s.mu.logs, l.gid)
			}
			b.s.mu.Unlock()
			continue
		}
		l.mu.Lock()
		if u.trunc != nil {
			l.mu.trunc = *u.trunc
		}
		if u.last != nil {
			l.mu.last = *u.last
		}
		if u.hs != nil {
			l.mu.hs = u.hs
		}
		if u.snap != nil {
			l.mu.snap = u.snap
		}
		if u.setMeta {
			l.mu.meta = u.meta
		}
		l.mu.Unlock()
	}
	return nil
}

// Discard drops the batch without writing it. The logs it touched forget
// their staged view, so discard only when no other batch is in flight for
// them.
func (b *Batch) Discard() {
	for _, l := range b.order {
		l.staged.ok = false
	}
	b.b.Close()
}

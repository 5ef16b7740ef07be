package logstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

func ent(index, term uint64, data string) *pb.Entry {
	return &pb.Entry{Index: proto.Uint64(index), Term: proto.Uint64(term), Type: pb.EntryNormal.Enum(), Data: []byte(data)}
}

func mustOpen(t testing.TB, fs vfs.FS) *Store {
	t.Helper()
	s, err := Open("db", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustLog(t testing.TB, s *Store, gid uint64) *Log {
	t.Helper()
	l, err := s.Log(gid)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestAppendOverwriteTruncateReload(t *testing.T) {
	fs := vfs.NewMem()
	s := mustOpen(t, fs)
	a, b := mustLog(t, s, 1), mustLog(t, s, 2)
	bt := s.NewBatch()
	bt.Append(a, []*pb.Entry{ent(1, 1, "a1"), ent(2, 1, "a2"), ent(3, 1, "a3")})
	bt.Append(b, []*pb.Entry{ent(1, 1, "b1")})
	bt.SetHardState(a, &pb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(7), Commit: proto.Uint64(2)})
	bt.SetMeta(a, []byte("meta-a"))
	if err := bt.Commit(false); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Syncs.Load(); got != 1 {
		t.Fatalf("two groups' writes took %d syncs, want 1", got)
	}
	// A new leader overwrites index 2 on: entry 3 must go.
	bt = s.NewBatch()
	bt.Append(a, []*pb.Entry{ent(2, 2, "a2'")})
	if err := bt.Commit(false); err != nil {
		t.Fatal(err)
	}
	if li, _ := a.LastIndex(); li != 2 {
		t.Fatalf("last index %d after overwrite, want 2", li)
	}
	if tm, _ := a.Term(2); tm != 2 {
		t.Fatalf("term of 2 is %d, want 2", tm)
	}
	bt = s.NewBatch()
	bt.SaveSnapshot(a, &pb.Snapshot{Data: []byte("state@1"), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(1), Term: proto.Uint64(1), ConfState: &pb.ConfState{Voters: []uint64{7, 8}}}})
	bt.Truncate(a, 1, 1)
	if err := bt.Commit(false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Entries(1, 2, 1<<20); !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("Entries(1) after truncation: %v, want ErrCompacted", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, fs)
	defer s.Close()
	a = mustLog(t, s, 1)
	fi, _ := a.FirstIndex()
	li, _ := a.LastIndex()
	if fi != 2 || li != 2 {
		t.Fatalf("after reopen first %d last %d, want 2 2", fi, li)
	}
	es, err := a.Entries(2, 3, 1<<20)
	if err != nil || len(es) != 1 || string(es[0].Data) != "a2'" {
		t.Fatalf("entries after reopen: %v %v", es, err)
	}
	hs, cs, _ := a.InitialState()
	if hs.GetVote() != 7 || hs.GetCommit() != 2 || len(cs.Voters) != 2 {
		t.Fatalf("initial state %v %v", hs, cs)
	}
	if string(a.Meta()) != "meta-a" {
		t.Fatalf("meta %q", a.Meta())
	}
	snap, err := a.Snapshot()
	if err != nil || string(snap.Data) != "state@1" {
		t.Fatalf("snapshot %v %v", snap, err)
	}
	ids, err := s.Groups()
	if err != nil || len(ids) != 1 || ids[0] != 1 {
		t.Fatalf("groups %v %v, want [1] (only group 1 has meta)", ids, err)
	}
	// A deletion after an append in the same batch wins over it.
	bt = s.NewBatch()
	li0, _ := a.LastIndex()
	bt.Append(a, []*pb.Entry{ent(li0+1, 9, "x")})
	bt.DeleteGroup(a)
	if err := bt.Commit(false); err != nil {
		t.Fatal(err)
	}
	a = mustLog(t, s, 1)
	if li, _ := a.LastIndex(); li != 0 || a.Meta() != nil || a.SnapshotMetadata() != nil || a.HardState().GetTerm() != 0 {
		t.Fatalf("deleted group has last index %d, meta %q", li, a.Meta())
	}
	if ids, err := s.Groups(); err != nil || len(ids) != 0 {
		t.Fatalf("groups after delete %v %v", ids, err)
	}
}

func TestEntriesSizeLimitAndGaps(t *testing.T) {
	s := mustOpen(t, vfs.NewMem())
	defer s.Close()
	l := mustLog(t, s, 9)
	bt := s.NewBatch()
	var es []*pb.Entry
	for i := uint64(1); i <= 10; i++ {
		es = append(es, ent(i, 1, "0123456789"))
	}
	bt.Append(l, es)
	if err := bt.Commit(true); err != nil {
		t.Fatal(err)
	}
	got, err := l.Entries(1, 11, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("maxSize 0 gives %d entries (%v), want exactly 1", len(got), err)
	}
	got, _ = l.Entries(1, 11, 3*EntrySize(es[0]))
	if len(got) != 3 {
		t.Fatalf("size limit for 3 gives %d", len(got))
	}
	if _, err := l.Entries(5, 12, 1<<20); !errors.Is(err, raft.ErrUnavailable) {
		t.Fatalf("Entries beyond the end: %v", err)
	}
	bt = s.NewBatch()
	bt.Append(l, []*pb.Entry{ent(13, 1, "gap")})
	if err := bt.Commit(true); err == nil {
		t.Fatal("an append leaving a gap was accepted")
	}
}

// TestApplySnapshotReplacesLog checks that a snapshot from the leader drops
// every entry, also those after it.
func TestApplySnapshotReplacesLog(t *testing.T) {
	s := mustOpen(t, vfs.NewMem())
	defer s.Close()
	l := mustLog(t, s, 3)
	bt := s.NewBatch()
	bt.Append(l, []*pb.Entry{ent(1, 1, "x"), ent(2, 1, "y"), ent(3, 1, "z")})
	_ = bt.Commit(true)
	bt = s.NewBatch()
	bt.ApplySnapshot(l, &pb.Snapshot{Data: []byte("s"), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(2), Term: proto.Uint64(3), ConfState: &pb.ConfState{Voters: []uint64{1}}}})
	bt.Append(l, []*pb.Entry{ent(3, 3, "w")})
	if err := bt.Commit(false); err != nil {
		t.Fatal(err)
	}
	if tm, _ := l.Term(2); tm != 3 {
		t.Fatalf("term at the snapshot %d, want 3", tm)
	}
	es, err := l.Entries(3, 4, 100)
	if err != nil || string(es[0].Data) != "w" {
		t.Fatalf("%v %v", es, err)
	}
}

// failSyncs fails every file sync while on.
type failSyncs struct{ on atomic.Bool }

func (f *failSyncs) String() string { return "failSyncs" }
func (f *failSyncs) MaybeError(op errorfs.Op) error {
	if f.on.Load() && (op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData || op.Kind == errorfs.OpFileSyncTo) {
		return errorfs.ErrInjected
	}
	return nil
}

// TestSyncFailureStopsWrites injects an fsync failure: the commit fails,
// the in-memory view does not move, and every later write is refused.
func TestSyncFailureStopsWrites(t *testing.T) {
	inj := &failSyncs{}
	s := mustOpen(t, errorfs.Wrap(vfs.NewMem(), inj))
	defer s.Close()
	l := mustLog(t, s, 1)
	bt := s.NewBatch()
	bt.Append(l, []*pb.Entry{ent(1, 1, "ok")})
	if err := bt.Commit(true); err != nil {
		t.Fatal(err)
	}
	inj.on.Store(true)
	bt = s.NewBatch()
	bt.Append(l, []*pb.Entry{ent(2, 1, "lost")})
	if err := bt.Commit(true); !errors.Is(err, ErrFailed) {
		t.Fatalf("commit with a failing fsync: %v, want ErrFailed", err)
	}
	if li, _ := l.LastIndex(); li != 1 {
		t.Fatalf("last index %d after a failed write, want 1", li)
	}
	inj.on.Store(false)
	bt = s.NewBatch()
	bt.Append(l, []*pb.Entry{ent(2, 1, "later")})
	if err := bt.Commit(true); !errors.Is(err, ErrFailed) {
		t.Fatalf("write after a failure: %v, want ErrFailed", err)
	}
}

// model is the expected durable content of one group.
type model struct {
	trunc, snapIdx uint64
	truncTerm      uint64
	ents           map[uint64]*pb.Entry
	last           uint64
	hs             *pb.HardState
}

// TestCrashKeepsCommittedWrites is a property test: after any sequence of
// synced batches over several groups and a crash at any point (an fs
// clone holding synced data plus a random part of the rest), the reopened
// store returns exactly the committed state.
func TestCrashKeepsCommittedWrites(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fs := vfs.NewCrashableMem()
		s, err := Open("db", Options{FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		models := map[uint64]*model{}
		for gid := uint64(1); gid <= 3; gid++ {
			models[gid] = &model{ents: map[uint64]*pb.Entry{}}
		}
		term := uint64(1)
		steps := rapid.IntRange(1, 40).Draw(t, "steps")
		for i := range steps {
			bt := s.NewBatch()
			touched := map[uint64]*model{}
			for gid, m := range models {
				if !rapid.Bool().Draw(t, fmt.Sprintf("touch%d_%d", i, gid)) {
					continue
				}
				l, _ := s.Log(gid)
				mm := *m
				mm.ents = map[uint64]*pb.Entry{}
				for k, v := range m.ents {
					mm.ents[k] = v
				}
				switch rapid.IntRange(0, 3).Draw(t, "op") {
				case 0, 1: // append, maybe overwriting a suffix
					from := rapid.Uint64Range(mm.trunc+1, mm.last+1).Draw(t, "from")
					n := rapid.Uint64Range(1, 5).Draw(t, "n")
					if rapid.Bool().Draw(t, "newterm") {
						term++
					}
					var es []*pb.Entry
					for idx := from; idx < from+n; idx++ {
						e := ent(idx, term, fmt.Sprintf("g%d-%d-%d", gid, idx, term))
						es = append(es, e)
						mm.ents[idx] = e
					}
					for idx := from + n; idx <= mm.last; idx++ {
						delete(mm.ents, idx)
					}
					mm.last = from + n - 1
					bt.Append(l, es)
					hs := &pb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(gid), Commit: proto.Uint64(from)}
					bt.SetHardState(l, hs)
					mm.hs = hs
				case 2: // snapshot and truncate
					if mm.last == mm.trunc {
						continue
					}
					at := rapid.Uint64Range(mm.trunc+1, mm.last).Draw(t, "at")
					tm := mm.ents[at].GetTerm()
					bt.SaveSnapshot(l, &pb.Snapshot{Data: []byte("snap"), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(at), Term: proto.Uint64(tm), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}})
					bt.Truncate(l, at, tm)
					for idx := mm.trunc; idx <= at; idx++ {
						delete(mm.ents, idx)
					}
					mm.trunc, mm.truncTerm, mm.snapIdx = at, tm, at
				case 3: // a snapshot from the leader
					at := mm.last + rapid.Uint64Range(0, 4).Draw(t, "ahead")
					if at == 0 {
						continue
					}
					term++
					bt.ApplySnapshot(l, &pb.Snapshot{Data: []byte("leader"), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(at), Term: proto.Uint64(term), ConfState: &pb.ConfState{Voters: []uint64{1}}}})
					mm.ents = map[uint64]*pb.Entry{}
					mm.trunc, mm.truncTerm, mm.snapIdx, mm.last = at, term, at, at
				}
				touched[gid] = &mm
			}
			if err := bt.Commit(true); err != nil {
				t.Fatal(err)
			}
			for gid, mm := range touched {
				models[gid] = mm
			}
		}
		pct := rapid.IntRange(0, 100).Draw(t, "unsynced%")
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(uint64(pct), 1))})
		// The original keeps running in the background of a real crash;
		// here it is closed so the test leaks nothing.
		s.Close()
		s2, err := Open("db", Options{FS: crashed})
		if err != nil {
			t.Fatalf("reopen after crash: %v", err)
		}
		defer s2.Close()
		for gid, m := range models {
			l, err := s2.Log(gid)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := l.FirstIndex()
			li, _ := l.LastIndex()
			if fi != m.trunc+1 || li != m.last {
				t.Fatalf("group %d: first %d last %d, want %d %d", gid, fi, li, m.trunc+1, m.last)
			}
			if tm, err := l.Term(m.trunc); err != nil || tm != m.truncTerm {
				t.Fatalf("group %d: term at truncation %d (%v), want %d", gid, tm, err, m.truncTerm)
			}
			if m.last > m.trunc {
				es, err := l.Entries(m.trunc+1, m.last+1, 1<<30)
				if err != nil {
					t.Fatalf("group %d entries: %v", gid, err)
				}
				for _, e := range es {
					if w := m.ents[e.GetIndex()]; w == nil || string(w.Data) != string(e.Data) || w.GetTerm() != e.GetTerm() {
						t.Fatalf("group %d entry %d: got %q/%d want %v", gid, e.GetIndex(), e.Data, e.GetTerm(), w)
					}
				}
			}
			hs, _, _ := l.InitialState()
			if m.hs != nil && !proto.Equal(hs, m.hs) {
				t.Fatalf("group %d hard state %v want %v", gid, hs, m.hs)
			}
			if md := l.SnapshotMetadata(); m.snapIdx != 0 && (md == nil || md.GetIndex() != m.snapIdx) {
				t.Fatalf("group %d snapshot %v, want index %d", gid, md, m.snapIdx)
			}
		}
	})
}

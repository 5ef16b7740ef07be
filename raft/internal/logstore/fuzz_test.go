package logstore

import (
	"bytes"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// FuzzDecodeEntry feeds arbitrary bytes to the entry decoder: it must fail
// cleanly or return an entry that encodes back to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(EncodeEntry(ent(5, 3, "hello")))
	f.Add(EncodeEntry(&pb.Entry{Index: proto.Uint64(1), Term: proto.Uint64(1), Type: pb.EntryConfChangeV2.Enum()}))
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(7, b)
		if err != nil {
			return
		}
		if again := EncodeEntry(e); !bytes.Equal(again, b) {
			e2, err := DecodeEntry(7, again)
			if err != nil || !proto.Equal(e, e2) {
				t.Fatalf("entry does not survive re-encoding: %v vs %v (%v)", e, e2, err)
			}
		}
	})
}

// FuzzDecodeSnapshot does the same for snapshots.
func FuzzDecodeSnapshot(f *testing.F) {
	good, _ := EncodeSnapshot(&pb.Snapshot{Data: []byte("state"), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(9), Term: proto.Uint64(2), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}}})
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSnapshot(b)
		if err != nil {
			return
		}
		again, err := EncodeSnapshot(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := DecodeSnapshot(again)
		if err != nil || !proto.Equal(s, s2) {
			t.Fatalf("snapshot does not survive re-encoding: %v vs %v (%v)", s, s2, err)
		}
	})
}

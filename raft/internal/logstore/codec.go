package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// ErrCorrupt is the cause of every failure to decode a stored value.
var ErrCorrupt = errors.New("logstore: corrupt record")

// castagnoli is the CRC table of stored values.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record kinds, the first byte of every key.
const (
	kindEntry    = 'e'
	kindHard     = 'h'
	kindSnapshot = 's'
	kindTrunc    = 't'
	kindMeta     = 'm'
)

// maxEntryType is the highest raftpb.EntryType a stored entry may have.
const maxEntryType = int32(pb.EntryConfChangeV2)

func groupKey(kind byte, gid uint64) []byte {
	k := make([]byte, 9, 17)
	k[0] = kind
	binary.BigEndian.PutUint64(k[1:], gid)
	return k
}

func entryKey(gid, index uint64) []byte {
	return binary.BigEndian.AppendUint64(groupKey(kindEntry, gid), index)
}

// seal prefixes body with its CRC-32C.
func seal(body []byte) []byte {
	out := make([]byte, 4, 4+len(body))
	binary.LittleEndian.PutUint32(out, crc32.Checksum(body, castagnoli))
	return append(out, body...)
}

// open checks a sealed value and returns its body.
func open(v []byte) ([]byte, error) {
	if len(v) < 4 {
		return nil, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(v))
	}
	if crc32.Checksum(v[4:], castagnoli) != binary.LittleEndian.Uint32(v) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	return v[4:], nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint", ErrCorrupt)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: length %d beyond the value", ErrCorrupt, n)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return d.err
}

// EncodeEntry returns the stored form of e (its index is in the key).
func EncodeEntry(e *pb.Entry) []byte {
	b := make([]byte, 0, 12+len(e.GetData()))
	b = binary.AppendUvarint(b, e.GetTerm())
	b = binary.AppendUvarint(b, uint64(e.GetType()))
	b = append(b, e.GetData()...)
	return seal(b)
}

// DecodeEntry parses what EncodeEntry wrote, for the entry at index. The
// entry's data aliases v.
func DecodeEntry(index uint64, v []byte) (*pb.Entry, error) {
	body, err := open(v)
	if err != nil {
		return nil, err
	}
	d := decoder{b: body}
	term := d.uvarint()
	typ := d.uvarint()
	if d.err != nil {
		return nil, d.err
	}
	if typ > uint64(maxEntryType) {
		return nil, fmt.Errorf("%w: entry type %d", ErrCorrupt, typ)
	}
	t := pb.EntryType(typ)
	e := &pb.Entry{Term: &term, Index: &index, Type: &t}
	if len(d.b) > 0 {
		e.Data = d.b
	}
	return e, nil
}

// encodeHardState returns the stored form of hs.
func encodeHardState(hs *pb.HardState) []byte {
	b := binary.AppendUvarint(nil, hs.GetTerm())
	b = binary.AppendUvarint(b, hs.GetVote())
	b = binary.AppendUvarint(b, hs.GetCommit())
	return seal(b)
}

func decodeHardState(v []byte) (*pb.HardState, error) {
	body, err := open(v)
	if err != nil {
		return nil, err
	}
	d := decoder{b: body}
	term, vote, commit := d.uvarint(), d.uvarint(), d.uvarint()
	if err := d.end(); err != nil {
		return nil, err
	}
	return &pb.HardState{Term: &term, Vote: &vote, Commit: &commit}, nil
}

// point is an (index, term) pair: the truncation point of a log.
type point struct{ index, term uint64 }

func encodePoint(p point) []byte {
	b := binary.AppendUvarint(nil, p.index)
	return seal(binary.AppendUvarint(b, p.term))
}

func decodePoint(v []byte) (point, error) {
	body, err := open(v)
	if err != nil {
		return point{}, err
	}
	d := decoder{b: body}
	p := point{d.uvarint(), d.uvarint()}
	return p, d.end()
}

// EncodeSnapshot returns the stored form of s: its index, term, encoded
// conf state and data.
func EncodeSnapshot(s *pb.Snapshot) ([]byte, error) {
	md := s.GetMetadata()
	cs, err := proto.Marshal(md.GetConfState())
	if err != nil {
		return nil, fmt.Errorf("logstore: encode conf state: %w", err)
	}
	b := make([]byte, 0, 32+len(cs)+len(s.GetData()))
	b = binary.AppendUvarint(b, md.GetIndex())
	b = binary.AppendUvarint(b, md.GetTerm())
	b = binary.AppendUvarint(b, uint64(len(cs)))
	b = append(b, cs...)
	b = binary.AppendUvarint(b, uint64(len(s.GetData())))
	b = append(b, s.GetData()...)
	return seal(b), nil
}

// DecodeSnapshot parses what EncodeSnapshot wrote. The data aliases v.
func DecodeSnapshot(v []byte) (*pb.Snapshot, error) {
	body, err := open(v)
	if err != nil {
		return nil, err
	}
	d := decoder{b: body}
	index, term := d.uvarint(), d.uvarint()
	csb := d.bytes()
	data := d.bytes()
	if err := d.end(); err != nil {
		return nil, err
	}
	cs := &pb.ConfState{}
	if err := proto.Unmarshal(csb, cs); err != nil {
		return nil, fmt.Errorf("%w: conf state: %v", ErrCorrupt, err)
	}
	s := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: &index, Term: &term, ConfState: cs}}
	if len(data) > 0 {
		s.Data = data
	}
	return s, nil
}

package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
)

// errFormat is the cause of every failure to decode what the engine wrote
// into entries, snapshots and metadata.
var errFormat = errors.New("raft: malformed record")

// nodeID is the Raft id of a node: a hash of its name, never 0.
func nodeID(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	if v := h.Sum64(); v != 0 {
		return v
	}
	return 1
}

// groupID is the log id of a group: a hash of its name.
func groupID(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte("group:"))
	h.Write([]byte(name))
	return h.Sum64()
}

// Entry payloads start with a kind byte.
const (
	entryCommand = 1
)

// proposalTag identifies a proposal: the proposing host's nonce and a
// sequence number of that host.
type proposalTag struct {
	nonce uint64
	seq   uint64
}

func appendTag(b []byte, t proposalTag) []byte {
	b = binary.BigEndian.AppendUint64(b, t.nonce)
	return binary.AppendUvarint(b, t.seq)
}

func readTag(b []byte) (proposalTag, []byte, error) {
	if len(b) < 8 {
		return proposalTag{}, nil, fmt.Errorf("%w: short tag", errFormat)
	}
	t := proposalTag{nonce: binary.BigEndian.Uint64(b)}
	v, n := binary.Uvarint(b[8:])
	if n <= 0 {
		return proposalTag{}, nil, fmt.Errorf("%w: bad tag", errFormat)
	}
	t.seq = v
	return t, b[8+n:], nil
}

// encodeCommand is the data of a command entry.
func encodeCommand(t proposalTag, cmd []byte) []byte {
	b := make([]byte, 0, 1+8+10+len(cmd))
	b = append(b, entryCommand)
	b = appendTag(b, t)
	return append(b, cmd...)
}

// decodeCommand parses encodeCommand's output.
func decodeCommand(data []byte) (proposalTag, []byte, error) {
	if len(data) == 0 || data[0] != entryCommand {
		return proposalTag{}, nil, fmt.Errorf("%w: entry kind", errFormat)
	}
	return readTag(data[1:])
}

// encodeChangeContext is the context of a membership change: the tag of
// its proposal and the node's name.
func encodeChangeContext(t proposalTag, node string) []byte {
	return append(appendTag(nil, t), node...)
}

func decodeChangeContext(b []byte) (proposalTag, string, error) {
	t, rest, err := readTag(b)
	return t, string(rest), err
}

// snapshotVersion is the format of the engine's snapshot wrapper.
const snapshotVersion = 1

// snapshotFlagInitial marks the snapshot written when a group is
// bootstrapped: the machine starts in its initial state, not from data.
const snapshotFlagInitial = 1

// snapshotData is what the engine stores in a Raft snapshot: the member
// names (Raft knows only ids), the machine version and the machine's own
// snapshot.
type snapshotData struct {
	flags          byte
	machineVersion uint32
	members        map[uint64]string
	machine        []byte
}

func (s *snapshotData) encode() []byte {
	b := []byte{snapshotVersion, s.flags}
	b = binary.AppendUvarint(b, uint64(s.machineVersion))
	ids := make([]uint64, 0, len(s.members))
	for id := range s.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = binary.AppendUvarint(b, id)
		b = binary.AppendUvarint(b, uint64(len(s.members[id])))
		b = append(b, s.members[id]...)
	}
	b = binary.AppendUvarint(b, uint64(len(s.machine)))
	return append(b, s.machine...)
}

// maxMembers bounds the member list a snapshot may carry.
const maxMembers = 1 << 16

func decodeSnapshotData(b []byte) (*snapshotData, error) {
	if len(b) < 2 || b[0] != snapshotVersion {
		return nil, fmt.Errorf("%w: snapshot header", errFormat)
	}
	s := &snapshotData{flags: b[1], members: map[uint64]string{}}
	b = b[2:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	bytesOf := func() ([]byte, bool) {
		n, ok := next()
		if !ok || n > uint64(len(b)) {
			return nil, false
		}
		v := b[:n]
		b = b[n:]
		return v, true
	}
	mv, ok := next()
	if !ok || mv > 1<<32-1 {
		return nil, fmt.Errorf("%w: machine version", errFormat)
	}
	s.machineVersion = uint32(mv)
	n, ok := next()
	if !ok || n > maxMembers {
		return nil, fmt.Errorf("%w: member count", errFormat)
	}
	for range n {
		id, ok := next()
		name, ok2 := bytesOf()
		if !ok || !ok2 {
			return nil, fmt.Errorf("%w: member", errFormat)
		}
		s.members[id] = string(name)
	}
	m, ok := bytesOf()
	if !ok || len(b) != 0 {
		return nil, fmt.Errorf("%w: machine data", errFormat)
	}
	if len(m) > 0 {
		s.machine = m
	}
	return s, nil
}

// metaVersion is the format of a group's metadata record.
const metaVersion = 1

// encodeMeta is a group's metadata record: its name.
func encodeMeta(name string) []byte { return append([]byte{metaVersion}, name...) }

func decodeMeta(b []byte) (string, error) {
	if len(b) == 0 || b[0] != metaVersion {
		return "", fmt.Errorf("%w: group metadata", errFormat)
	}
	return string(b[1:]), nil
}

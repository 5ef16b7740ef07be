package pebblestore

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/grovedev/grove/eventstore"
)

// Keys. Every key starts with a one-byte kind.
const (
	kindEvent      = 'e' // 'e' pos(8, big endian) → event record
	kindIndex      = 's' // 's' uvarint(len) stream version(8) → pos(8), or first version(8) first pos(8)
	kindStream     = 'm' // 'm' stream → stream record
	kindSnapshot   = 'n' // 'n' stream → snapshot record
	kindCheckpoint = 'c' // 'c' name → pos(8)
	kindHead       = 'h' // 'h' → the last position assigned(8)
)

// recordVersion is the first byte of every record, for future formats.
const recordVersion = 1

// recordLink is the first byte of a link's record, under the link's own
// position: the stream and version that hold the link and the position of
// the event it names. $all reads skip it.
const recordLink = 2

func eventKey(pos uint64) []byte {
	k := make([]byte, 9)
	k[0] = kindEvent
	binary.BigEndian.PutUint64(k[1:], pos)
	return k
}

func streamPrefix(stream string) []byte {
	k := make([]byte, 0, 1+binary.MaxVarintLen64+len(stream)+8)
	k = append(k, kindIndex)
	k = binary.AppendUvarint(k, uint64(len(stream)))
	return append(k, stream...)
}

func indexKey(stream string, version uint64) []byte {
	return binary.BigEndian.AppendUint64(streamPrefix(stream), version)
}

// indexEntry is what a stream index key holds: the versions first..last
// (last is the key's) at the consecutive positions pos.., so that one
// append's events for a stream take one entry. A one-version entry (and
// every entry written before ranges) holds only the position.
func indexEntry(first, last, pos uint64) []byte {
	if first == last {
		return u64(pos)
	}
	return binary.BigEndian.AppendUint64(u64(first), pos)
}

// decodeIndex decodes an index entry under version last: the versions it
// covers start at first, at position pos.
func decodeIndex(last uint64, b []byte) (first, pos uint64, err error) {
	switch len(b) {
	case 8:
		return last, binary.BigEndian.Uint64(b), nil
	case 16:
		first, pos = binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
		if first == 0 || first > last || pos == 0 || pos+(last-first) < pos {
			return 0, 0, fmt.Errorf("%w: index entry %d..%d at %d", eventstore.ErrCorrupt, first, last, pos)
		}
		return first, pos, nil
	}
	return 0, 0, fmt.Errorf("%w: %d-byte index entry", eventstore.ErrCorrupt, len(b))
}

// indexVersion returns the version of a stream index key.
func indexVersion(key []byte) (uint64, error) {
	if len(key) < 9 {
		return 0, fmt.Errorf("%w: index key of %d bytes", eventstore.ErrCorrupt, len(key))
	}
	return binary.BigEndian.Uint64(key[len(key)-8:]), nil
}

func streamKey(stream string) []byte   { return append([]byte{kindStream}, stream...) }
func snapshotKey(stream string) []byte { return append([]byte{kindSnapshot}, stream...) }
func checkpointKey(name string) []byte { return append([]byte{kindCheckpoint}, name...) }

var headKey = []byte{kindHead}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func decodeU64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: %d-byte position", eventstore.ErrCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// streamRecord is what the store keeps of a stream.
type streamRecord struct {
	version uint64
	created time.Time
	deleted bool
	lastID  string // the ID of the stream's last event ("" in records written before it was kept)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func encodeEvent(e *eventstore.RecordedEvent) []byte {
	return appendEvent(make([]byte, 0, 32+len(e.StreamID)+len(e.ID)+len(e.Type)+len(e.Data)+len(e.Metadata)), e)
}

// appendEvent appends e's record to b.
func appendEvent(b []byte, e *eventstore.RecordedEvent) []byte {
	b = append(b, recordVersion)
	b = appendBytes(b, []byte(e.StreamID))
	b = binary.AppendUvarint(b, e.Version)
	b = appendBytes(b, []byte(e.ID))
	b = appendBytes(b, []byte(e.Type))
	b = appendBytes(b, e.Data)
	b = appendBytes(b, e.Metadata)
	return binary.AppendVarint(b, e.Created.UnixMicro())
}

func encodeStream(r streamRecord) []byte {
	b := []byte{recordVersion}
	b = binary.AppendUvarint(b, r.version)
	b = binary.AppendVarint(b, r.created.UnixMicro())
	flag := byte(0)
	if r.deleted {
		flag = 1
	}
	b = append(b, flag)
	if r.lastID != "" {
		b = appendBytes(b, []byte(r.lastID))
	}
	return b
}

func encodeLink(stream string, version, target uint64) []byte {
	b := make([]byte, 0, 24+len(stream))
	b = append(b, recordLink)
	b = appendBytes(b, []byte(stream))
	b = binary.AppendUvarint(b, version)
	return binary.AppendUvarint(b, target)
}

// isLink reports whether a record under an event key is a link's.
func isLink(b []byte) bool { return len(b) > 0 && b[0] == recordLink }

func decodeLink(b []byte) (stream string, version, target uint64, err error) {
	if !isLink(b) {
		return "", 0, 0, fmt.Errorf("%w: not a link record", eventstore.ErrCorrupt)
	}
	r := reader{b: b[1:]}
	stream = string(r.bytes("link stream", eventstore.MaxStreamIDBytes))
	version = r.uvarint("link version")
	target = r.uvarint("link target")
	if err := r.done("link"); err != nil {
		return "", 0, 0, err
	}
	if stream == "" || version == 0 || target == 0 {
		return "", 0, 0, fmt.Errorf("%w: link lacks stream, version or target", eventstore.ErrCorrupt)
	}
	return stream, version, target, nil
}

func encodeSnapshot(s *eventstore.Snapshot) []byte {
	b := []byte{recordVersion}
	b = binary.AppendUvarint(b, s.Version)
	b = appendBytes(b, []byte(s.Type))
	b = appendBytes(b, s.Data)
	return binary.AppendVarint(b, s.Created.UnixMicro())
}

// reader decodes a record; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: bad %s", eventstore.ErrCorrupt, what)
	}
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes returns a copy: pebble owns the buffer it decodes from.
func (r *reader) bytes(what string, limit int) []byte {
	n := r.uvarint(what)
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) || n > uint64(limit) {
		r.fail(what)
		return nil
	}
	if n == 0 {
		return nil
	}
	v := append([]byte(nil), r.b[:n]...)
	r.b = r.b[n:]
	return v
}

func (r *reader) version() {
	if len(r.b) == 0 || r.b[0] != recordVersion {
		r.fail("record version")
		return
	}
	r.b = r.b[1:]
}

func (r *reader) done(what string) error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes in %s", eventstore.ErrCorrupt, len(r.b), what)
	}
	return r.err
}

func decodeEvent(pos uint64, b []byte) (eventstore.RecordedEvent, error) {
	r := reader{b: b}
	r.version()
	e := eventstore.RecordedEvent{Position: pos}
	e.StreamID = string(r.bytes("stream", eventstore.MaxStreamIDBytes))
	e.Version = r.uvarint("version")
	e.ID = string(r.bytes("id", eventstore.MaxIDBytes))
	e.Type = string(r.bytes("type", eventstore.MaxTypeBytes))
	e.Data = r.bytes("data", eventstore.MaxDataBytes)
	e.Metadata = r.bytes("metadata", eventstore.MaxDataBytes)
	e.Created = time.UnixMicro(r.varint("time")).UTC()
	if err := r.done("event"); err != nil {
		return eventstore.RecordedEvent{}, err
	}
	if e.StreamID == "" || e.Version == 0 || e.Type == "" {
		return eventstore.RecordedEvent{}, fmt.Errorf("%w: event at %d lacks stream, version or type", eventstore.ErrCorrupt, pos)
	}
	return e, nil
}

func decodeStream(b []byte) (streamRecord, error) {
	r := reader{b: b}
	r.version()
	var s streamRecord
	s.version = r.uvarint("stream version")
	s.created = time.UnixMicro(r.varint("stream time")).UTC()
	if r.err == nil {
		if len(r.b) == 0 || r.b[0] > 1 {
			r.fail("stream flags")
		} else {
			s.deleted = r.b[0] == 1
			r.b = r.b[1:]
		}
	}
	if r.err == nil && len(r.b) > 0 {
		s.lastID = string(r.bytes("stream last id", eventstore.MaxIDBytes))
		if s.lastID == "" {
			r.fail("stream last id")
		}
	}
	return s, r.done("stream")
}

func decodeSnapshot(stream string, b []byte) (eventstore.Snapshot, error) {
	r := reader{b: b}
	r.version()
	s := eventstore.Snapshot{Stream: stream}
	s.Version = r.uvarint("snapshot version")
	s.Type = string(r.bytes("snapshot type", eventstore.MaxTypeBytes))
	s.Data = r.bytes("snapshot data", 1<<31)
	s.Created = time.UnixMicro(r.varint("snapshot time")).UTC()
	return s, r.done("snapshot")
}

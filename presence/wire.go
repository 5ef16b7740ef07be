package presence

import (
	"encoding/binary"
	"errors"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/internal/peerset"
	"github.com/grovedev/grove/internal/wire"
	"github.com/grovedev/grove/proc"
)

// Codec names of the messages trackers exchange.
const (
	stateTypeName     = "grove.presence.State"
	deltaTypeName     = "grove.presence.Delta"
	heartbeatTypeName = "grove.presence.Heartbeat"
)

// RegisterTypes registers the messages trackers exchange in r. Start does it
// on the node's codec.
func RegisterTypes(r *codec.Registry) error {
	return errors.Join(
		peerset.RegisterTypes(r),
		peerset.Ensure[stateMsg](r, stateTypeName),
		peerset.Ensure[deltaMsg](r, deltaTypeName),
		peerset.Ensure[heartbeatMsg](r, heartbeatTypeName),
	)
}

var errMalformed = errors.New("presence: malformed message")

// Kinds of change.
const (
	opTrack byte = iota + 1
	opUpdate
	opUntrack
)

// wireEntry is one presence of the sending node: its process is the
// sender's (same node and incarnation), so only the process ID travels.
// Meta is the metadata as the codec encoded it, nil for an untrack.
type wireEntry struct {
	Op    byte // in deltas; 0 in full reports
	Topic string
	Key   string
	ID    uint64
	Meta  []byte
}

// stateMsg is a node's full report of its presences as of its change
// number Version.
type stateMsg struct {
	From    proc.PID
	Version uint64
	Entries []wireEntry
}

// deltaMsg carries a node's changes numbered First, First+1, ...
type deltaMsg struct {
	From  proc.PID
	First uint64
	Ops   []wireEntry
}

// heartbeatMsg tells how far a node's changes go, so that a peer that
// lost the last of them notices.
type heartbeatMsg struct {
	From    proc.PID
	Version uint64
}

const wireVersion = 1

func appendFrom(b []byte, p proc.PID) []byte {
	return wire.AppendPID(append(b, wireVersion), p)
}

func appendEntries(b []byte, es []wireEntry, withOp bool) []byte {
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		if withOp {
			b = append(b, e.Op)
		}
		b = wire.AppendString(b, e.Topic)
		b = wire.AppendString(b, e.Key)
		b = binary.AppendUvarint(b, e.ID)
		b = wire.AppendBytes(b, e.Meta)
	}
	return b
}

// AppendBinary encodes the report.
func (m stateMsg) AppendBinary(b []byte) ([]byte, error) {
	b = appendFrom(b, m.From)
	b = binary.AppendUvarint(b, m.Version)
	return appendEntries(b, m.Entries, false), nil
}

// UnmarshalBinary decodes a report, checking every field.
func (m *stateMsg) UnmarshalBinary(data []byte) error {
	r := newReader(data)
	m.From = r.from()
	m.Version = r.Uvarint()
	m.Entries = r.entries(false)
	return r.Done()
}

// AppendBinary encodes the changes.
func (m deltaMsg) AppendBinary(b []byte) ([]byte, error) {
	b = appendFrom(b, m.From)
	b = binary.AppendUvarint(b, m.First)
	return appendEntries(b, m.Ops, true), nil
}

// UnmarshalBinary decodes changes, checking every field.
func (m *deltaMsg) UnmarshalBinary(data []byte) error {
	r := newReader(data)
	m.From = r.from()
	m.First = r.Uvarint()
	m.Ops = r.entries(true)
	return r.Done()
}

// AppendBinary encodes the heartbeat.
func (m heartbeatMsg) AppendBinary(b []byte) ([]byte, error) {
	return binary.AppendUvarint(appendFrom(b, m.From), m.Version), nil
}

// UnmarshalBinary decodes a heartbeat.
func (m *heartbeatMsg) UnmarshalBinary(data []byte) error {
	r := newReader(data)
	m.From = r.from()
	m.Version = r.Uvarint()
	return r.Done()
}

// reader decodes the fields of trackers' messages.
type reader struct{ wire.Reader }

func newReader(b []byte) *reader { return &reader{wire.Reader{B: b, Cause: errMalformed}} }

func (r *reader) from() proc.PID {
	if v := r.Byte(); r.Err() == nil && v != wireVersion {
		r.Fail("version %d", v)
	}
	return r.PID()
}

func (r *reader) entries(withOp bool) []wireEntry {
	n := r.Count()
	if r.Err() != nil {
		return nil
	}
	out := make([]wireEntry, 0, n)
	for range n {
		var e wireEntry
		if withOp {
			e.Op = r.Byte()
			if r.Err() == nil && (e.Op < opTrack || e.Op > opUntrack) {
				r.Fail("op %d", e.Op)
			}
		}
		e.Topic = r.String(MaxTopicLen)
		e.Key = r.String(MaxKeyLen)
		e.ID = r.Uvarint()
		if meta := r.Bytes(len(r.B)); len(meta) > 0 {
			e.Meta = append([]byte(nil), meta...)
		}
		if r.Err() == nil && (e.Topic == "" || e.ID == 0) {
			r.Fail("entry %q/%q of process %d", e.Topic, e.Key, e.ID)
		}
		if r.Err() == nil && e.Op != opUntrack && len(e.Meta) == 0 {
			r.Fail("entry without metadata")
		}
		if r.Err() != nil {
			return nil
		}
		out = append(out, e)
	}
	return out
}

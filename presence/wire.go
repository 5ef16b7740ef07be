package presence

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/internal/peerset"
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

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendFrom(b []byte, p proc.PID) []byte {
	b = append(b, wireVersion)
	b = appendString(b, p.Node)
	b = binary.AppendUvarint(b, p.Creation)
	return binary.AppendUvarint(b, p.ID)
}

func appendEntries(b []byte, es []wireEntry, withOp bool) []byte {
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		if withOp {
			b = append(b, e.Op)
		}
		b = appendString(b, e.Topic)
		b = appendString(b, e.Key)
		b = binary.AppendUvarint(b, e.ID)
		b = binary.AppendUvarint(b, uint64(len(e.Meta)))
		b = append(b, e.Meta...)
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
	r := reader{b: data}
	m.From = r.from()
	m.Version = r.uvarint()
	m.Entries = r.entries(false)
	return r.done()
}

// AppendBinary encodes the changes.
func (m deltaMsg) AppendBinary(b []byte) ([]byte, error) {
	b = appendFrom(b, m.From)
	b = binary.AppendUvarint(b, m.First)
	return appendEntries(b, m.Ops, true), nil
}

// UnmarshalBinary decodes changes, checking every field.
func (m *deltaMsg) UnmarshalBinary(data []byte) error {
	r := reader{b: data}
	m.From = r.from()
	m.First = r.uvarint()
	m.Ops = r.entries(true)
	return r.done()
}

// AppendBinary encodes the heartbeat.
func (m heartbeatMsg) AppendBinary(b []byte) ([]byte, error) {
	return binary.AppendUvarint(appendFrom(b, m.From), m.Version), nil
}

// UnmarshalBinary decodes a heartbeat.
func (m *heartbeatMsg) UnmarshalBinary(data []byte) error {
	r := reader{b: data}
	m.From = r.from()
	m.Version = r.uvarint()
	return r.done()
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) bytes(max int) []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(r.b)) {
		r.fail("%d bytes", n)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string(max int) string { return string(r.bytes(max)) }

func (r *reader) from() proc.PID {
	if v := r.byte(); r.err == nil && v != wireVersion {
		r.fail("version %d", v)
	}
	p := proc.PID{Node: r.string(1024), Creation: r.uvarint(), ID: r.uvarint()}
	if r.err == nil && (p.Node == "" || p.ID == 0) {
		r.fail("sender %v", p)
	}
	return p
}

func (r *reader) entries(withOp bool) []wireEntry {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.fail("%d entries in %d bytes", n, len(r.b))
	}
	if r.err != nil {
		return nil
	}
	out := make([]wireEntry, 0, n)
	for range n {
		var e wireEntry
		if withOp {
			e.Op = r.byte()
			if r.err == nil && (e.Op < opTrack || e.Op > opUntrack) {
				r.fail("op %d", e.Op)
			}
		}
		e.Topic = r.string(MaxTopicLen)
		e.Key = r.string(MaxKeyLen)
		e.ID = r.uvarint()
		if meta := r.bytes(len(r.b)); len(meta) > 0 {
			e.Meta = append([]byte(nil), meta...)
		}
		if r.err == nil && (e.Topic == "" || e.ID == 0) {
			r.fail("entry %q/%q of process %d", e.Topic, e.Key, e.ID)
		}
		if r.err == nil && e.Op != opUntrack && len(e.Meta) == 0 {
			r.fail("entry without metadata")
		}
		if r.err != nil {
			return nil
		}
		out = append(out, e)
	}
	return out
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d bytes left", len(r.b))
	}
	return r.err
}

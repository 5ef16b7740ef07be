package pg

import (
	"encoding/binary"
	"errors"
	"slices"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/internal/peerset"
	"github.com/grovedev/grove/internal/wire"
	"github.com/grovedev/grove/proc"
)

// Codec names of the messages scopes exchange.
const (
	syncTypeName   = "grove.pg.Sync"
	deltaTypeName  = "grove.pg.Delta"
	digestTypeName = "grove.pg.Digest"
)

// RegisterTypes registers the messages scopes exchange in r. Start does it
// on the node's codec.
func RegisterTypes(r *codec.Registry) error {
	return errors.Join(
		peerset.RegisterTypes(r),
		peerset.Ensure[syncMsg](r, syncTypeName),
		peerset.Ensure[deltaMsg](r, deltaTypeName),
		peerset.Ensure[digestMsg](r, digestTypeName),
	)
}

// errMalformed is wrapped by the errors of messages that do not decode.
var errMalformed = errors.New("pg: malformed message")

// syncMsg is a node's full report of its own members: the members of every
// group that joined on it, as of its change number Version. The members are
// processes of the sender's node and incarnation, so only their IDs travel.
type syncMsg struct {
	From    proc.PID
	Version uint64
	Groups  map[string][]proc.PID
}

// deltaMsg carries a node's changes numbered First, First+1, ...
type deltaMsg struct {
	From  proc.PID
	First uint64
	Ops   []op
}

// digestMsg is a node's anti-entropy digest: the number of its last change
// and the sum of memberHash over its members as of that change.
type digestMsg struct {
	From    proc.PID
	Version uint64
	Sum     uint64
}

// AppendBinary encodes the digest.
func (m digestMsg) AppendBinary(b []byte) ([]byte, error) {
	b = appendFrom(b, m.From)
	b = binary.AppendUvarint(b, m.Version)
	return binary.AppendUvarint(b, m.Sum), nil
}

// UnmarshalBinary decodes a digest, checking every field.
func (m *digestMsg) UnmarshalBinary(data []byte) error {
	r := newReader(data)
	m.From = r.from()
	m.Version = r.Uvarint()
	m.Sum = r.Uvarint()
	return r.Done()
}

// op is one local change: processes joined or left a group.
type op struct {
	Kind  Kind
	Group string
	PIDs  []proc.PID
}

const wireVersion = 1

func appendFrom(b []byte, p proc.PID) []byte {
	return wire.AppendPID(append(b, wireVersion), p)
}

func appendIDs(b []byte, pids []proc.PID) []byte {
	b = binary.AppendUvarint(b, uint64(len(pids)))
	for _, p := range pids {
		b = binary.AppendUvarint(b, p.ID)
	}
	return b
}

// AppendBinary encodes the report.
func (m syncMsg) AppendBinary(b []byte) ([]byte, error) {
	b = appendFrom(b, m.From)
	b = binary.AppendUvarint(b, m.Version)
	names := make([]string, 0, len(m.Groups))
	for name := range m.Groups {
		names = append(names, name)
	}
	slices.Sort(names)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, name := range names {
		b = wire.AppendString(b, name)
		b = appendIDs(b, m.Groups[name])
	}
	return b, nil
}

// UnmarshalBinary decodes a report, checking every field.
func (m *syncMsg) UnmarshalBinary(data []byte) error {
	r := newReader(data)
	m.From = r.from()
	m.Version = r.Uvarint()
	n := r.Count()
	m.Groups = make(map[string][]proc.PID, n)
	for range n {
		name := r.group()
		pids := r.pids(m.From)
		if r.Err() != nil {
			break
		}
		if _, dup := m.Groups[name]; dup {
			r.Fail("group %q twice", name)
			break
		}
		m.Groups[name] = pids
	}
	return r.Done()
}

// AppendBinary encodes the changes.
func (m deltaMsg) AppendBinary(b []byte) ([]byte, error) {
	b = appendFrom(b, m.From)
	b = binary.AppendUvarint(b, m.First)
	b = binary.AppendUvarint(b, uint64(len(m.Ops)))
	for _, o := range m.Ops {
		b = append(b, byte(o.Kind))
		b = wire.AppendString(b, o.Group)
		b = appendIDs(b, o.PIDs)
	}
	return b, nil
}

// UnmarshalBinary decodes changes, checking every field.
func (m *deltaMsg) UnmarshalBinary(data []byte) error {
	r := newReader(data)
	m.From = r.from()
	m.First = r.Uvarint()
	n := r.Count()
	m.Ops = make([]op, 0, n)
	for range n {
		k := Kind(r.Byte())
		if r.Err() == nil && k != Joined && k != Left {
			r.Fail("kind %d", k)
		}
		o := op{Kind: k, Group: r.group(), PIDs: r.pids(m.From)}
		if r.Err() != nil {
			break
		}
		m.Ops = append(m.Ops, o)
	}
	return r.Done()
}

// reader decodes the fields of scopes' messages.
type reader struct{ wire.Reader }

func newReader(b []byte) *reader { return &reader{wire.Reader{B: b, Cause: errMalformed}} }

func (r *reader) group() string {
	g := r.String(MaxGroupLen)
	if r.Err() == nil && g == "" {
		r.Fail("empty group")
	}
	return g
}

func (r *reader) from() proc.PID {
	if v := r.Byte(); r.Err() == nil && v != wireVersion {
		r.Fail("version %d", v)
	}
	return r.PID()
}

// pids reads members of from's node and incarnation.
func (r *reader) pids(from proc.PID) []proc.PID {
	n := r.Count()
	if r.Err() != nil {
		return nil
	}
	out := make([]proc.PID, 0, n)
	for range n {
		id := r.Uvarint()
		if r.Err() != nil {
			return nil
		}
		if id == 0 {
			r.Fail("process id 0")
			return nil
		}
		out = append(out, proc.PID{Node: from.Node, Creation: from.Creation, ID: id})
	}
	return out
}

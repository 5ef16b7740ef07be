package pg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/internal/peerset"
	"github.com/grovedev/grove/proc"
)

// Codec names of the messages scopes exchange.
const (
	syncTypeName  = "grove.pg.Sync"
	deltaTypeName = "grove.pg.Delta"
)

// RegisterTypes registers the messages scopes exchange in r. Start does it
// on the node's codec.
func RegisterTypes(r *codec.Registry) error {
	return errors.Join(
		peerset.RegisterTypes(r),
		peerset.Ensure[syncMsg](r, syncTypeName),
		peerset.Ensure[deltaMsg](r, deltaTypeName),
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

// op is one local change: processes joined or left a group.
type op struct {
	Kind  Kind
	Group string
	PIDs  []proc.PID
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
		b = appendString(b, name)
		b = appendIDs(b, m.Groups[name])
	}
	return b, nil
}

// UnmarshalBinary decodes a report, checking every field.
func (m *syncMsg) UnmarshalBinary(data []byte) error {
	r := reader{b: data}
	m.From = r.from()
	m.Version = r.uvarint()
	n := r.count()
	m.Groups = make(map[string][]proc.PID, n)
	for range n {
		name := r.group()
		pids := r.pids(m.From)
		if r.err != nil {
			break
		}
		if _, dup := m.Groups[name]; dup {
			r.err = fmt.Errorf("%w: group %q twice", errMalformed, name)
			break
		}
		m.Groups[name] = pids
	}
	return r.done()
}

// AppendBinary encodes the changes.
func (m deltaMsg) AppendBinary(b []byte) ([]byte, error) {
	b = appendFrom(b, m.From)
	b = binary.AppendUvarint(b, m.First)
	b = binary.AppendUvarint(b, uint64(len(m.Ops)))
	for _, o := range m.Ops {
		b = append(b, byte(o.Kind))
		b = appendString(b, o.Group)
		b = appendIDs(b, o.PIDs)
	}
	return b, nil
}

// UnmarshalBinary decodes changes, checking every field.
func (m *deltaMsg) UnmarshalBinary(data []byte) error {
	r := reader{b: data}
	m.From = r.from()
	m.First = r.uvarint()
	n := r.count()
	m.Ops = make([]op, 0, n)
	for range n {
		k := Kind(r.byte())
		if r.err == nil && k != Joined && k != Left {
			r.err = fmt.Errorf("%w: kind %d", errMalformed, k)
		}
		o := op{Kind: k, Group: r.group(), PIDs: r.pids(m.From)}
		if r.err != nil {
			break
		}
		m.Ops = append(m.Ops, o)
	}
	return r.done()
}

// reader decodes fields; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad varint", errMalformed)
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
		r.err = fmt.Errorf("%w: truncated", errMalformed)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// count reads a number of elements, each taking at least one byte.
func (r *reader) count() int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: %d elements in %d bytes", errMalformed, n, len(r.b))
		return 0
	}
	return int(n)
}

func (r *reader) string(max int) string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(max) || n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: string of %d bytes", errMalformed, n)
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) group() string {
	g := r.string(MaxGroupLen)
	if r.err == nil && g == "" {
		r.err = fmt.Errorf("%w: empty group", errMalformed)
	}
	return g
}

func (r *reader) from() proc.PID {
	if v := r.byte(); r.err == nil && v != wireVersion {
		r.err = fmt.Errorf("%w: version %d", errMalformed, v)
	}
	p := proc.PID{Node: r.string(1024), Creation: r.uvarint(), ID: r.uvarint()}
	if r.err == nil && (p.Node == "" || p.ID == 0) {
		r.err = fmt.Errorf("%w: sender %v", errMalformed, p)
	}
	return p
}

// pids reads members of from's node and incarnation.
func (r *reader) pids(from proc.PID) []proc.PID {
	n := r.count()
	if r.err != nil {
		return nil
	}
	out := make([]proc.PID, 0, n)
	for range n {
		id := r.uvarint()
		if r.err != nil {
			return nil
		}
		if id == 0 {
			r.err = fmt.Errorf("%w: process id 0", errMalformed)
			return nil
		}
		out = append(out, proc.PID{Node: from.Node, Creation: from.Creation, ID: id})
	}
	return out
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%w: %d bytes left", errMalformed, len(r.b))
	}
	return r.err
}

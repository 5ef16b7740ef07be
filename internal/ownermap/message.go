package ownermap

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/proc"
)

// syncMsg is what the maps of one name on two nodes exchange: the sender's
// digest (its acknowledgement of everything it has) and deltas.
type syncMsg struct {
	From   Origin
	Digest []originSeq
	Deltas []delta
}

type originSeq struct {
	Origin
	Seq uint64
}

// delta carries the changes of one origin in (Base, Upto], or with Full
// its whole state at Upto.
type delta struct {
	Origin
	Full       bool
	Base, Upto uint64
	Entries    []wireEntry
	Removed    []wireTomb
}

type wireEntry struct {
	ID, Ver    uint64
	Key        string
	PID        proc.PID
	Claim      Claim
	Supersedes Ref
	Value      []byte // encoded with the node's codec
	value      any    // decoded, filled in by the receiver
}

type wireTomb struct {
	ID, Seq uint64
	Why     Reason
}

// Wire limits: a message that breaks them is refused whole.
const (
	maxNodeLen = 255
	// MaxKeyLen bounds a key.
	MaxKeyLen = 4096
	// MaxValueLen bounds an encoded value.
	MaxValueLen = 1 << 20
	wireVersion = 1
)

// ErrMalformed is wrapped by the error of a sync message that does not
// decode.
var ErrMalformed = errors.New("ownermap: malformed sync message")

// RegisterTypes registers the sync message in a node's codec. Every node
// running a map needs it before it starts talking.
// Registering again is not an error.
func RegisterTypes(r *codec.Registry) error {
	for _, err := range []error{
		codec.Register[syncMsg](r, "grove.ownermap.sync"),
		codec.Register[probeMsg](r, "grove.ownermap.probe"),
	} {
		if err != nil && !errors.Is(err, codec.ErrDuplicate) {
			return err
		}
	}
	return nil
}

// probeMsg asks a member whether it runs a map of this name: the call
// reaches the map's process, or fails with proc.ErrNotRegistered.
type probeMsg struct{}

// AppendBinary encodes m (codec's fast path).
func (m syncMsg) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, wireVersion)
	b = appendOrigin(b, m.From)
	b = binary.AppendUvarint(b, uint64(len(m.Digest)))
	for _, d := range m.Digest {
		b = appendOrigin(b, d.Origin)
		b = binary.AppendUvarint(b, d.Seq)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Deltas)))
	for i := range m.Deltas {
		d := &m.Deltas[i]
		b = appendOrigin(b, d.Origin)
		var flags byte
		if d.Full {
			flags |= 1
		}
		b = append(b, flags)
		b = binary.AppendUvarint(b, d.Base)
		b = binary.AppendUvarint(b, d.Upto)
		b = binary.AppendUvarint(b, uint64(len(d.Entries)))
		for j := range d.Entries {
			e := &d.Entries[j]
			b = binary.AppendUvarint(b, e.ID)
			b = binary.AppendUvarint(b, e.Ver)
			b = appendString(b, e.Key)
			b = appendPID(b, e.PID, d.Node)
			b = binary.AppendVarint(b, e.Claim.Stamp.WallNanos)
			b = binary.AppendUvarint(b, uint64(e.Claim.Stamp.Logical))
			b = appendRef(b, e.Claim.First, d.Node)
			b = binary.AppendUvarint(b, e.Claim.Gen)
			b = appendRef(b, e.Supersedes, d.Node)
			b = binary.AppendUvarint(b, uint64(len(e.Value)))
			b = append(b, e.Value...)
		}
		b = binary.AppendUvarint(b, uint64(len(d.Removed)))
		for _, t := range d.Removed {
			b = binary.AppendUvarint(b, t.ID)
			b = binary.AppendUvarint(b, t.Seq)
			b = append(b, byte(t.Why))
		}
	}
	return b, nil
}

// UnmarshalBinary decodes a message, refusing anything out of bounds.
func (m *syncMsg) UnmarshalBinary(b []byte) error {
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != wireVersion {
		return fmt.Errorf("%w: version %d", ErrMalformed, v)
	}
	m.From = r.origin()
	n := r.count()
	m.Digest = make([]originSeq, 0, n)
	for range n {
		o := r.origin()
		m.Digest = append(m.Digest, originSeq{Origin: o, Seq: r.uvarint()})
	}
	n = r.count()
	m.Deltas = make([]delta, 0, n)
	for range n {
		var d delta
		d.Origin = r.origin()
		flags := r.byte()
		if flags&^1 != 0 {
			r.fail("delta flags %#x", flags)
		}
		d.Full = flags&1 != 0
		d.Base, d.Upto = r.uvarint(), r.uvarint()
		if d.Base > d.Upto {
			r.fail("delta base %d after upto %d", d.Base, d.Upto)
		}
		ne := r.count()
		d.Entries = make([]wireEntry, 0, ne)
		for range ne {
			var e wireEntry
			e.ID, e.Ver = r.uvarint(), r.uvarint()
			e.Key = r.string(MaxKeyLen)
			e.PID = r.pid(d.Node)
			e.Claim.Stamp.WallNanos = r.varint()
			logical := r.uvarint()
			if logical > 1<<32-1 {
				r.fail("logical clock %d", logical)
			}
			e.Claim.Stamp.Logical = uint32(logical)
			e.Claim.First = r.ref(d.Node)
			e.Claim.Gen = r.uvarint()
			e.Supersedes = r.ref(d.Node)
			e.Value = r.bytes(MaxValueLen)
			if r.err == nil && (e.ID == 0 || e.Ver == 0 || e.Ver > d.Upto) {
				r.fail("entry id %d version %d (upto %d)", e.ID, e.Ver, d.Upto)
			}
			d.Entries = append(d.Entries, e)
		}
		nr := r.count()
		d.Removed = make([]wireTomb, 0, nr)
		for range nr {
			t := wireTomb{ID: r.uvarint(), Seq: r.uvarint(), Why: Reason(r.byte())}
			if r.err == nil && (t.Why >= maxReason || t.Seq > d.Upto) {
				r.fail("tombstone reason %d seq %d", t.Why, t.Seq)
			}
			d.Removed = append(d.Removed, t)
		}
		m.Deltas = append(m.Deltas, d)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendOrigin(b []byte, o Origin) []byte {
	return binary.AppendUvarint(appendString(b, o.Node), o.Creation)
}

// appendPID writes a PID; its node is written empty when it is the
// delta's origin node.
func appendPID(b []byte, pid proc.PID, node string) []byte {
	if pid.Node == node {
		b = appendString(b, "")
	} else {
		b = appendString(b, pid.Node)
	}
	b = binary.AppendUvarint(b, pid.Creation)
	return binary.AppendUvarint(b, pid.ID)
}

func appendRef(b []byte, r Ref, node string) []byte {
	return appendPID(b, proc.PID{Node: r.Node, Creation: r.Creation, ID: r.ID}, node)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
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

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
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

// count reads the length of a list, each element of which takes at least
// one byte: a count beyond the bytes left is refused before allocating.
func (r *reader) count() int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.fail("list of %d elements in %d bytes", n, len(r.b))
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

func (r *reader) bytes(max int) []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(r.b)) {
		r.fail("field of %d bytes", n)
		return nil
	}
	v := append([]byte(nil), r.b[:n]...)
	r.b = r.b[n:]
	return v
}

func (r *reader) string(max int) string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(max) || n > uint64(len(r.b)) {
		r.fail("string of %d bytes", n)
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) origin() Origin {
	node := r.string(maxNodeLen)
	if r.err == nil && node == "" {
		r.fail("empty node name")
	}
	return Origin{Node: node, Creation: r.uvarint()}
}

func (r *reader) pid(node string) proc.PID {
	n := r.string(maxNodeLen)
	if n == "" {
		n = node
	}
	pid := proc.PID{Node: n, Creation: r.uvarint(), ID: r.uvarint()}
	if pid.ID == 0 {
		return proc.PID{}
	}
	return pid
}

func (r *reader) ref(node string) Ref {
	p := r.pid(node)
	return Ref{Origin: Origin{Node: p.Node, Creation: p.Creation}, ID: p.ID}
}

package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is the cause of every decoding failure.
var ErrMalformed = errors.New("raft wire: malformed message")

// Limits of what a decoder accepts.
const (
	// MaxNameLen bounds a node name.
	MaxNameLen = 1024
	// MaxMessages bounds the messages and notices of one batch.
	MaxMessages = 1 << 20
)

const (
	batchVersion = 1
	chunkVersion = 1
)

// Msg is one Raft message of one group: the protobuf encoding of a
// raftpb.Message.
type Msg struct {
	Group uint64
	Raw   []byte
}

// Quiesce tells a follower that the leader of Group stopped ticking at
// Term with everything up to Commit committed and acknowledged.
type Quiesce struct {
	Group, Term, Commit uint64
}

// Batch is everything one node sends another in one round.
type Batch struct {
	// From is the sending node's name, so that the receiver can answer a
	// member it did not know yet.
	From    string
	Msgs    []Msg
	Quiesce []Quiesce
}

// Size is an estimate of the encoded size.
func (b *Batch) Size() int {
	n := 16 + len(b.From) + 24*len(b.Quiesce)
	for _, m := range b.Msgs {
		n += 16 + len(m.Raw)
	}
	return n
}

// AppendBinary implements encoding.BinaryAppender.
func (b Batch) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, batchVersion)
	dst = appendBytes(dst, []byte(b.From))
	dst = binary.AppendUvarint(dst, uint64(len(b.Msgs)))
	for _, m := range b.Msgs {
		dst = binary.AppendUvarint(dst, m.Group)
		dst = appendBytes(dst, m.Raw)
	}
	dst = binary.AppendUvarint(dst, uint64(len(b.Quiesce)))
	for _, q := range b.Quiesce {
		dst = binary.AppendUvarint(dst, q.Group)
		dst = binary.AppendUvarint(dst, q.Term)
		dst = binary.AppendUvarint(dst, q.Commit)
	}
	return dst, nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. The messages'
// bytes are copied out of data.
func (b *Batch) UnmarshalBinary(data []byte) error {
	r := reader{b: data}
	if v := r.byte(); r.err == nil && v != batchVersion {
		return fmt.Errorf("%w: batch version %d", ErrMalformed, v)
	}
	from := r.bytes()
	if len(from) > MaxNameLen {
		return fmt.Errorf("%w: node name of %d bytes", ErrMalformed, len(from))
	}
	n := r.count()
	msgs := make([]Msg, 0, min(n, 1024))
	for range n {
		g := r.uvarint()
		raw := r.bytes()
		if r.err != nil {
			break
		}
		msgs = append(msgs, Msg{Group: g, Raw: append([]byte(nil), raw...)})
	}
	n = r.count()
	var qs []Quiesce
	for range n {
		q := Quiesce{r.uvarint(), r.uvarint(), r.uvarint()}
		if r.err != nil {
			break
		}
		qs = append(qs, q)
	}
	if err := r.end(); err != nil {
		return err
	}
	*b = Batch{From: string(from), Msgs: msgs, Quiesce: qs}
	return nil
}

// Chunk is one piece of a snapshot message: Header is the protobuf
// encoding of the raftpb.Message of type MsgSnap without its data, Total
// the size of the whole data and Offset where Data goes in it.
type Chunk struct {
	From          string
	Group         uint64
	Header        []byte
	Total, Offset uint64
	Data          []byte
}

// AppendBinary implements encoding.BinaryAppender.
func (c Chunk) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, chunkVersion)
	dst = appendBytes(dst, []byte(c.From))
	dst = binary.AppendUvarint(dst, c.Group)
	dst = appendBytes(dst, c.Header)
	dst = binary.AppendUvarint(dst, c.Total)
	dst = binary.AppendUvarint(dst, c.Offset)
	return appendBytes(dst, c.Data), nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (c *Chunk) UnmarshalBinary(data []byte) error {
	r := reader{b: data}
	if v := r.byte(); r.err == nil && v != chunkVersion {
		return fmt.Errorf("%w: chunk version %d", ErrMalformed, v)
	}
	from := r.bytes()
	g := r.uvarint()
	hdr := r.bytes()
	total, off := r.uvarint(), r.uvarint()
	d := r.bytes()
	if err := r.end(); err != nil {
		return err
	}
	if len(from) > MaxNameLen {
		return fmt.Errorf("%w: node name of %d bytes", ErrMalformed, len(from))
	}
	if off > total || uint64(len(d)) > total-off {
		return fmt.Errorf("%w: chunk [%d,+%d) beyond the total %d", ErrMalformed, off, len(d), total)
	}
	*c = Chunk{From: string(from), Group: g, Header: append([]byte(nil), hdr...), Total: total, Offset: off, Data: append([]byte(nil), d...)}
	return nil
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.err = fmt.Errorf("%w: truncated", ErrMalformed)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad varint", ErrMalformed)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) count() uint64 {
	n := r.uvarint()
	if n > MaxMessages || n > uint64(len(r.b)) {
		if r.err == nil {
			r.err = fmt.Errorf("%w: count %d", ErrMalformed, n)
		}
		return 0
	}
	return n
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: length %d beyond the message", ErrMalformed, n)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	return r.err
}

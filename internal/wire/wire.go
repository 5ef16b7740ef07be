// Package wire holds the pieces of hand-written binary encodings shared by
// the cluster services (pubsub, pg, presence): uvarint-prefixed strings and
// a reader that checks every field of untrusted input.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/grovedev/grove/proc"
)

// ErrMalformed is wrapped by every error of a Reader.
var ErrMalformed = errors.New("malformed message")

// AppendString appends s as a uvarint length and its bytes.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendBytes appends p as a uvarint length and its bytes.
func AppendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// AppendPID appends a PID as its node (a string), creation and id.
func AppendPID(b []byte, p proc.PID) []byte {
	b = AppendString(b, p.Node)
	b = binary.AppendUvarint(b, p.Creation)
	return binary.AppendUvarint(b, p.ID)
}

// Reader decodes fields from untrusted bytes. The first error sticks: after
// it every read returns a zero value, and Err or Done report it, wrapping
// ErrMalformed and, when set, Cause (a package's own sentinel).
type Reader struct {
	B     []byte
	Cause error
	err   error
}

// Fail records a problem, unless one is recorded already.
func (r *Reader) Fail(format string, args ...any) {
	if r.err != nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if r.Cause != nil {
		r.err = fmt.Errorf("%w: %s", r.Cause, msg)
	} else {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, msg)
	}
}

// Err returns the first problem.
func (r *Reader) Err() error { return r.err }

// Uvarint reads a uvarint.
func (r *Reader) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.B)
	if n <= 0 {
		r.Fail("bad varint")
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.B) == 0 {
		r.Fail("truncated")
		return 0
	}
	v := r.B[0]
	r.B = r.B[1:]
	return v
}

// Count reads a number of elements that take at least one byte each, so
// that a count larger than the input is refused before anything is
// allocated for it.
func (r *Reader) Count() int {
	n := r.Uvarint()
	if r.err == nil && n > uint64(len(r.B)) {
		r.Fail("%d elements in %d bytes", n, len(r.B))
		return 0
	}
	return int(n)
}

// Bytes reads a length-prefixed byte string of at most max bytes. The
// result aliases the input.
func (r *Reader) Bytes(max int) []byte {
	n := r.Uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(r.B)) {
		r.Fail("string of %d bytes", n)
		return nil
	}
	v := r.B[:n:n]
	r.B = r.B[n:]
	return v
}

// String reads a length-prefixed string of at most max bytes.
func (r *Reader) String(max int) string { return string(r.Bytes(max)) }

// PID reads what AppendPID wrote; the node and id must be set.
func (r *Reader) PID() proc.PID {
	p := proc.PID{Node: r.String(1024), Creation: r.Uvarint(), ID: r.Uvarint()}
	if r.err == nil && (p.Node == "" || p.ID == 0) {
		r.Fail("process %v", p)
	}
	return p
}

// Rest returns the bytes not read yet.
func (r *Reader) Rest() []byte {
	b := r.B
	r.B = nil
	return b
}

// Done reports the first problem, or bytes left over.
func (r *Reader) Done() error {
	if r.err == nil && len(r.B) > 0 {
		r.Fail("%d bytes left", len(r.B))
	}
	return r.err
}

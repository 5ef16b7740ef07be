package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"

	"github.com/grovedev/grove/node/internal/frame"
	"github.com/grovedev/grove/proc"
)

// Frame kinds of the node protocol, above the frame layer's own.
const (
	kindSend        = frame.FirstUserKind + iota // from, to, payload
	kindSendName                                 // from, name, payload
	kindCall                                     // from, to, call id, payload
	kindCallName                                 // from, name, call id, payload
	kindReply                                    // call id, status, payload
	kindLink                                     // from, to
	kindUnlink                                   // from, to
	kindExit                                     // from, to, via link, payload (reason)
	kindMonitor                                  // watcher, target, ref
	kindDemonitor                                // watcher, target, ref
	kindDown                                     // watcher, target, ref, payload (reason)
	kindRPC                                      // call id, timeout, function name, payload
	kindSpawn                                    // call id, spawnable name, payload
	kindUndecodable                              // type description: a message the peer could not decode
	kindFlow                                     // pause or resume: hold back plain sends on this link
	kindDropped                                  // count, reason, last from, last to: messages the peer could not queue
	kindSendAck                                  // from, to, call id, payload: a send answered once queued
)

// Frame flags of the node protocol (the frame layer passes the high four
// bits through).
const (
	flagCast    frame.Flags = 1 << 4 // a send is a cast
	flagViaLink frame.Flags = 1 << 5 // an exit signal comes from a link
)

// Reply statuses.
const (
	replyOK  byte = iota // payload is the answer
	replyErr             // payload is the error
)

// errMalformed is wrapped by every decoding error of this protocol; a peer
// that sends one is cut off.
var errMalformed = errors.New("node: malformed message")

// A PID on the wire is (creation, id) as uvarints, the node being implied
// by the direction: "from" and "watcher" PIDs belong to the sending node,
// "to" and "target" PIDs to the receiving node. The zero PID (from outside
// any process) is written as id 0 alone.

func appendPID(b []byte, pid proc.PID) []byte {
	if pid.IsZero() {
		return binary.AppendUvarint(b, 0)
	}
	b = binary.AppendUvarint(b, pid.ID)
	return binary.AppendUvarint(b, pid.Creation)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// reader decodes the fields of one message. The first error sticks.
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

// pid reads a PID of node.
func (r *reader) pid(node string) proc.PID {
	id := r.uvarint()
	if id == 0 {
		return proc.PID{}
	}
	return proc.PID{Node: node, ID: id, Creation: r.uvarint()}
}

// ref reads a Ref made by node.
func (r *reader) ref(node string) proc.Ref {
	id := r.uvarint()
	return proc.Ref{Node: node, ID: id, Creation: r.uvarint()}
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

// rest returns the remaining bytes: the payload.
func (r *reader) rest() []byte {
	b := r.b
	r.b = nil
	return b
}

func appendRef(b []byte, ref proc.Ref) []byte {
	b = binary.AppendUvarint(b, ref.ID)
	return binary.AppendUvarint(b, ref.Creation)
}

// maxNameLen bounds registered names and function names on the wire.
const maxNameLen = 255

var (
	laneSeed    = maphash.MakeSeed()
	laneSeedInt = maphash.Comparable(laneSeed, uint64(0x9e3779b97f4a7c15))
)

// mix64 is a 64-bit finalizer (splitmix64's): every input bit reaches every
// output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// lane maps a sender and a receiver to an ordering lane of the connection:
// everything from one process to another stays in order, while unrelated
// pairs may pass each other (and a big message of one pair does not block
// the others). Lanes are chosen by the sender alone (the receiver only
// keys reassembly by them), so the function is free to change; it is a
// seeded mix of the two ids, computed on every send.
func lane(from, to proc.PID) uint16 {
	return uint16(mix64(mix64(from.ID^laneSeedInt) + to.ID))
}

// laneName is lane for a send to a registered name.
func laneName(from proc.PID, name string) uint16 {
	return uint16(mix64(mix64(from.ID^laneSeedInt) + maphash.String(laneSeed, name)))
}

package pubsub

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/internal/peerset"
	"github.com/grovedev/grove/internal/wire"
	"github.com/grovedev/grove/proc"
)

// frameTypeName is the codec name of a broadcast between nodes.
const frameTypeName = "grove.pubsub.Frame"

// RegisterTypes registers the messages PubSub nodes exchange in r. Start
// does it on the node's codec; call it yourself only to prepare a registry
// before the node starts.
func RegisterTypes(r *codec.Registry) error {
	if err := peerset.RegisterTypes(r); err != nil {
		return err
	}
	return peerset.Ensure[frame](r, frameTypeName)
}

// frame is one broadcast on its way to another node: encoded once by the
// broadcaster (payload included) and copied as is onto every link.
//
// Layout: version byte, flags byte, origin (string), origin's incarnation
// (uvarint), sequence number (uvarint), [from: node (string), creation,
// id (uvarints) when flagFrom], topic (string), dispatcher (string),
// payload (the codec's encoding, to the end). Strings are a uvarint length
// and bytes.
type frame struct{ b []byte }

const (
	frameVersion = 1
	flagFrom     = 1 << 0
	maxNodeName  = 1024
)

// AppendBinary appends the encoded frame.
func (f frame) AppendBinary(b []byte) ([]byte, error) { return append(b, f.b...), nil }

// UnmarshalBinary keeps a copy of the bytes; decodeFrame checks them.
func (f *frame) UnmarshalBinary(b []byte) error {
	f.b = bytes.Clone(b)
	return nil
}

// frameHeader is a decoded frame without its payload.
type frameHeader struct {
	origin     string
	epoch      uint64
	seq        uint64
	from       proc.PID
	topic      string
	dispatcher string
}

// encodeFrame encodes a broadcast, its payload with reg.
func encodeFrame(reg *codec.Registry, h frameHeader, payload any) (frame, error) {
	b := make([]byte, 0, 64+len(h.topic)+len(h.origin))
	b = append(b, frameVersion, 0)
	b = wire.AppendString(b, h.origin)
	b = binary.AppendUvarint(b, h.epoch)
	b = binary.AppendUvarint(b, h.seq)
	if !h.from.IsZero() {
		b[1] |= flagFrom
		b = wire.AppendPID(b, h.from)
	}
	b = wire.AppendString(b, h.topic)
	b = wire.AppendString(b, h.dispatcher)
	b, err := reg.AppendEncode(b, payload)
	if err != nil {
		return frame{}, fmt.Errorf("pubsub: encode %T: %w", payload, err)
	}
	return frame{b: b}, nil
}

// decodeFrame splits a frame into its header and the payload's encoding.
func decodeFrame(b []byte) (frameHeader, []byte, error) {
	var h frameHeader
	if len(b) < 2 {
		return h, nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if b[0] != frameVersion {
		return h, nil, fmt.Errorf("%w: version %d", ErrMalformed, b[0])
	}
	flags := b[1]
	if flags&^flagFrom != 0 {
		return h, nil, fmt.Errorf("%w: flags %#x", ErrMalformed, flags)
	}
	r := wire.Reader{B: b[2:], Cause: ErrMalformed}
	h.origin = r.String(maxNodeName)
	h.epoch = r.Uvarint()
	h.seq = r.Uvarint()
	if flags&flagFrom != 0 {
		h.from = r.PID()
	}
	h.topic = r.String(MaxTopicLen)
	h.dispatcher = r.String(255)
	if err := r.Err(); err != nil {
		return h, nil, err
	}
	if h.origin == "" || checkTopic(h.topic) != nil {
		return h, nil, fmt.Errorf("%w: origin %q, topic of %d bytes", ErrMalformed, h.origin, len(h.topic))
	}
	payload := r.Rest()
	if len(payload) == 0 {
		return h, nil, fmt.Errorf("%w: no payload", ErrMalformed)
	}
	return h, payload, nil
}

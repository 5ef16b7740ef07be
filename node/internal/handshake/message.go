package handshake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Message types.
const (
	msgHello     byte = 1
	msgChallenge byte = 2
	msgProof     byte = 3
	msgAccept    byte = 4
	msgRefuse    byte = 5
)

// maxMessage bounds a handshake message (type byte and body).
const maxMessage = 512

var magic = [4]byte{'G', 'R', 'V', 'H'}

var errVersion = errors.New("unsupported hello layout")

// hello is the body of a hello (client) or challenge (server) message.
type hello struct {
	version  uint16
	flags    byte // helloSealed
	creation uint64
	features uint64
	nonce    [32]byte
	key      [32]byte // X25519 public key when sealed, zero otherwise
	name     string
}

// helloSealed says the sender protects the link with the session keys
// (cookie mode without TLS); both sides must agree.
const helloSealed byte = 1

// append encodes a hello: magic, version, then the challenge layout.
func (h hello) append(b []byte) []byte {
	b = append(b, magic[:]...)
	return h.appendChallenge(b)
}

func (h hello) appendChallenge(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, h.version)
	b = append(b, h.flags)
	b = binary.BigEndian.AppendUint64(b, h.creation)
	b = binary.BigEndian.AppendUint64(b, h.features)
	b = append(b, h.nonce[:]...)
	b = append(b, h.key[:]...)
	b = append(b, byte(len(h.name)))
	return append(b, h.name...)
}

// parseHello decodes a hello. A good magic with a version other than
// ProtocolVersion yields errVersion: other versions may change the rest of
// the layout.
func parseHello(b []byte) (hello, error) {
	if len(b) < 6 || [4]byte(b[:4]) != magic {
		return hello{}, errors.New("hello: bad magic")
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != ProtocolVersion {
		return hello{version: v}, fmt.Errorf("%w: version %d", errVersion, v)
	}
	return parseChallenge(b[4:])
}

func parseChallenge(b []byte) (hello, error) {
	const fixed = 2 + 1 + 8 + 8 + 32 + 32 + 1
	if len(b) < fixed {
		return hello{}, errors.New("short hello")
	}
	var h hello
	h.version = binary.BigEndian.Uint16(b)
	h.flags = b[2]
	if h.flags&^helloSealed != 0 {
		return hello{}, fmt.Errorf("hello: unknown flags %#x", h.flags)
	}
	h.creation = binary.BigEndian.Uint64(b[3:])
	h.features = binary.BigEndian.Uint64(b[11:])
	copy(h.nonce[:], b[19:51])
	copy(h.key[:], b[51:83])
	n := int(b[83])
	if len(b) != fixed+n {
		return hello{}, fmt.Errorf("hello: name length %d does not match message", n)
	}
	h.name = string(b[fixed:])
	if err := ValidName(h.name); err != nil {
		return hello{}, err
	}
	return h, nil
}

// write sends one message: 2-byte length, type, body.
func (s *session) write(typ byte, body []byte) error {
	b := s.buf[:0]
	b = binary.BigEndian.AppendUint16(b, uint16(1+len(body)))
	b = append(b, typ)
	b = append(b, body...)
	_, err := s.conn.Write(b)
	return err
}

// read receives one message. Bodies of proof and accept must be empty or
// 32 bytes; refuse must be empty.
func (s *session) read() (byte, []byte, error) {
	return readMessage(s.conn, &s.buf)
}

func readMessage(r io.Reader, buf *[maxMessage + 2]byte) (byte, []byte, error) {
	if _, err := io.ReadFull(r, buf[:2]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint16(buf[:2]))
	if n == 0 || n > maxMessage {
		return 0, nil, &RefusedError{Reason: ReasonProtocol, Err: fmt.Errorf("message of %d bytes", n)}
	}
	if _, err := io.ReadFull(r, buf[2:2+n]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	typ, body := buf[2], buf[3:2+n]
	switch typ {
	case msgHello, msgChallenge:
	case msgProof, msgAccept:
		if len(body) != 0 && len(body) != 32 {
			return 0, nil, &RefusedError{Reason: ReasonProtocol, Err: fmt.Errorf("proof of %d bytes", len(body))}
		}
	case msgRefuse:
		// Empty, or a reason byte told to an authenticated peer with an
		// optional 32-byte proof.
		if len(body) != 0 && len(body) != 1 && len(body) != 33 {
			return 0, nil, &RefusedError{Reason: ReasonProtocol, Err: fmt.Errorf("refusal of %d bytes", len(body))}
		}
	default:
		return 0, nil, &RefusedError{Reason: ReasonProtocol, Err: fmt.Errorf("unknown message type %d", typ)}
	}
	return typ, body, nil
}

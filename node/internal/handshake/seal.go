package handshake

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// ErrTampered is returned by a sealed connection's Read for a record that
// does not authenticate: modified, replayed, reordered, truncated or
// injected bytes. The connection cannot be used after it.
var ErrTampered = errors.New("handshake: record failed authentication (tampered, replayed or injected)")

// Cookie keys.
//
// The cookie is stretched with PBKDF2-HMAC-SHA256 before any use, so that
// each guess of an offline attack on a proof costs cookieIterations
// HMACs. The result is cached per cookie: a node pays it once.
const cookieSalt = "grove cookie v2"

// cookieIterations is PBKDF2's count; tests of this package lower it.
var cookieIterations = 200_000

var cookieKeys struct {
	sync.Mutex
	m map[[32]byte][]byte
}

// cookieKey returns the stretched key of a cookie.
func cookieKey(secret []byte) []byte {
	id := sha256.Sum256(secret)
	cookieKeys.Lock()
	defer cookieKeys.Unlock()
	if k, ok := cookieKeys.m[id]; ok {
		return k
	}
	k, err := pbkdf2.Key(sha256.New, string(secret), []byte(cookieSalt), cookieIterations, 32)
	if err != nil {
		panic(fmt.Sprintf("handshake: pbkdf2: %v", err)) // only for out-of-range parameters
	}
	if cookieKeys.m == nil || len(cookieKeys.m) >= 64 {
		cookieKeys.m = make(map[[32]byte][]byte)
	}
	cookieKeys.m[id] = k
	return k
}

// sessionKeys derives the two directions' AEAD keys from the cookie key,
// the ephemeral X25519 shared secret and the transcript: a passive
// observer lacks the cookie, and one who learns it later lacks the
// ephemeral secrets.
func sessionKeys(cookie, shared, tr []byte) (c2s, s2c []byte, err error) {
	ikm := append(append([]byte(nil), cookie...), shared...)
	salt := sha256.Sum256(tr)
	prk, err := hkdf.Extract(sha256.New, ikm, salt[:])
	if err != nil {
		return nil, nil, err
	}
	if c2s, err = hkdf.Expand(sha256.New, prk, "grove v2 client to server", 32); err != nil {
		return nil, nil, err
	}
	if s2c, err = hkdf.Expand(sha256.New, prk, "grove v2 server to client", 32); err != nil {
		return nil, nil, err
	}
	return c2s, s2c, nil
}

func newEphemeral(r io.Reader) (*ecdh.PrivateKey, error) {
	k, err := ecdh.X25519().GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("handshake: ephemeral key: %w", err)
	}
	return k, nil
}

// Records of a sealed connection: a 4-byte big-endian length of the
// sealed body, then the body (ciphertext and 16-byte tag). The nonce is
// the record's sequence number in its direction, never sent: a record
// replayed, dropped or reordered fails to open. The length is
// authenticated as additional data.
const (
	maxRecord  = 64 << 10 // plaintext bytes per record
	recordHead = 4
	tagSize    = 16
)

// sealedConn protects a connection with AES-256-GCM in both directions.
//
// Concurrency: Read and Write may be called concurrently with each other;
// concurrent Writes are serialised, as are concurrent Reads.
type sealedConn struct {
	net.Conn
	rmu    sync.Mutex
	open   cipher.AEAD
	rseq   uint64
	rbuf   []byte // sealed bytes read, not yet opened: rbuf[rr:rw]
	rr, rw int
	plain  []byte // opened plaintext not yet returned
	rerr   error  // sticky

	rnonce [12]byte

	wmu    sync.Mutex
	seal   cipher.AEAD
	wseq   uint64
	wbuf   []byte
	wnonce [12]byte
}

func newSealedConn(c net.Conn, readKey, writeKey []byte) (*sealedConn, error) {
	open, err := newGCM(readKey)
	if err != nil {
		return nil, err
	}
	seal, err := newGCM(writeKey)
	if err != nil {
		return nil, err
	}
	return &sealedConn{Conn: c, open: open, seal: seal, rbuf: make([]byte, 2*(recordHead+maxRecord+tagSize))}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func nonceOf(n *[12]byte, seq uint64) []byte {
	binary.BigEndian.PutUint64(n[4:], seq)
	return n[:]
}

// Write seals b into records and writes them with one call.
func (c *sealedConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	records := (len(b) + maxRecord - 1) / maxRecord
	need := len(b) + records*(recordHead+tagSize)
	if cap(c.wbuf) < need {
		c.wbuf = make([]byte, 0, need)
	}
	out := c.wbuf[:0]
	for p := b; len(p) > 0; {
		k := min(len(p), maxRecord)
		out = binary.BigEndian.AppendUint32(out, uint32(k+tagSize))
		head := out[len(out)-recordHead:] // out has room: Seal does not move it
		out = c.seal.Seal(out, nonceOf(&c.wnonce, c.wseq), p[:k], head)
		c.wseq++
		p = p[k:]
	}
	n, err := c.Conn.Write(out)
	if err != nil {
		// Whole records only count; a record cut short breaks the stream.
		done := 0
		for off := 0; off < n && done < len(b); {
			k := min(len(b)-done, maxRecord)
			off += recordHead + k + tagSize
			if off <= n {
				done += k
			}
		}
		return done, err
	}
	return len(b), nil
}

// Read returns opened plaintext.
func (c *sealedConn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.plain) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if err := c.readRecord(); err != nil {
			if errors.Is(err, ErrTampered) {
				c.rerr = err
			}
			return 0, err
		}
	}
	n := copy(b, c.plain)
	c.plain = c.plain[n:]
	return n, nil
}

// readRecord reads and opens one record into c.plain. A read error of the
// connection (a deadline, say) is returned as it is and the read can be
// retried; a record that fails to open is final.
func (c *sealedConn) readRecord() error {
	if err := c.fill(recordHead); err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint32(c.rbuf[c.rr:]))
	if n < tagSize || n > maxRecord+tagSize {
		return fmt.Errorf("%w: record of %d bytes", ErrTampered, n)
	}
	if err := c.fill(recordHead + n); err != nil {
		return err
	}
	head := c.rbuf[c.rr : c.rr+recordHead]
	body := c.rbuf[c.rr+recordHead : c.rr+recordHead+n]
	p, err := c.open.Open(body[:0], nonceOf(&c.rnonce, c.rseq), body, head)
	if err != nil {
		return ErrTampered
	}
	c.rseq++
	c.rr += recordHead + n
	c.plain = p
	return nil
}

// fill makes need sealed bytes available at c.rbuf[c.rr:].
func (c *sealedConn) fill(need int) error {
	if c.rw-c.rr >= need {
		return nil
	}
	if len(c.rbuf)-c.rr < need {
		c.rw = copy(c.rbuf, c.rbuf[c.rr:c.rw])
		c.rr = 0
	}
	for c.rw-c.rr < need {
		n, err := c.Conn.Read(c.rbuf[c.rw:])
		c.rw += n
		if err != nil {
			if c.rw-c.rr >= need {
				return nil
			}
			if err == io.EOF && c.rw > c.rr {
				return fmt.Errorf("%w: connection closed inside a record", ErrTampered)
			}
			return err
		}
	}
	return nil
}

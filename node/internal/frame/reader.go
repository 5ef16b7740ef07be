package frame

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Reader reads messages from a connection. It allocates only its read
// buffer (Config.ReadBufferSize) and, for fragmented messages, memory as
// their fragments arrive (never more than twice what arrived, and never
// beyond the announced size), counted against MaxReassembly and against
// Config.Budget when several Readers share one.
//
// Concurrency: a Reader is used by one goroutine at a time. It owns no
// goroutine and needs no Close.
type Reader struct {
	cfg     Config
	src     io.Reader
	dl      readDeadliner // nil when src has no read deadline
	buf     []byte
	r, w    int // unread bytes are buf[r:w]
	lanes   map[uint16]*partial
	pending int // bytes allocated for partial messages

	deadline time.Time // the read deadline set on dl by armDeadline

	ctx  context.Context // context whose cancellation is wired to dl
	stop func() bool
	err  error // sticky
}

type readDeadliner interface{ SetReadDeadline(time.Time) error }

type partial struct {
	kind  Kind
	flags Flags
	total int    // announced size
	buf   []byte // bytes received; cap is what is reserved
}

// NewReader returns a Reader on src. cfg must be valid (see
// Config.Validate); zero fields take defaults.
func NewReader(src io.Reader, cfg Config) *Reader {
	cfg = cfg.withDefaults()
	// A frame must fit in the buffer, whatever the configuration says.
	cfg.ReadBufferSize = max(cfg.ReadBufferSize, cfg.MaxFrameSize+HeaderSize)
	r := &Reader{cfg: cfg, src: src, buf: make([]byte, cfg.ReadBufferSize)}
	r.dl, _ = src.(readDeadliner)
	return r
}

// Next returns the next message. Its Payload aliases the Reader's buffer
// and is valid until the next call. Ticks are consumed silently.
//
// Errors: io.EOF at a clean end of stream, io.ErrUnexpectedEOF in the
// middle of a frame or message, *MalformedError and *LimitError for bad
// input, ErrTimeout when ReadTimeout passes without input, ctx's error when
// ctx ends (this needs a source with a read deadline, such as a net.Conn),
// or the source's error. Every error is final: the stream cannot be
// resynchronised and the Reader keeps returning it.
//
// Cancelling ctx sets the source's read deadline to the past; pass the
// same ctx to every call (the wiring is done once per distinct ctx).
func (r *Reader) Next(ctx context.Context) (Message, error) {
	if r.err != nil {
		return Message{}, r.err
	}
	if ctx != r.ctx {
		r.watch(ctx)
	}
	m, err := r.next()
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			err = ctx.Err()
		}
		r.err = err
		r.release()
	}
	return m, err
}

func (r *Reader) watch(ctx context.Context) {
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
	r.ctx = ctx
	if r.dl != nil && ctx.Done() != nil {
		dl := r.dl
		r.stop = context.AfterFunc(ctx, func() { _ = dl.SetReadDeadline(time.Unix(1, 0)) })
	}
}

func (r *Reader) release() {
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
	if b := r.cfg.Budget; b != nil {
		b.release(r.pending)
	}
	r.lanes = nil
	r.pending = 0
}

func (r *Reader) next() (Message, error) {
	for {
		if err := r.fill(HeaderSize); err != nil {
			if err == io.ErrUnexpectedEOF && r.w == r.r && len(r.lanes) == 0 {
				err = io.EOF
			}
			return Message{}, err
		}
		h := parseHeader(r.buf[r.r:])
		if err := r.check(h); err != nil {
			return Message{}, err
		}
		n := int(h.n)
		if n >= ownedFrame && h.flags&(flagMore|flagAbort) == 0 && r.lanes[h.lane] == nil {
			p, err := r.readOwned(n)
			if err != nil {
				return Message{}, err
			}
			return Message{Kind: h.kind, Flags: h.flags, Lane: h.lane, Payload: p, Owned: true}, nil
		}
		if err := r.fill(HeaderSize + n); err != nil {
			return Message{}, err
		}
		p := r.buf[r.r+HeaderSize : r.r+HeaderSize+n : r.r+HeaderSize+n]
		r.r += HeaderSize + n
		if h.kind == KindTick {
			continue
		}
		if pt := r.lanes[h.lane]; pt != nil {
			m, ok, err := r.continuation(h, pt, p)
			if err != nil || ok {
				return m, err
			}
			continue
		}
		if h.flags&flagAbort != 0 {
			return Message{}, &MalformedError{Reason: "abort without a message in progress"}
		}
		if h.flags&flagMore == 0 {
			return Message{Kind: h.kind, Flags: h.flags, Lane: h.lane, Payload: p}, nil
		}
		if err := r.start(h, p); err != nil {
			return Message{}, err
		}
	}
}

func (r *Reader) check(h header) error {
	if int64(h.n) > int64(r.cfg.MaxFrameSize) {
		return &LimitError{What: "frame", Size: int(min(int64(h.n), maxLen)), Limit: r.cfg.MaxFrameSize}
	}
	if h.flags&FlagsReserved&^(flagMore|flagAbort) != 0 {
		return &MalformedError{Reason: fmt.Sprintf("reserved flags %#x", uint8(h.flags))}
	}
	switch {
	case h.kind == KindTick:
		if h.n != 0 || h.flags != 0 || h.lane != 0 {
			return &MalformedError{Reason: "tick with payload, flags or lane"}
		}
	case h.kind < FirstUserKind:
		return &MalformedError{Reason: fmt.Sprintf("reserved kind %d", h.kind)}
	case h.flags&flagAbort != 0 && (h.flags&flagMore != 0 || h.n != 0):
		return &MalformedError{Reason: "abort frame with payload or more flag"}
	}
	return nil
}

func (r *Reader) start(h header, p []byte) error {
	if len(p) < 8 {
		return &MalformedError{Reason: "first fragment without total length"}
	}
	total := binary.BigEndian.Uint64(p)
	p = p[8:]
	if total > uint64(r.cfg.MaxMessageSize) {
		return &LimitError{What: "message", Size: int(min(total, maxLen)), Limit: r.cfg.MaxMessageSize}
	}
	if int(total) <= len(p) {
		return &MalformedError{Reason: "fragmented message no longer than its first fragment"}
	}
	pt := &partial{kind: h.kind, flags: h.flags &^ FlagsReserved, total: int(total)}
	if err := r.grow(pt, len(p)); err != nil {
		return err
	}
	pt.buf = append(pt.buf, p...)
	if r.lanes == nil {
		r.lanes = make(map[uint16]*partial)
	}
	r.lanes[h.lane] = pt
	return nil
}

// grow makes room for n more bytes in pt, reserving up to twice what has
// arrived (at least 64 KiB) and never beyond the announced size, and
// charges the growth to the limits. A message whose first fragment is at
// least half of it (a 64 KiB payload with its header, say) is thus
// allocated once, at its size, and never copied to a bigger buffer.
func (r *Reader) grow(pt *partial, n int) error {
	need := len(pt.buf) + n
	if need <= cap(pt.buf) {
		return nil
	}
	c := min(pt.total, max(2*need, 64<<10))
	delta := c - cap(pt.buf)
	if r.pending+delta > r.cfg.MaxReassembly {
		return &LimitError{What: "reassembly", Size: r.pending + delta, Limit: r.cfg.MaxReassembly}
	}
	if b := r.cfg.Budget; b != nil && !b.take(delta) {
		return &LimitError{What: "node reassembly", Size: int(min(b.used.Load()+int64(delta), maxLen)), Limit: int(b.limit)}
	}
	r.pending += delta
	nb := make([]byte, len(pt.buf), c)
	copy(nb, pt.buf)
	pt.buf = nb
	return nil
}

// continuation handles a frame on a lane with a message in progress.
func (r *Reader) continuation(h header, pt *partial, p []byte) (Message, bool, error) {
	if h.kind != pt.kind {
		return Message{}, false, &MalformedError{Reason: "fragment kind differs from its message"}
	}
	if h.flags&flagAbort != 0 {
		r.drop(h.lane, pt)
		return Message{}, false, nil
	}
	if h.flags&^FlagsReserved != pt.flags {
		return Message{}, false, &MalformedError{Reason: "fragment flags differ from its message"}
	}
	if len(p) > pt.total-len(pt.buf) {
		return Message{}, false, &MalformedError{Reason: "fragments exceed announced length"}
	}
	if err := r.grow(pt, len(p)); err != nil {
		return Message{}, false, err
	}
	pt.buf = append(pt.buf, p...)
	more := h.flags&flagMore != 0
	full := len(pt.buf) == pt.total
	switch {
	case more && !full:
		return Message{}, false, nil
	case more != !full:
		return Message{}, false, &MalformedError{Reason: "last fragment does not complete the message"}
	}
	r.drop(h.lane, pt)
	return Message{Kind: pt.kind, Flags: pt.flags, Lane: h.lane, Payload: pt.buf, Owned: true}, true, nil
}

// readOwned reads the payload of the frame whose header is at r.buf[r.r:]
// into a new buffer: what is buffered is copied, the rest read straight
// into it. The new buffer is allocated by extending a copy of the buffered
// part, so only the part still to be read is zeroed first, not the whole
// payload (a 64 KiB clear per frame cost as much as the copy).
func (r *Reader) readOwned(n int) ([]byte, error) {
	start := r.r + HeaderSize
	k := min(n, r.w-start)
	var p []byte
	if k == n {
		p = bytes.Clone(r.buf[start : start+n])
	} else {
		// The full slice makes append allocate anew.
		p = append(r.buf[start:start+k:start+k], make([]byte, n-k)...)[:n:n]
	}
	r.r += HeaderSize + k
	if r.r == r.w {
		r.r, r.w = 0, 0
	}
	if k == n {
		return p, nil
	}
	if r.dl != nil && r.cfg.ReadTimeout > 0 {
		if r.ctx != nil && r.ctx.Err() != nil {
			return nil, r.ctx.Err()
		}
		r.armDeadline()
	}
	for empty := 0; k < n; {
		m, err := r.src.Read(p[k:])
		k += m
		if m == 0 && err == nil {
			if empty++; empty > 100 {
				return nil, io.ErrNoProgress
			}
			continue
		}
		if err != nil && k < n {
			if err == io.EOF {
				return nil, io.ErrUnexpectedEOF
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && (r.ctx == nil || r.ctx.Err() == nil) {
				return nil, fmt.Errorf("%w: %w", ErrTimeout, err)
			}
			return nil, err
		}
	}
	return p, nil
}

func (r *Reader) drop(lane uint16, pt *partial) {
	r.pending -= cap(pt.buf)
	if b := r.cfg.Budget; b != nil {
		b.release(cap(pt.buf))
	}
	delete(r.lanes, lane)
}

// armDeadline makes the read deadline at least ReadTimeout away. It moves
// the deadline only when less than that remains, and then to an eighth
// more, so that a stream of messages moves it once per eighth of the
// timeout instead of once per read (a timer update each); a read so times
// out after between ReadTimeout and 9/8 of it without input.
func (r *Reader) armDeadline() {
	now := time.Now()
	if r.deadline.Sub(now) >= r.cfg.ReadTimeout {
		return
	}
	r.deadline = now.Add(r.cfg.ReadTimeout + r.cfg.ReadTimeout/8)
	_ = r.dl.SetReadDeadline(r.deadline)
}

// fill makes at least need unread bytes available in r.buf.
func (r *Reader) fill(need int) error {
	if r.w-r.r >= need {
		return nil
	}
	if len(r.buf)-r.r < need {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	if r.dl != nil && r.cfg.ReadTimeout > 0 {
		if r.ctx != nil && r.ctx.Err() != nil {
			return r.ctx.Err()
		}
		r.armDeadline()
	}
	for empty := 0; r.w-r.r < need; {
		n, err := r.src.Read(r.buf[r.w:])
		r.w += n
		if n == 0 && err == nil {
			if empty++; empty > 100 {
				return io.ErrNoProgress
			}
			continue
		}
		if err != nil {
			if r.w-r.r >= need {
				return nil
			}
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && (r.ctx == nil || r.ctx.Err() == nil) {
				return fmt.Errorf("%w: %w", ErrTimeout, err)
			}
			return err
		}
	}
	return nil
}

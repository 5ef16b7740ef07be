package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// HeaderSize is the size of a frame header in bytes.
const HeaderSize = 8

// Kind says what a frame carries. Kinds below FirstUserKind are reserved
// for the frame layer.
type Kind uint8

// Frame kinds owned by this package.
const (
	// KindTick is a heartbeat: an empty frame a Writer sends when it has
	// been idle for Config.TickInterval. Readers consume ticks silently;
	// they only keep the read timeout from firing.
	KindTick Kind = 1
	// FirstUserKind is the smallest kind the layer above may use.
	FirstUserKind Kind = 16
)

// Flags of a frame. The low four bits (FlagsReserved) belong to the frame
// layer; the high four bits (FlagsUser) are carried through untouched.
type Flags uint8

const (
	flagMore  Flags = 1 << 0 // more fragments follow
	flagAbort Flags = 1 << 1 // drop the partial message on this lane

	// FlagsReserved is the mask of flag bits owned by the frame layer.
	FlagsReserved Flags = 0x0f
	// FlagsUser is the mask of flag bits available to the layer above.
	FlagsUser Flags = 0xf0
)

// Message is one logical message: a frame, or a reassembled sequence of
// fragments.
type Message struct {
	Kind    Kind   // FirstUserKind or above
	Flags   Flags  // only FlagsUser bits
	Lane    uint16 // ordering domain
	Payload []byte
	// Owned says Payload is the receiver's to keep: a Reader sets it for
	// messages it read into a buffer of their own (reassembled messages
	// and large frames), which later calls to Next do not reuse.
	Owned bool
}

// ownedFrame is the frame size from which a Reader reads a frame into a
// buffer of its own rather than its read buffer: the caller can then keep
// the payload without copying it.
const ownedFrame = 16 << 10

// Defaults for Config fields left zero.
const (
	DefaultChunkSize       = 64 << 10  // Config.ChunkSize
	DefaultMaxFrameSize    = 64 << 10  // Config.MaxFrameSize
	DefaultMaxMessageSize  = 128 << 20 // Config.MaxMessageSize
	DefaultMaxReassembly   = 256 << 20 // Config.MaxReassembly
	DefaultWriteBufferSize = 512 << 10 // Config.WriteBufferSize
	DefaultReadBufferSize  = 256 << 10 // Config.ReadBufferSize
)

// Config holds the limits and tuning of a Reader and a Writer. Zero fields
// mean the defaults above. Both ends of a connection should use the same
// values; at least the sender's ChunkSize must not exceed the receiver's
// MaxFrameSize.
type Config struct {
	// ChunkSize is the largest payload a Writer puts in one frame; bigger
	// messages are fragmented. Default 64 KiB.
	ChunkSize int
	// MaxFrameSize is the largest frame payload a Reader accepts. Default
	// 64 KiB.
	MaxFrameSize int
	// MaxMessageSize bounds a message, fragmented or not, on both sides.
	// Default 128 MiB.
	MaxMessageSize int
	// MaxReassembly bounds the bytes a Reader holds for partial messages
	// over all lanes. Default 256 MiB.
	MaxReassembly int
	// Budget, if set, bounds the bytes held for partial messages by every
	// Reader sharing it, such as all the links of one node. A Reader that
	// would pass it fails with a *LimitError.
	Budget *Budget
	// WriteBufferSize is how many bytes of small frames a Writer queues
	// before Write blocks. Default 512 KiB.
	WriteBufferSize int
	// ReadBufferSize is the Reader's buffer; it must hold a whole frame
	// (MaxFrameSize + HeaderSize). Default 256 KiB or that minimum.
	ReadBufferSize int
	// TickInterval makes a Writer send a heartbeat tick after that long
	// without writing anything. Zero disables ticks.
	TickInterval time.Duration
	// ReadTimeout makes Reader.Next fail with ErrTimeout when nothing, not
	// even a tick, arrived for that long (up to an eighth longer: the
	// deadline is moved in steps). Zero disables it. Set it to a few
	// TickIntervals of the peer.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time the peer may take to accept 128 KiB of
	// what the Writer sends (up to an eighth longer): it measures
	// progress, so a peer that stops reading makes the Writer fail with
	// ErrTimeout and a slow but steady one does not. Zero disables it.
	WriteTimeout time.Duration
	// OnUnsent, if set, is told of messages a Writer accepted and lost
	// without writing them, when it fails or closes (see
	// WriterStats.Unsent). It must not block.
	OnUnsent func(messages int)
}

// Validate reports whether c is consistent.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.ChunkSize < 16 || c.ChunkSize > maxLen:
		return fmt.Errorf("frame: ChunkSize %d out of range", c.ChunkSize)
	case c.MaxFrameSize < 16 || c.MaxFrameSize > maxLen:
		return fmt.Errorf("frame: MaxFrameSize %d out of range", c.MaxFrameSize)
	case c.ChunkSize > c.MaxFrameSize:
		return fmt.Errorf("frame: ChunkSize %d exceeds MaxFrameSize %d", c.ChunkSize, c.MaxFrameSize)
	case c.MaxMessageSize < c.ChunkSize:
		return fmt.Errorf("frame: MaxMessageSize %d below ChunkSize", c.MaxMessageSize)
	case c.MaxReassembly < 0 || c.WriteBufferSize < 0:
		return fmt.Errorf("frame: negative limit")
	case c.ReadBufferSize < c.MaxFrameSize+HeaderSize:
		return fmt.Errorf("frame: ReadBufferSize %d below MaxFrameSize+HeaderSize", c.ReadBufferSize)
	case c.TickInterval < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0:
		return fmt.Errorf("frame: negative duration")
	}
	return nil
}

const maxLen = 1<<31 - 1

func (c Config) withDefaults() Config {
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = max(DefaultMaxFrameSize, c.ChunkSize)
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.MaxReassembly == 0 {
		c.MaxReassembly = max(DefaultMaxReassembly, c.MaxMessageSize)
	}
	if c.WriteBufferSize == 0 {
		c.WriteBufferSize = DefaultWriteBufferSize
	}
	if c.ReadBufferSize == 0 {
		c.ReadBufferSize = max(DefaultReadBufferSize, c.MaxFrameSize+HeaderSize)
	}
	return c
}

// Errors.
var (
	// ErrMalformed matches every *MalformedError.
	ErrMalformed = errors.New("frame: malformed frame")
	// ErrTooLarge matches every *LimitError.
	ErrTooLarge = errors.New("frame: size limit exceeded")
	// ErrClosed is returned by a Writer after Close.
	ErrClosed = errors.New("frame: writer closed")
	// ErrTimeout is returned when ReadTimeout or WriteTimeout expires.
	ErrTimeout = errors.New("frame: timeout")
	// ErrInvalid is returned by Write for a message the frame layer cannot
	// send (reserved kind or flags).
	ErrInvalid = errors.New("frame: invalid message")
)

// MalformedError reports input that breaks the wire format. The connection
// must be dropped: the stream cannot be resynchronised.
type MalformedError struct {
	Reason string
}

// Error describes the malformation.
func (e *MalformedError) Error() string { return "frame: malformed frame: " + e.Reason }

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

// LimitError reports a frame or message over a configured limit.
type LimitError struct {
	What  string // "frame", "message" or "reassembly"
	Size  int    // size claimed or reached
	Limit int
}

// Error describes the violated limit.
func (e *LimitError) Error() string {
	return fmt.Sprintf("frame: %s of %d bytes exceeds limit %d", e.What, e.Size, e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *LimitError) Is(target error) bool { return target == ErrTooLarge }

// Budget is a ceiling of bytes shared by several Readers. It is safe for
// concurrent use.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// NewBudget returns a Budget of limit bytes.
func NewBudget(limit int) *Budget { return &Budget{limit: int64(limit)} }

// Used returns the bytes taken from b.
func (b *Budget) Used() int { return int(b.used.Load()) }

func (b *Budget) take(n int) bool {
	if b.used.Add(int64(n)) > b.limit {
		b.used.Add(-int64(n))
		return false
	}
	return true
}

func (b *Budget) release(n int) { b.used.Add(-int64(n)) }

type header struct {
	n     uint32
	kind  Kind
	flags Flags
	lane  uint16
}

func appendHeader(b []byte, n int, kind Kind, flags Flags, lane uint16) []byte {
	return append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n), byte(kind), byte(flags), byte(lane>>8), byte(lane))
}

func parseHeader(b []byte) header {
	_ = b[7]
	return header{
		n:     binary.BigEndian.Uint32(b),
		kind:  Kind(b[4]),
		flags: Flags(b[5]),
		lane:  binary.BigEndian.Uint16(b[6:]),
	}
}

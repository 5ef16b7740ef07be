package codec

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/grovedev/grove/proc"
)

// Errors.
var (
	// ErrUnregistered is returned when encoding a value whose type is
	// neither built in nor registered.
	ErrUnregistered = errors.New("codec: type not registered")
	// ErrMalformed is returned for input that is not a valid message.
	ErrMalformed = errors.New("codec: malformed message")
	// ErrLimit is returned when a message exceeds a limit of the Config,
	// when encoding or decoding.
	ErrLimit = errors.New("codec: limit exceeded")
	// ErrDuplicate is returned when registering a name, ID, type, code or
	// sentinel twice.
	ErrDuplicate = errors.New("codec: already registered")
)

// UnknownTypeError is returned by Decode for a message of a registered type
// this registry does not know. It is an error value the receiver can send
// back: it travels with its ID intact.
type UnknownTypeError struct {
	ID uint64 // wire ID of the type; Registry.Name on the sender maps it back
}

// Error names the unknown ID.
func (e *UnknownTypeError) Error() string {
	return fmt.Sprintf("codec: unknown message type %#016x", e.ID)
}

// Defaults for Config fields left zero.
const (
	DefaultMaxBytes    = 128 << 20 // Config.MaxBytes
	DefaultMaxDepth    = 32        // Config.MaxDepth
	DefaultMaxElements = 1 << 20   // Config.MaxElements
)

// Config holds the limits of a Registry. Zero fields mean the defaults.
type Config struct {
	// MaxBytes bounds an encoded message, on both sides. Default 128 MiB.
	MaxBytes int
	// MaxDepth bounds the nesting of arrays, maps and structs in a CBOR
	// body, from 4 to 65535. Default 32.
	MaxDepth int
	// MaxElements bounds the elements of one array or pairs of one map in
	// a CBOR body, from 16 up. Default 1 Mi.
	MaxElements int
	// RejectUnknownFields makes decoding fail when a struct's CBOR map has
	// a field the Go type lacks. Off by default so that a newer peer may
	// add fields.
	RejectUnknownFields bool
}

// Validate reports whether c is within range.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.MaxBytes < 16:
		return fmt.Errorf("codec: MaxBytes %d too small", c.MaxBytes)
	case c.MaxDepth < 4 || c.MaxDepth > 65535:
		return fmt.Errorf("codec: MaxDepth %d out of range [4, 65535]", c.MaxDepth)
	case c.MaxElements < 16 || c.MaxElements > math.MaxInt32:
		return fmt.Errorf("codec: MaxElements %d out of range [16, 2^31-1]", c.MaxElements)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	if c.MaxElements == 0 {
		c.MaxElements = DefaultMaxElements
	}
	return c
}

// Registry maps message types to wire names and encodes and decodes
// messages.
//
// Concurrency: all methods are safe for concurrent use. Lookups are
// lock-free (the tables are copied on registration), so registering is
// slow and meant for start-up.
type Registry struct {
	cfg Config
	em  cbor.UserBufferEncMode
	dm  cbor.DecMode
	tab atomic.Pointer[table]
	mu  sync.Mutex // serialises registrations
}

type table struct {
	byType    map[reflect.Type]*entry
	byID      map[uint64]*entry
	errByCode map[uint32]error
	codeByErr map[error]uint32
	codeOrder []uint32 // codes in registration order, for errors.Is matching
}

type entry struct {
	name   string
	id     uint64
	typ    reflect.Type
	encode func(r *Registry, dst []byte, v any) ([]byte, error)
	decode func(r *Registry, body []byte) (any, error)
}

// NewRegistry returns a registry with the built-in types and error
// sentinels.
func NewRegistry(cfg Config) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	em, err := cbor.EncOptions{
		Time:          cbor.TimeRFC3339Nano,
		IndefLength:   cbor.IndefLengthForbidden,
		NilContainers: cbor.NilContainerAsNull,
	}.UserBufferEncMode()
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	extra := cbor.ExtraDecErrorNone
	if cfg.RejectUnknownFields {
		extra = cbor.ExtraDecErrorUnknownField
	}
	dm, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   cfg.MaxDepth,
		MaxArrayElements:  cfg.MaxElements,
		MaxMapPairs:       cfg.MaxElements,
		IntDec:            cbor.IntDecConvertSignedOrFail,
		DefaultMapType:    reflect.TypeFor[map[string]any](),
		UTF8:              cbor.UTF8RejectInvalid,
		ExtraReturnErrors: extra,
	}.DecMode()
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	r := &Registry{cfg: cfg, em: em, dm: dm}
	r.tab.Store(&table{
		byType:    map[reflect.Type]*entry{},
		byID:      map[uint64]*entry{},
		errByCode: map[uint32]error{},
		codeByErr: map[error]uint32{},
	})
	for _, s := range builtinSentinels {
		if err := r.RegisterError(s.code, s.err); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Config returns the registry's configuration with defaults filled in.
func (r *Registry) Config() Config { return r.cfg }

// TypeID returns the wire ID of a type name: its 64-bit FNV-1a hash.
func TypeID(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// Name returns the name registered for a wire ID, for reporting an
// *UnknownTypeError sent back by a peer.
func (r *Registry) Name(id uint64) (string, bool) {
	e := r.tab.Load().byID[id]
	if e == nil {
		return "", false
	}
	return e.name, true
}

// Register registers T under name. The name must be non-empty, at most 255
// bytes, and the same on every node; a name, ID or type registered twice is
// ErrDuplicate. Built-in types (see the package documentation) cannot be
// registered. If T implements encoding.BinaryAppender and *T implements
// encoding.BinaryUnmarshaler, messages of type T use them instead of CBOR.
func Register[T any](r *Registry, name string) error {
	typ := reflect.TypeFor[T]()
	if name == "" || len(name) > 255 {
		return fmt.Errorf("codec: invalid type name %q", name)
	}
	if isBuiltin(typ) {
		return fmt.Errorf("%w: %v is built in", ErrDuplicate, typ)
	}
	if typ.Kind() == reflect.Interface {
		return fmt.Errorf("codec: cannot register interface type %v", typ)
	}
	e := &entry{name: name, id: TypeID(name), typ: typ}
	var zero T
	_, appender := any(zero).(encoding.BinaryAppender)
	_, unmarshaler := any(&zero).(encoding.BinaryUnmarshaler)
	if appender && unmarshaler {
		e.encode = func(r *Registry, dst []byte, v any) ([]byte, error) {
			dst = append(dst, fmtBinary)
			dst = binary.BigEndian.AppendUint64(dst, e.id)
			return v.(encoding.BinaryAppender).AppendBinary(dst)
		}
		e.decode = func(r *Registry, body []byte) (v any, err error) {
			// Input comes from the network: a panicking UnmarshalBinary
			// must not take the node down.
			defer func() {
				if p := recover(); p != nil {
					v, err = nil, fmt.Errorf("UnmarshalBinary panicked: %v", p)
				}
			}()
			var x T
			if err := any(&x).(encoding.BinaryUnmarshaler).UnmarshalBinary(body); err != nil {
				return nil, err
			}
			return x, nil
		}
	} else {
		e.encode = func(r *Registry, dst []byte, v any) ([]byte, error) {
			dst = append(dst, fmtCBOR)
			dst = binary.BigEndian.AppendUint64(dst, e.id)
			return r.appendCBOR(dst, v)
		}
		e.decode = func(r *Registry, body []byte) (any, error) {
			var v T
			if err := r.dm.Unmarshal(body, &v); err != nil {
				return nil, err
			}
			return v, nil
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.tab.Load()
	if prev := old.byID[e.id]; prev != nil {
		return fmt.Errorf("%w: name %q (ID of %q)", ErrDuplicate, name, prev.name)
	}
	if prev := old.byType[typ]; prev != nil {
		return fmt.Errorf("%w: type %v as %q", ErrDuplicate, typ, prev.name)
	}
	t := old.clone()
	t.byID[e.id] = e
	t.byType[typ] = e
	r.tab.Store(t)
	return nil
}

// MustRegister is Register that panics on error, for package-level setup.
func MustRegister[T any](r *Registry, name string) {
	if err := Register[T](r, name); err != nil {
		panic(err)
	}
}

// RegisterError registers a sentinel error under a stable code, so that it
// decodes to the identical value on a peer that registered the same code.
// Codes below CodeUser are reserved for Grove. The sentinel must be a
// comparable value (such as one made by errors.New).
func (r *Registry) RegisterError(code uint32, sentinel error) error {
	if sentinel == nil || !reflect.TypeOf(sentinel).Comparable() {
		return fmt.Errorf("codec: sentinel %v is not comparable", sentinel)
	}
	if code == CodeUnknown {
		return fmt.Errorf("codec: error code 0 is reserved")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.tab.Load()
	if _, ok := old.errByCode[code]; ok {
		return fmt.Errorf("%w: error code %d", ErrDuplicate, code)
	}
	if _, ok := old.codeByErr[sentinel]; ok {
		return fmt.Errorf("%w: sentinel %v", ErrDuplicate, sentinel)
	}
	t := old.clone()
	t.errByCode[code] = sentinel
	t.codeByErr[sentinel] = code
	t.codeOrder = append(t.codeOrder, code)
	r.tab.Store(t)
	return nil
}

func (t *table) clone() *table {
	n := &table{
		byType:    make(map[reflect.Type]*entry, len(t.byType)+1),
		byID:      make(map[uint64]*entry, len(t.byID)+1),
		errByCode: make(map[uint32]error, len(t.errByCode)+1),
		codeByErr: make(map[error]uint32, len(t.codeByErr)+1),
		codeOrder: append([]uint32(nil), t.codeOrder...),
	}
	for k, v := range t.byType {
		n.byType[k] = v
	}
	for k, v := range t.byID {
		n.byID[k] = v
	}
	for k, v := range t.errByCode {
		n.errByCode[k] = v
	}
	for k, v := range t.codeByErr {
		n.codeByErr[k] = v
	}
	return n
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// appendCBOR appends the CBOR encoding of v to dst.
func (r *Registry) appendCBOR(dst []byte, v any) ([]byte, error) {
	bb := bufPool.Get().(*bytes.Buffer)
	*bb = *bytes.NewBuffer(dst)
	err := r.em.MarshalToBuffer(v, bb)
	out := bb.Bytes()
	*bb = bytes.Buffer{}
	bufPool.Put(bb)
	if err != nil {
		return dst, fmt.Errorf("codec: encode %T: %w", v, err)
	}
	return out, nil
}

// Encode returns the encoding of v in a new slice.
func (r *Registry) Encode(v any) ([]byte, error) { return r.AppendEncode(nil, v) }

// AppendEncode appends the encoding of v to dst and returns the extended
// slice. On error dst is returned unchanged (its spare capacity may have
// been written). It allocates nothing for built-in scalars and
// self-marshalling types when dst has room.
func (r *Registry) AppendEncode(dst []byte, v any) ([]byte, error) {
	start := len(dst)
	out, err := r.appendValue(dst, v, 0)
	if err != nil {
		return dst[:start], err
	}
	if n := len(out) - start; n > r.cfg.MaxBytes {
		return dst[:start], fmt.Errorf("%w: message of %d bytes over MaxBytes %d", ErrLimit, n, r.cfg.MaxBytes)
	}
	return out, nil
}

func (r *Registry) appendValue(dst []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, fmtNil), nil
	case bool:
		if x {
			return append(dst, fmtTrue), nil
		}
		return append(dst, fmtFalse), nil
	case string:
		return append(append(dst, fmtString), x...), nil
	case []byte:
		return append(append(dst, fmtBytes), x...), nil
	case int:
		return binary.AppendVarint(append(dst, fmtInt), int64(x)), nil
	case int8:
		return binary.AppendVarint(append(dst, fmtInt8), int64(x)), nil
	case int16:
		return binary.AppendVarint(append(dst, fmtInt16), int64(x)), nil
	case int32:
		return binary.AppendVarint(append(dst, fmtInt32), int64(x)), nil
	case int64:
		return binary.AppendVarint(append(dst, fmtInt64), x), nil
	case uint:
		return binary.AppendUvarint(append(dst, fmtUint), uint64(x)), nil
	case uint8:
		return binary.AppendUvarint(append(dst, fmtUint8), uint64(x)), nil
	case uint16:
		return binary.AppendUvarint(append(dst, fmtUint16), uint64(x)), nil
	case uint32:
		return binary.AppendUvarint(append(dst, fmtUint32), uint64(x)), nil
	case uint64:
		return binary.AppendUvarint(append(dst, fmtUint64), x), nil
	case float32:
		return binary.BigEndian.AppendUint32(append(dst, fmtFloat32), math.Float32bits(x)), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, fmtFloat64), math.Float64bits(x)), nil
	case time.Duration:
		return binary.AppendVarint(append(dst, fmtDuration), int64(x)), nil
	case time.Time:
		return x.AppendBinary(append(dst, fmtTime))
	case proc.PID:
		return appendID(append(dst, fmtPID), x.Node, x.Creation, x.ID), nil
	case proc.Ref:
		return appendID(append(dst, fmtRef), x.Node, x.Creation, x.ID), nil
	case []string:
		return r.appendCBOR(append(dst, fmtStrings), x)
	case map[string]string:
		return r.appendCBOR(append(dst, fmtStringMap), x)
	case []any:
		return r.appendCBOR(append(dst, fmtList), x)
	case map[string]any:
		return r.appendCBOR(append(dst, fmtMap), x)
	}
	if e := r.tab.Load().byType[reflect.TypeOf(v)]; e != nil {
		return e.encode(r, dst, v)
	}
	if err, ok := v.(error); ok {
		return r.appendError(append(dst, fmtError), err)
	}
	return dst, fmt.Errorf("%w: %T", ErrUnregistered, v)
}

func isBuiltin(t reflect.Type) bool {
	switch t {
	case reflect.TypeFor[bool](), reflect.TypeFor[string](), reflect.TypeFor[[]byte](),
		reflect.TypeFor[int](), reflect.TypeFor[int8](), reflect.TypeFor[int16](), reflect.TypeFor[int32](), reflect.TypeFor[int64](),
		reflect.TypeFor[uint](), reflect.TypeFor[uint8](), reflect.TypeFor[uint16](), reflect.TypeFor[uint32](), reflect.TypeFor[uint64](),
		reflect.TypeFor[float32](), reflect.TypeFor[float64](), reflect.TypeFor[time.Duration](), reflect.TypeFor[time.Time](),
		reflect.TypeFor[proc.PID](), reflect.TypeFor[proc.Ref](), reflect.TypeFor[[]string](), reflect.TypeFor[map[string]string](),
		reflect.TypeFor[[]any](), reflect.TypeFor[map[string]any]():
		return true
	}
	return false
}

func appendID(dst []byte, node string, creation, id uint64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(node)))
	dst = append(dst, node...)
	dst = binary.AppendUvarint(dst, creation)
	return binary.AppendUvarint(dst, id)
}

// Format bytes: the first byte of every message.
const (
	fmtNil byte = iota
	fmtFalse
	fmtTrue
	fmtString
	fmtBytes
	fmtInt
	fmtInt8
	fmtInt16
	fmtInt32
	fmtInt64
	fmtUint
	fmtUint8
	fmtUint16
	fmtUint32
	fmtUint64
	fmtFloat32
	fmtFloat64
	fmtDuration
	fmtTime
	fmtPID
	fmtRef
	fmtStrings
	fmtStringMap
	fmtList
	fmtMap
	fmtCBOR   = 0x40 // 8-byte type ID, CBOR body
	fmtBinary = 0x41 // 8-byte type ID, body from AppendBinary
	fmtError  = 0x42 // CBOR error record
)

// Decode decodes one message. The result does not alias data (provided
// the UnmarshalBinary methods of registered types copy what they keep, as
// encoding.BinaryUnmarshaler requires). Errors wrap ErrMalformed or
// ErrLimit, or are an *UnknownTypeError.
func (r *Registry) Decode(data []byte) (any, error) { return r.decode(data, false) }

// DecodeOwned is Decode for a caller that hands data over: a []byte
// message is returned as a slice of data instead of a copy, so data must
// not be used again. The link's reader uses it for frames it read into
// their own buffer, saving a copy of large messages.
func (r *Registry) DecodeOwned(data []byte) (any, error) { return r.decode(data, true) }

func (r *Registry) decode(data []byte, owned bool) (any, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty message", ErrMalformed)
	}
	if len(data) > r.cfg.MaxBytes {
		return nil, fmt.Errorf("%w: message of %d bytes over MaxBytes %d", ErrLimit, len(data), r.cfg.MaxBytes)
	}
	body := data[1:]
	switch f := data[0]; f {
	case fmtNil, fmtFalse, fmtTrue:
		if len(body) != 0 {
			return nil, trailing()
		}
		switch f {
		case fmtFalse:
			return false, nil
		case fmtTrue:
			return true, nil
		}
		return nil, nil
	case fmtString:
		return string(body), nil
	case fmtBytes:
		if owned {
			return body[:len(body):len(body)], nil
		}
		return bytes.Clone(body), nil
	case fmtInt, fmtInt8, fmtInt16, fmtInt32, fmtInt64, fmtDuration:
		x, err := varint(body)
		if err != nil {
			return nil, err
		}
		switch f {
		case fmtInt:
			if x < math.MinInt || x > math.MaxInt {
				return nil, overflow()
			}
			return int(x), nil
		case fmtInt8:
			if x < math.MinInt8 || x > math.MaxInt8 {
				return nil, overflow()
			}
			return int8(x), nil
		case fmtInt16:
			if x < math.MinInt16 || x > math.MaxInt16 {
				return nil, overflow()
			}
			return int16(x), nil
		case fmtInt32:
			if x < math.MinInt32 || x > math.MaxInt32 {
				return nil, overflow()
			}
			return int32(x), nil
		case fmtDuration:
			return time.Duration(x), nil
		}
		return x, nil
	case fmtUint, fmtUint8, fmtUint16, fmtUint32, fmtUint64:
		x, err := uvarint(body)
		if err != nil {
			return nil, err
		}
		switch f {
		case fmtUint:
			if uint64(uint(x)) != x {
				return nil, overflow()
			}
			return uint(x), nil
		case fmtUint8:
			if x > math.MaxUint8 {
				return nil, overflow()
			}
			return uint8(x), nil
		case fmtUint16:
			if x > math.MaxUint16 {
				return nil, overflow()
			}
			return uint16(x), nil
		case fmtUint32:
			if x > math.MaxUint32 {
				return nil, overflow()
			}
			return uint32(x), nil
		}
		return x, nil
	case fmtFloat32:
		if len(body) != 4 {
			return nil, fmt.Errorf("%w: float32 of %d bytes", ErrMalformed, len(body))
		}
		return math.Float32frombits(binary.BigEndian.Uint32(body)), nil
	case fmtFloat64:
		if len(body) != 8 {
			return nil, fmt.Errorf("%w: float64 of %d bytes", ErrMalformed, len(body))
		}
		return math.Float64frombits(binary.BigEndian.Uint64(body)), nil
	case fmtTime:
		var t time.Time
		if err := t.UnmarshalBinary(body); err != nil {
			return nil, fmt.Errorf("%w: time: %w", ErrMalformed, err)
		}
		return t, nil
	case fmtPID:
		node, c, id, err := parseID(body)
		if err != nil {
			return nil, err
		}
		return proc.PID{Node: node, Creation: c, ID: id}, nil
	case fmtRef:
		node, c, id, err := parseID(body)
		if err != nil {
			return nil, err
		}
		return proc.Ref{Node: node, Creation: c, ID: id}, nil
	case fmtStrings:
		var v []string
		return v, r.unmarshal(body, &v, "[]string")
	case fmtStringMap:
		var v map[string]string
		return v, r.unmarshal(body, &v, "map[string]string")
	case fmtList:
		var v []any
		return v, r.unmarshal(body, &v, "[]any")
	case fmtMap:
		var v map[string]any
		return v, r.unmarshal(body, &v, "map[string]any")
	case fmtCBOR, fmtBinary:
		if len(body) < 8 {
			return nil, fmt.Errorf("%w: short type ID", ErrMalformed)
		}
		id := binary.BigEndian.Uint64(body)
		e := r.tab.Load().byID[id]
		if e == nil {
			return nil, &UnknownTypeError{ID: id}
		}
		v, err := e.decode(r, body[8:])
		if err != nil {
			return nil, r.wrapDecodeErr(err, e.name)
		}
		return v, nil
	case fmtError:
		return r.decodeError(body)
	default:
		return nil, fmt.Errorf("%w: unknown format %#x", ErrMalformed, f)
	}
}

func (r *Registry) unmarshal(body []byte, v any, what string) error {
	if err := r.dm.Unmarshal(body, v); err != nil {
		return r.wrapDecodeErr(err, what)
	}
	return nil
}

func (r *Registry) wrapDecodeErr(err error, what string) error {
	var (
		e1 *cbor.MaxNestedLevelError
		e2 *cbor.MaxArrayElementsError
		e3 *cbor.MaxMapPairsError
	)
	if errors.As(err, &e1) || errors.As(err, &e2) || errors.As(err, &e3) {
		return fmt.Errorf("%w: %s: %w", ErrLimit, what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
}

func trailing() error { return fmt.Errorf("%w: trailing bytes", ErrMalformed) }
func overflow() error { return fmt.Errorf("%w: integer out of range", ErrMalformed) }

func varint(b []byte) (int64, error) {
	x, n := binary.Varint(b)
	if n <= 0 {
		return 0, fmt.Errorf("%w: bad varint", ErrMalformed)
	}
	if n != len(b) {
		return 0, trailing()
	}
	return x, nil
}

func uvarint(b []byte) (uint64, error) {
	x, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, fmt.Errorf("%w: bad uvarint", ErrMalformed)
	}
	if n != len(b) {
		return 0, trailing()
	}
	return x, nil
}

func parseID(b []byte) (string, uint64, uint64, error) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return "", 0, 0, fmt.Errorf("%w: bad node name", ErrMalformed)
	}
	b = b[n:]
	node := string(b[:l])
	b = b[l:]
	c, n := binary.Uvarint(b)
	if n <= 0 {
		return "", 0, 0, fmt.Errorf("%w: bad creation", ErrMalformed)
	}
	id, err := uvarint(b[n:])
	if err != nil {
		return "", 0, 0, err
	}
	return node, c, id, nil
}

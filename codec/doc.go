// Package codec turns messages into bytes and back for the trip between
// nodes: a Registry of message types over CBOR
// (github.com/fxamacker/cbor/v2) with strict decoding limits, a fast path
// for types that marshal themselves, and transparent travel of PIDs, Refs,
// errors and exit reasons.
//
// # What can be sent
//
// Without registration, as a top-level message, these exact types keep
// their type across the wire: nil, bool, string, []byte, int, int8, int16,
// int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64,
// time.Time, time.Duration, []string, map[string]string, []any,
// map[string]any, proc.PID and proc.Ref. Inside []any and map[string]any
// values follow the generic CBOR mapping: integers come back as int64
// (values above math.MaxInt64 fail to decode), floats as float64, byte
// strings as []byte, arrays as []any, maps as map[string]any (maps with
// keys other than strings cannot be decoded), and time.Time as an RFC 3339
// string. Structs nested in them (a proc.PID in a []any, say) come back as
// maps.
//
// Every other type, including named types over the types above, must be
// registered with Register under a stable name before it is sent or
// received. The name, not the Go type, identifies the type on the wire (as
// a 64-bit FNV-1a hash), so both nodes must register the same name for
// compatible types. Encoding an unregistered type fails at the sender with
// ErrUnregistered; a message of a type the receiver does not know decodes to
// an *UnknownTypeError carrying the ID, which the receiver can send back and
// the sender can turn into a name with Registry.Name.
//
// A registered type whose value implements encoding.BinaryAppender and whose
// pointer implements encoding.BinaryUnmarshaler skips CBOR entirely: the
// bytes of AppendBinary are the body. Other registered types go through
// CBOR with the registry's limits (use `cbor:",toarray"` struct tags to keep
// field names off the wire). Fields of interface type are decoded with the
// generic mapping above, so a registered type inside an `any` field loses
// its type: to nest an arbitrary message in an envelope, carry it as the
// []byte produced by Encode and Decode it separately.
//
// # Errors
//
// Any value implementing error travels without registration:
//
//   - registered sentinels (the proc exit reasons ErrNormal, ErrShutdown,
//     ErrKill, ErrKilled, ErrNoProc, ErrNoConnection, the proc API errors,
//     context.Canceled and context.DeadlineExceeded, and any sentinel added
//     with RegisterError) decode to the identical value, so == and
//     errors.Is work across the wire;
//   - *proc.CrashError keeps its stack; its panic value travels as a
//     string, or as an error if it was one;
//   - proc.ShutdownError and *proc.ExitError keep their type, with their
//     reason encoded recursively;
//   - *UnknownTypeError keeps its type and ID;
//   - every other error becomes a *RemoteError{Code, Message}: Message is
//     err.Error(), Code is the code of the first registered sentinel the
//     error matches under errors.Is (CodeUnknown if none), and the
//     RemoteError unwraps to that sentinel on the receiver.
//
// # Wire format
//
// A message is one format byte followed by a body whose end is the end of
// the message (framing is done by the layer below). Registered types carry
// an 8-byte big-endian type ID before the body.
//
// # Usage
//
//	r, _ := codec.NewRegistry(codec.Config{})
//	codec.MustRegister[Ping](r, "myapp.Ping")
//	buf, err := r.AppendEncode(buf[:0], Ping{N: 1})
//	v, err := r.Decode(buf) // v is a Ping
//
// A Registry is safe for concurrent use; register types at start-up, before
// the first message is decoded.
package codec

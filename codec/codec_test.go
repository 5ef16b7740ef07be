package codec_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/proc"
)

type Ping struct {
	From proc.PID
	Seq  uint64
	Body string
	Tags []string
}

// Point marshals itself: it takes the fast path.
type Point struct{ X, Y int32 }

func (p Point) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint32(b, uint32(p.X))
	return binary.BigEndian.AppendUint32(b, uint32(p.Y)), nil
}

func (p *Point) UnmarshalBinary(b []byte) error {
	if len(b) != 8 {
		return errors.New("point: need 8 bytes")
	}
	p.X = int32(binary.BigEndian.Uint32(b))
	p.Y = int32(binary.BigEndian.Uint32(b[4:]))
	return nil
}

type Nested struct {
	Child *Nested
}

func newRegistry(t testing.TB, cfg codec.Config) *codec.Registry {
	t.Helper()
	r, err := codec.NewRegistry(cfg)
	if err != nil {
		t.Fatal(err)
	}
	codec.MustRegister[Ping](r, "test.Ping")
	codec.MustRegister[Point](r, "test.Point")
	codec.MustRegister[*Nested](r, "test.Nested")
	return r
}

func roundTrip(t *testing.T, r *codec.Registry, v any) any {
	t.Helper()
	b, err := r.AppendEncode(make([]byte, 0, 64), v)
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	got, err := r.Decode(b)
	if err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
	return got
}

func TestBuiltinsKeepTheirType(t *testing.T) {
	r := newRegistry(t, codec.Config{})
	now := time.Now()
	values := []any{
		nil, true, false, "", "héllo", []byte{}, []byte{1, 2, 3},
		0, -1, math.MaxInt, math.MinInt, int8(-128), int8(127), int16(-300), int32(1 << 30), int64(math.MinInt64),
		uint(7), uint8(255), uint16(65535), uint32(math.MaxUint32), uint64(math.MaxUint64),
		float32(1.5), math.Pi, math.Inf(-1), 3 * time.Second, now,
		proc.PID{Node: "a@host", Creation: 42, ID: 7}, proc.Ref{Node: "b", Creation: 1, ID: 99},
		[]string{"x", "y"}, map[string]string{"k": "v"},
	}
	for _, v := range values {
		got := roundTrip(t, r, v)
		if tm, ok := v.(time.Time); ok {
			if !tm.Equal(got.(time.Time)) {
				t.Errorf("time: got %v want %v", got, v)
			}
			continue
		}
		if reflect.TypeOf(got) != reflect.TypeOf(v) || !reflect.DeepEqual(got, v) {
			t.Errorf("%T(%v): got %T(%v)", v, v, got, got)
		}
	}
}

func TestGenericContainers(t *testing.T) {
	r := newRegistry(t, codec.Config{})
	in := map[string]any{
		"n": 3, "neg": int64(-4), "f": 2.5, "s": "str", "b": []byte("raw"), "ok": true, "nil": nil,
		"list": []any{1, "two", map[string]any{"deep": uint8(3)}},
	}
	got := roundTrip(t, r, in).(map[string]any)
	want := map[string]any{
		"n": int64(3), "neg": int64(-4), "f": 2.5, "s": "str", "b": []byte("raw"), "ok": true, "nil": nil,
		"list": []any{int64(1), "two", map[string]any{"deep": int64(3)}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
}

func TestRegisteredTypes(t *testing.T) {
	r := newRegistry(t, codec.Config{})
	p := Ping{From: proc.PID{Node: "n1", Creation: 5, ID: 9}, Seq: 12, Body: "hi", Tags: []string{"a"}}
	if got := roundTrip(t, r, p); !reflect.DeepEqual(got, p) {
		t.Fatalf("Ping: got %#v", got)
	}
	pt := Point{X: -3, Y: 1 << 20}
	b, err := r.Encode(pt)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 1+8+8 {
		t.Fatalf("Point did not take the binary fast path: %d bytes", len(b))
	}
	if got, _ := r.Decode(b); got != pt {
		t.Fatalf("Point: got %#v", got)
	}
	n := &Nested{Child: &Nested{}}
	if got := roundTrip(t, r, n); !reflect.DeepEqual(got, n) {
		t.Fatalf("Nested: got %#v", got)
	}
	if name, ok := r.Name(codec.TypeID("test.Ping")); !ok || name != "test.Ping" {
		t.Fatalf("Name: %q %v", name, ok)
	}
}

func TestRegisterDuplicates(t *testing.T) {
	r := newRegistry(t, codec.Config{})
	type Other struct{}
	if err := codec.Register[Other](r, "test.Ping"); !errors.Is(err, codec.ErrDuplicate) {
		t.Fatalf("duplicate name: %v", err)
	}
	if err := codec.Register[Ping](r, "test.Ping2"); !errors.Is(err, codec.ErrDuplicate) {
		t.Fatalf("duplicate type: %v", err)
	}
	if err := codec.Register[string](r, "test.string"); !errors.Is(err, codec.ErrDuplicate) {
		t.Fatalf("builtin type: %v", err)
	}
	if err := codec.Register[Other](r, ""); err == nil {
		t.Fatal("empty name accepted")
	}
	if err := codec.Register[error](r, "test.error"); err == nil {
		t.Fatal("interface type accepted")
	}
	if err := r.RegisterError(codec.CodeNormal, errors.New("x")); !errors.Is(err, codec.ErrDuplicate) {
		t.Fatalf("duplicate code: %v", err)
	}
	if err := r.RegisterError(codec.CodeUser, proc.ErrNormal); !errors.Is(err, codec.ErrDuplicate) {
		t.Fatalf("duplicate sentinel: %v", err)
	}
}

func TestUnregisteredAndUnknown(t *testing.T) {
	sender := newRegistry(t, codec.Config{})
	type Secret struct{ A int }
	if _, err := sender.Encode(Secret{1}); !errors.Is(err, codec.ErrUnregistered) {
		t.Fatalf("unregistered: %v", err)
	}
	type MyString string
	if _, err := sender.Encode(MyString("x")); !errors.Is(err, codec.ErrUnregistered) {
		t.Fatalf("named builtin: %v", err)
	}
	if _, err := sender.Encode([]int{1}); !errors.Is(err, codec.ErrUnregistered) {
		t.Fatalf("[]int: %v", err)
	}

	receiver, err := codec.NewRegistry(codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := sender.Encode(Ping{Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = receiver.Decode(b)
	var ute *codec.UnknownTypeError
	if !errors.As(err, &ute) || ute.ID != codec.TypeID("test.Ping") {
		t.Fatalf("unknown type: %v", err)
	}
	// The receiver reports it back; the sender names it.
	back, err := receiver.Encode(ute)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sender.Decode(back)
	if err != nil {
		t.Fatal(err)
	}
	ute2, ok := v.(*codec.UnknownTypeError)
	if !ok {
		t.Fatalf("reported back as %T", v)
	}
	if name, _ := sender.Name(ute2.ID); name != "test.Ping" {
		t.Fatalf("name of reported type: %q", name)
	}
}

func TestErrorsTravel(t *testing.T) {
	r := newRegistry(t, codec.Config{})
	sentinels := []error{proc.ErrNormal, proc.ErrShutdown, proc.ErrKill, proc.ErrKilled, proc.ErrNoProc,
		proc.ErrNoConnection, proc.ErrMailboxFull, proc.ErrNoRoute, context.Canceled, context.DeadlineExceeded}
	for _, s := range sentinels {
		if got := roundTrip(t, r, s); got != s {
			t.Errorf("sentinel %v decoded to %#v", s, got)
		}
	}

	crash := &proc.CrashError{Value: []int{1, 2}, Stack: []byte("goroutine 1 [running]:\n...")}
	got := roundTrip(t, r, crash).(*proc.CrashError)
	if got.Value != "[1 2]" || !bytes.Equal(got.Stack, crash.Stack) || got.Error() != crash.Error() {
		t.Fatalf("crash: %#v", got)
	}
	crashErr := &proc.CrashError{Value: fmt.Errorf("boom: %w", proc.ErrNoProc)}
	gotErr := roundTrip(t, r, crashErr).(error)
	if !errors.Is(gotErr, proc.ErrNoProc) || gotErr.Error() != crashErr.Error() {
		t.Fatalf("crash with error value: %v", gotErr)
	}

	sd := proc.ShutdownError{Reason: errors.New("maintenance")}
	gotSD := roundTrip(t, r, sd).(error)
	if !errors.Is(gotSD, proc.ErrShutdown) || gotSD.Error() != sd.Error() {
		t.Fatalf("shutdown: %v", gotSD)
	}
	if _, ok := gotSD.(proc.ShutdownError); !ok {
		t.Fatalf("shutdown decoded as %T", gotSD)
	}

	pid := proc.PID{Node: "n", Creation: 1, ID: 2}
	exit := &proc.ExitError{PID: pid, Reason: proc.ErrKilled}
	gotExit := roundTrip(t, r, exit).(*proc.ExitError)
	if gotExit.PID != pid || gotExit.Reason != proc.ErrKilled {
		t.Fatalf("exit: %#v", gotExit)
	}

	wrapped := fmt.Errorf("lookup failed: %w", proc.ErrNotRegistered)
	gotW := roundTrip(t, r, wrapped).(error)
	var re *codec.RemoteError
	if !errors.As(gotW, &re) || re.Code != codec.CodeNotRegistered || re.Message != wrapped.Error() {
		t.Fatalf("wrapped: %#v", gotW)
	}
	if !errors.Is(gotW, proc.ErrNotRegistered) {
		t.Fatal("errors.Is lost across the wire")
	}
	plain := roundTrip(t, r, errors.New("disk on fire")).(*codec.RemoteError)
	if plain.Code != codec.CodeUnknown || plain.Message != "disk on fire" || plain.Unwrap() != nil {
		t.Fatalf("plain: %#v", plain)
	}
	// A relayed RemoteError keeps its code and message.
	if again := roundTrip(t, r, gotW).(*codec.RemoteError); again.Code != re.Code || again.Message != re.Message {
		t.Fatalf("relayed: %#v", again)
	}

	// User sentinels.
	errFull := errors.New("queue full")
	if err := r.RegisterError(codec.CodeUser+1, errFull); err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, r, errFull); got != errFull {
		t.Fatalf("user sentinel: %#v", got)
	}
	// A sentinel the receiver lacks arrives as a RemoteError with its text.
	other := newRegistry(t, codec.Config{})
	b, _ := r.Encode(errFull)
	v, err := other.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if re, ok := v.(*codec.RemoteError); !ok || re.Message != "queue full" || re.Code != codec.CodeUser+1 {
		t.Fatalf("unknown sentinel: %#v", v)
	}
}

func TestDeepErrorChainIsBounded(t *testing.T) {
	r := newRegistry(t, codec.Config{})
	var err error = proc.ErrKilled
	for range 50 {
		err = proc.ShutdownError{Reason: err}
	}
	got := roundTrip(t, r, err).(error)
	// Beyond the depth bound the chain is flattened into a RemoteError
	// with the text of the whole rest and the first sentinel it matches.
	if !errors.Is(got, proc.ErrShutdown) || got.Error() != err.Error() {
		t.Fatalf("deep chain lost its identity: %v", got)
	}
}

func TestLimits(t *testing.T) {
	r := newRegistry(t, codec.Config{MaxBytes: 64, MaxDepth: 4, MaxElements: 16})
	if _, err := r.Encode(strings.Repeat("x", 100)); !errors.Is(err, codec.ErrLimit) {
		t.Fatalf("encode over MaxBytes: %v", err)
	}
	if _, err := r.Decode(append([]byte{3}, strings.Repeat("x", 100)...)); !errors.Is(err, codec.ErrLimit) {
		t.Fatalf("decode over MaxBytes: %v", err)
	}
	big := newRegistry(t, codec.Config{})
	deep := []any{[]any{[]any{[]any{[]any{[]any{1}}}}}}
	b, err := big.Encode(deep)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Decode(b); !errors.Is(err, codec.ErrLimit) {
		t.Fatalf("depth: %v", err)
	}
	list := make([]any, 17)
	b, _ = big.Encode(list)
	if _, err := r.Decode(b); !errors.Is(err, codec.ErrLimit) {
		t.Fatalf("elements: %v", err)
	}
	b, _ = big.Encode(Ping{Seq: 1})
	if _, err := r.Decode(b[:len(b)-3]); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
	if err := (codec.Config{MaxDepth: 2}).Validate(); err == nil {
		t.Fatal("MaxDepth 2 accepted")
	}
	if _, err := codec.NewRegistry(codec.Config{MaxElements: 3}); err == nil {
		t.Fatal("MaxElements 3 accepted")
	}
}

func TestStrictDecoding(t *testing.T) {
	r := newRegistry(t, codec.Config{})
	bad := [][]byte{
		{},
		{0xff},
		{0, 1},                                 // nil with trailing bytes
		{5, 0x80},                              // truncated varint
		{6, 0x80, 0x02},                        // int8 out of range
		{15, 1, 2},                             // short float32
		{19, 10, 'a'},                          // PID with short node
		{0x40, 1, 2, 3},                        // short type ID
		{24, 0xa2, 0x61, 'a', 1, 0x61, 'a', 2}, // duplicate map key
		{24, 0xbf, 0xff},                       // indefinite-length map
		{23, 0xc1, 0x01},                       // tag
		{3 + 0x42 - 3, 0x80},                   // error record: empty array
	}
	for _, b := range bad {
		if v, err := r.Decode(b); err == nil {
			t.Errorf("% x decoded to %#v", b, v)
		} else if !errors.Is(err, codec.ErrMalformed) && !errors.Is(err, codec.ErrLimit) {
			t.Errorf("% x: error %v is neither ErrMalformed nor ErrLimit", b, err)
		}
	}
	strict := newRegistry(t, codec.Config{RejectUnknownFields: true})
	type PingV2 struct {
		From  proc.PID
		Seq   uint64
		Extra int
	}
	newer, _ := codec.NewRegistry(codec.Config{})
	codec.MustRegister[PingV2](newer, "test.Ping")
	b, _ := newer.Encode(PingV2{Seq: 1, Extra: 2})
	if _, err := r.Decode(b); err != nil {
		t.Fatalf("lenient registry rejects a newer peer's extra field: %v", err)
	}
	if _, err := strict.Decode(b); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("strict registry accepts an unknown field: %v", err)
	}
}

func TestEncodeAppendsWithoutAllocating(t *testing.T) {
	r := newRegistry(t, codec.Config{})
	buf := make([]byte, 0, 256)
	var pid any = proc.PID{Node: "node", Creation: 1, ID: 2}
	var pt any = Point{1, 2}
	var s any = "hello"
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		b := buf[:0]
		b, err = r.AppendEncode(b, s)
		if err == nil {
			b, err = r.AppendEncode(b, pt)
		}
		if err == nil {
			_, err = r.AppendEncode(b, pid)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Fatalf("%v allocations per run", allocs)
	}
}

func FuzzDecode(f *testing.F) {
	r := newRegistry(f, codec.Config{MaxBytes: 1 << 16, MaxDepth: 8, MaxElements: 64})
	for _, v := range []any{nil, "s", 1, uint8(2), 1.5, proc.PID{Node: "n", ID: 1}, Ping{Seq: 1},
		Point{1, 2}, map[string]any{"a": []any{1}}, proc.ShutdownError{Reason: proc.ErrKilled},
		&proc.ExitError{Reason: errors.New("x")}, time.Unix(1, 2)} {
		b, err := r.Encode(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := r.Decode(b)
		if err != nil {
			var ute *codec.UnknownTypeError
			if !errors.Is(err, codec.ErrMalformed) && !errors.Is(err, codec.ErrLimit) && !errors.As(err, &ute) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		// Whatever decodes must encode again.
		if _, err := r.Encode(v); err != nil {
			t.Fatalf("re-encode %T: %v", v, err)
		}
	})
}

func TestNilPointerErrors(t *testing.T) {
	r := newRegistry(t, codec.Config{})
	for _, err := range []error{(*proc.CrashError)(nil), (*proc.ExitError)(nil), (*codec.RemoteError)(nil)} {
		b, encErr := r.Encode(err)
		if encErr != nil {
			t.Fatalf("%T: %v", err, encErr)
		}
		if _, decErr := r.Decode(b); decErr != nil {
			t.Fatalf("%T: %v", err, decErr)
		}
	}
}

type Fragile struct{ b []byte }

func (f Fragile) AppendBinary(b []byte) ([]byte, error) { return append(b, f.b...), nil }
func (f *Fragile) UnmarshalBinary(b []byte) error {
	_ = b[3] // panics on short input
	f.b = append([]byte(nil), b...)
	return nil
}

func TestPanickingUnmarshalIsAnError(t *testing.T) {
	r := newRegistry(t, codec.Config{})
	codec.MustRegister[Fragile](r, "test.Fragile")
	b, err := r.Encode(Fragile{b: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Decode(b); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("got %v", err)
	}
}

func TestDecodeOwnedKeepsTheBuffer(t *testing.T) {
	r, err := codec.NewRegistry(codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := r.Encode([]byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := r.DecodeOwned(data)
	if err != nil {
		t.Fatal(err)
	}
	b := v.([]byte)
	if string(b) != "payload" || &b[0] != &data[1] {
		t.Fatalf("DecodeOwned copied or changed the bytes: %q", b)
	}
	if cap(b) != len(b) {
		t.Fatal("an owned slice may be appended into the caller's buffer")
	}
	v, _ = r.Decode(data)
	if c := v.([]byte); &c[0] == &data[1] {
		t.Fatal("Decode aliases its input")
	}
}

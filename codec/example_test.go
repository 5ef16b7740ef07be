package codec_test

import (
	"errors"
	"fmt"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/proc"
)

type Greeting struct {
	_    struct{} `cbor:",toarray"`
	From proc.PID
	Text string
}

func ExampleRegister() {
	r, err := codec.NewRegistry(codec.Config{})
	if err != nil {
		panic(err)
	}
	codec.MustRegister[Greeting](r, "example.Greeting")

	buf, err := r.AppendEncode(nil, Greeting{From: proc.PID{Node: "a", Creation: 1, ID: 7}, Text: "hello"})
	if err != nil {
		panic(err)
	}
	v, err := r.Decode(buf)
	if err != nil {
		panic(err)
	}
	g := v.(Greeting)
	fmt.Println(g.From, g.Text)
	// Output: <a.7.1> hello
}

func ExampleRegistry_Decode_errors() {
	r, _ := codec.NewRegistry(codec.Config{})

	// Exit reasons decode to the identical sentinel.
	buf, _ := r.Encode(proc.ErrNoProc)
	v, _ := r.Decode(buf)
	fmt.Println(v == proc.ErrNoProc)

	// Other errors become RemoteErrors that still match their sentinel.
	buf, _ = r.Encode(fmt.Errorf("monitor <b.3.1>: %w", proc.ErrNoConnection))
	v, _ = r.Decode(buf)
	err := v.(error)
	fmt.Println(err, errors.Is(err, proc.ErrNoConnection))

	// Unregistered types are refused at the sender.
	type private struct{}
	_, err = r.Encode(private{})
	fmt.Println(errors.Is(err, codec.ErrUnregistered))
	// Output:
	// true
	// monitor <b.3.1>: noconnection true
	// true
}

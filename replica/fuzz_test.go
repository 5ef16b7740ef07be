package replica

import (
	"testing"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/crdt"
)

// FuzzReceive feeds arbitrary sync messages, as bytes off the wire, to a
// replica's core: nothing may panic, and what does not decode changes
// nothing.
func FuzzReceive(f *testing.F) {
	reg, err := codec.NewRegistry(codec.Config{})
	if err != nil {
		f.Fatal(err)
	}
	if err := RegisterTypes(reg); err != nil {
		f.Fatal(err)
	}
	src := newCore("a", "a#1", crdt.NewORSet[string](), func() crdt.State { return crdt.NewORSet[string]() }, testCoreConfig())
	for _, e := range []string{"x", "y", "z"} {
		if err := src.local(src.state.(*crdt.ORSet[string]).Add(src.origin, e)); err != nil {
			f.Fatal(err)
		}
	}
	full, _ := src.state.MarshalBinary()
	for _, m := range []syncMsg{
		{From: "a", Origin: "a#1", Digest: src.digest()},
		{From: "a", Origin: "a#1", Digest: src.digest(), Full: full},
		{From: "a", Origin: "a#1", Digest: src.digest(), Groups: []group{{Origin: "a#1", From: 0, To: 3, Data: full}}},
	} {
		b, err := reg.AppendEncode(nil, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := reg.Decode(data)
		if err != nil {
			return
		}
		m, ok := v.(syncMsg)
		if !ok {
			return
		}
		c := newCore("b", "b#1", crdt.NewORSet[string](), func() crdt.State { return crdt.NewORSet[string]() }, testCoreConfig())
		before, _ := c.state.MarshalBinary()
		changed, err := c.receive(&m)
		after, _ := c.state.MarshalBinary()
		if !changed && string(before) != string(after) {
			t.Fatal("state changed but receive reported no change")
		}
		if err != nil && len(m.Groups) == 0 && string(before) != string(after) {
			t.Fatalf("a full state that failed (%v) changed the state", err)
		}
		if _, err := c.step([]string{"a"}); err != nil {
			t.Fatal(err)
		}
	})
}

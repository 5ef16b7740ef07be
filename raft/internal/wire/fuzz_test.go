package wire

import (
	"reflect"
	"testing"
)

func FuzzBatch(f *testing.F) {
	good, _ := Batch{From: "a@h", Msgs: []Msg{{Group: 7, Raw: []byte{1, 2, 3}}}, Quiesce: []Quiesce{{1, 2, 3}}}.AppendBinary(nil)
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Fuzz(func(t *testing.T, data []byte) {
		var b Batch
		if b.UnmarshalBinary(data) != nil {
			return
		}
		again, _ := b.AppendBinary(nil)
		var b2 Batch
		if err := b2.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(normalize(b), normalize(b2)) {
			t.Fatalf("batch does not survive re-encoding: %+v vs %+v (%v)", b, b2, err)
		}
	})
}

func normalize(b Batch) Batch {
	for i := range b.Msgs {
		if len(b.Msgs[i].Raw) == 0 {
			b.Msgs[i].Raw = nil
		}
	}
	if len(b.Msgs) == 0 {
		b.Msgs = nil
	}
	return b
}

func FuzzChunk(f *testing.F) {
	good, _ := Chunk{From: "a@h", Group: 3, Header: []byte{9}, Total: 10, Offset: 4, Data: []byte("abcdef")}.AppendBinary(nil)
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Chunk
		if c.UnmarshalBinary(data) != nil {
			return
		}
		if c.Offset+uint64(len(c.Data)) > c.Total {
			t.Fatalf("accepted a chunk beyond its total: %+v", c)
		}
	})
}

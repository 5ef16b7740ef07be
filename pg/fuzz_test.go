package pg

import (
	"reflect"
	"testing"

	"github.com/grovedev/grove/proc"
)

// Reports and changes from other nodes are checked field by field: garbage
// is refused, never a panic, and what decodes encodes back the same.
func FuzzDecode(f *testing.F) {
	from := proc.PID{Node: "a@h", Creation: 5, ID: 3}
	pid := func(id uint64) proc.PID { return proc.PID{Node: "a@h", Creation: 5, ID: id} }
	s, _ := syncMsg{From: from, Version: 9, Groups: map[string][]proc.PID{"g": {pid(1), pid(1), pid(7)}, "h": {pid(2)}}}.AppendBinary(nil)
	d, _ := deltaMsg{From: from, First: 4, Ops: []op{{Joined, "g", []proc.PID{pid(1)}}, {Left, "h", []proc.PID{pid(2), pid(3)}}}}.AppendBinary(nil)
	f.Add(byte(0), s)
	f.Add(byte(1), d)
	f.Add(byte(0), []byte{1, 0})
	f.Fuzz(func(t *testing.T, kind byte, b []byte) {
		if kind%2 == 0 {
			var m syncMsg
			if m.UnmarshalBinary(b) != nil {
				return
			}
			again, _ := m.AppendBinary(nil)
			var m2 syncMsg
			if err := m2.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(m, m2) {
				t.Fatalf("re-decoding: %+v %v, want %+v", m2, err, m)
			}
			return
		}
		var m deltaMsg
		if m.UnmarshalBinary(b) != nil {
			return
		}
		again, _ := m.AppendBinary(nil)
		var m2 deltaMsg
		if err := m2.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-decoding: %+v %v, want %+v", m2, err, m)
		}
	})
}

package presence

import (
	"reflect"
	"testing"

	"github.com/grovedev/grove/proc"
)

// Reports, changes and heartbeats from other nodes are checked field by
// field: garbage is refused, never a panic, and what decodes encodes back
// the same.
func FuzzDecode(f *testing.F) {
	from := proc.PID{Node: "a@h", Creation: 5, ID: 3}
	st, _ := stateMsg{From: from, Version: 4, Entries: []wireEntry{{Topic: "t", Key: "k", ID: 9, Meta: []byte{1, 2}}}}.AppendBinary(nil)
	de, _ := deltaMsg{From: from, First: 2, Ops: []wireEntry{{Op: opTrack, Topic: "t", Key: "", ID: 9, Meta: []byte{7}}, {Op: opUntrack, Topic: "t", Key: "k", ID: 9}}}.AppendBinary(nil)
	hb, _ := heartbeatMsg{From: from, Version: 12}.AppendBinary(nil)
	f.Add(byte(0), st)
	f.Add(byte(1), de)
	f.Add(byte(2), hb)
	f.Fuzz(func(t *testing.T, kind byte, b []byte) {
		type codecMsg interface {
			AppendBinary([]byte) ([]byte, error)
		}
		var m, m2 interface {
			codecMsg
			UnmarshalBinary([]byte) error
		}
		switch kind % 3 {
		case 0:
			m, m2 = &stateMsg{}, &stateMsg{}
		case 1:
			m, m2 = &deltaMsg{}, &deltaMsg{}
		default:
			m, m2 = &heartbeatMsg{}, &heartbeatMsg{}
		}
		if m.UnmarshalBinary(b) != nil {
			return
		}
		again, _ := m.AppendBinary(nil)
		if err := m2.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-decoding: %+v %v, want %+v", m2, err, m)
		}
	})
}

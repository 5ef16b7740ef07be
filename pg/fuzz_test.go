package pg

import (
	"reflect"
	"testing"

	"github.com/grovedev/grove/proc"
)

// Reports, changes and digests from other nodes are checked field by
// field: garbage is refused, never a panic; what decodes satisfies what
// the server relies on (members belong to the sender's node and
// incarnation, IDs are not zero, groups are valid names, kinds are join or
// leave) and encodes back the same.
func FuzzDecode(f *testing.F) {
	from := proc.PID{Node: "a@h", Creation: 5, ID: 3}
	pid := func(id uint64) proc.PID { return proc.PID{Node: "a@h", Creation: 5, ID: id} }
	s, _ := syncMsg{From: from, Version: 9, Groups: map[string][]proc.PID{"g": {pid(1), pid(1), pid(7)}, "h": {pid(2)}}}.AppendBinary(nil)
	d, _ := deltaMsg{From: from, First: 4, Ops: []op{{Joined, "g", []proc.PID{pid(1)}}, {Left, "h", []proc.PID{pid(2), pid(3)}}}}.AppendBinary(nil)
	g, _ := digestMsg{From: from, Version: 12, Sum: 1 << 63}.AppendBinary(nil)
	f.Add(byte(0), s)
	f.Add(byte(1), d)
	f.Add(byte(2), g)
	f.Add(byte(0), []byte{1, 0})
	f.Fuzz(func(t *testing.T, kind byte, b []byte) {
		members := func(from proc.PID, group string, pids []proc.PID) {
			if checkGroup(group) != nil {
				t.Fatalf("group %q accepted", group)
			}
			for _, p := range pids {
				if p.Node != from.Node || p.Creation != from.Creation || p.ID == 0 {
					t.Fatalf("member %v of %q from %v", p, group, from)
				}
			}
		}
		switch kind % 3 {
		case 0:
			var m syncMsg
			if m.UnmarshalBinary(b) != nil {
				return
			}
			for name, pids := range m.Groups {
				members(m.From, name, pids)
			}
			again, _ := m.AppendBinary(nil)
			var m2 syncMsg
			if err := m2.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(m, m2) {
				t.Fatalf("re-decoding: %+v %v, want %+v", m2, err, m)
			}
		case 1:
			var m deltaMsg
			if m.UnmarshalBinary(b) != nil {
				return
			}
			for _, o := range m.Ops {
				if o.Kind != Joined && o.Kind != Left {
					t.Fatalf("kind %d accepted", o.Kind)
				}
				members(m.From, o.Group, o.PIDs)
			}
			again, _ := m.AppendBinary(nil)
			var m2 deltaMsg
			if err := m2.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(m, m2) {
				t.Fatalf("re-decoding: %+v %v, want %+v", m2, err, m)
			}
		default:
			var m digestMsg
			if m.UnmarshalBinary(b) != nil {
				return
			}
			again, _ := m.AppendBinary(nil)
			var m2 digestMsg
			if err := m2.UnmarshalBinary(again); err != nil || m != m2 {
				t.Fatalf("re-decoding: %+v %v, want %+v", m2, err, m)
			}
		}
	})
}

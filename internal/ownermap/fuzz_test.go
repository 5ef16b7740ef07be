package ownermap

import (
	"bytes"
	"testing"

	"github.com/grovedev/grove/hlc"
	"github.com/grovedev/grove/proc"
)

// FuzzSyncMessage: any input either fails to decode with ErrMalformed or
// decodes to a message that encodes back to the same bytes.
func FuzzSyncMessage(f *testing.F) {
	m := syncMsg{
		From:   Origin{Node: "a@h", Creation: 7},
		Digest: []originSeq{{Origin: Origin{Node: "a@h", Creation: 7}, Seq: 3}, {Origin: Origin{Node: "b@h", Creation: 1}, Seq: 9}},
		Deltas: []delta{{
			Origin: Origin{Node: "a@h", Creation: 7}, Base: 1, Upto: 3,
			Entries: []wireEntry{{ID: 2, Ver: 3, Key: "session:42", PID: proc.PID{Node: "a@h", Creation: 7, ID: 12},
				Claim:      Claim{Stamp: hlc.Timestamp{WallNanos: 99, Logical: 1}, First: Ref{Origin: Origin{Node: "b@h", Creation: 1}, ID: 4}, Gen: 1},
				Supersedes: Ref{Origin: Origin{Node: "b@h", Creation: 1}, ID: 4}, Value: []byte{1, 2}}},
			Removed: []wireTomb{{ID: 1, Seq: 2, Why: ReasonExited}},
		}, {Origin: Origin{Node: "c@h", Creation: 2}, Full: true, Upto: 5}},
	}
	b, _ := m.AppendBinary(nil)
	f.Add(b)
	f.Add([]byte{wireVersion})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var got syncMsg
		if err := got.UnmarshalBinary(data); err != nil {
			return
		}
		again, err := got.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		var back syncMsg
		if err := back.UnmarshalBinary(again); err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		third, _ := back.AppendBinary(nil)
		if !bytes.Equal(again, third) {
			t.Fatal("encoding not stable")
		}
	})
}

package pebblestore

import (
	"reflect"
	"testing"
	"time"

	"github.com/grovedev/grove/eventstore"
)

// FuzzDecode feeds arbitrary bytes to every record decoder: each must
// return a value or an error, never panic, and what decodes must decode
// the same from its own encoding.
func FuzzDecode(f *testing.F) {
	e := eventstore.RecordedEvent{Position: 7, StreamID: "s", Version: 3, ID: "id", Type: "T",
		Data: []byte("data"), Metadata: []byte("m"), Created: time.UnixMicro(1234567).UTC()}
	f.Add(encodeEvent(&e))
	f.Add(encodeStream(streamRecord{version: 9, created: time.UnixMicro(5).UTC(), deleted: true}))
	f.Add(encodeStream(streamRecord{version: 9, created: time.UnixMicro(5).UTC(), lastID: "x"}))
	f.Add(encodeLink("s", 2, 7))
	f.Add(append([]byte{9}, indexEntry(3, 10, 77)...))
	snap := eventstore.Snapshot{Stream: "s", Version: 4, Type: "S", Data: []byte{1, 2}, Created: time.UnixMicro(9).UTC()}
	f.Add(encodeSnapshot(&snap))
	f.Add([]byte{})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := decodeEvent(1, b); err == nil {
			again, err := decodeEvent(1, encodeEvent(&e))
			if err != nil || !reflect.DeepEqual(again, e) {
				t.Fatalf("event %+v decodes from its encoding as %+v, %v", e, again, err)
			}
		}
		if r, err := decodeStream(b); err == nil {
			again, err := decodeStream(encodeStream(r))
			if err != nil || again != r {
				t.Fatalf("stream %+v decodes from its encoding as %+v, %v", r, again, err)
			}
		}
		if s, err := decodeSnapshot("s", b); err == nil {
			again, err := decodeSnapshot("s", encodeSnapshot(&s))
			if err != nil || !reflect.DeepEqual(again, s) {
				t.Fatalf("snapshot %+v decodes from its encoding as %+v, %v", s, again, err)
			}
		}
		if st, v, p, err := decodeLink(b); err == nil {
			st2, v2, p2, err := decodeLink(encodeLink(st, v, p))
			if err != nil || st2 != st || v2 != v || p2 != p {
				t.Fatalf("link %q %d %d decodes from its encoding as %q %d %d, %v", st, v, p, st2, v2, p2, err)
			}
		}
		if len(b) > 0 {
			last := uint64(b[0]) + 1
			if first, pos, err := decodeIndex(last, b[1:]); err == nil {
				f2, p2, err := decodeIndex(last, indexEntry(first, last, pos))
				if err != nil || f2 != first || p2 != pos {
					t.Fatalf("index entry %d..%d at %d decodes from its encoding as %d at %d, %v", first, last, pos, f2, p2, err)
				}
			}
		}
		_, _ = decodeU64(b)
	})
}

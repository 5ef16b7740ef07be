package eventstore

import "testing"

func TestFormatUUID(t *testing.T) {
	var b [16]byte
	for i := range b {
		b[i] = 0xff
	}
	if got, want := FormatUUID(b, 8), "ffffffff-ffff-8fff-bfff-ffffffffffff"; got != want {
		t.Fatalf("FormatUUID = %s, want %s", got, want)
	}
	if id := NewID(); len(id) != 36 || id[14] != '4' {
		t.Fatalf("NewID = %s, want a version 4 UUID", id)
	}
}

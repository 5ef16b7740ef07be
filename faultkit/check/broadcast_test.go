package check

import (
	"strings"
	"testing"
)

func TestBroadcast(t *testing.T) {
	a := func(n uint64) Msg { return Msg{"a", n} }
	b := func(n uint64) Msg { return Msg{"b", n} }
	sent := map[string]uint64{"a": 3, "b": 2}
	for _, tc := range []struct {
		name    string
		got     map[string][]Msg
		opts    BroadcastOptions
		problem string // "" for valid
	}{
		{"all", map[string][]Msg{"r1": {a(1), b(1), a(2), b(2), a(3)}, "r2": {b(1), a(1), a(2), a(3), b(2)}}, BroadcastOptions{Lossless: true}, ""},
		{"loss allowed", map[string][]Msg{"r1": {a(1), a(3), b(2)}}, BroadcastOptions{}, ""},
		{"loss", map[string][]Msg{"r1": {a(1), a(3), b(1), b(2)}}, BroadcastOptions{Lossless: true}, "lost"},
		{"duplicate", map[string][]Msg{"r1": {a(1), a(1)}}, BroadcastOptions{}, "duplicated"},
		{"reordered", map[string][]Msg{"r1": {a(2), a(1)}}, BroadcastOptions{}, "reordered"},
		{"unexpected", map[string][]Msg{"r1": {a(4)}}, BroadcastOptions{}, "unexpected"},
		{"unknown sender", map[string][]Msg{"r1": {{"c", 1}}}, BroadcastOptions{}, "unexpected"},
		{"total order", map[string][]Msg{"r1": {a(1), b(1)}, "r2": {b(1), a(1)}}, BroadcastOptions{TotalOrder: true}, "order differs"},
		{"total order with gaps", map[string][]Msg{"r1": {a(1), b(1), a(2)}, "r2": {a(1), a(2)}}, BroadcastOptions{TotalOrder: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Broadcast(sent, tc.got, tc.opts)
			if tc.problem == "" {
				if !r.OK() {
					t.Fatal(r)
				}
				return
			}
			if r.OK() || !strings.Contains(r.String(), tc.problem) {
				t.Fatalf("want %q: %v", tc.problem, r)
			}
		})
	}
}

package raft

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
)

// TestCommandsOnEveryMember proposes from every member (followers forward)
// and checks that every member applied the same commands in the same order.
func TestCommandsOnEveryMember(t *testing.T) {
	tc := newTestCluster(t, 3, 1, Config{})
	names := tc.fk.Names()
	ms := tc.startGroup("g", names)
	tc.leader("g", names)
	want := int64(0)
	for i := range 30 {
		m := names[i%3]
		r, err := tc.command(m, "g", addCmd(int64(i)))
		if err != nil {
			t.Fatalf("command %d on %s: %v", i, m, err)
		}
		want += int64(i)
		if r.Reply.(int64) < int64(i) || r.Index == 0 {
			t.Fatalf("reply %+v", r)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, m := range names {
			if v := ms[m].value(); v != want {
				return fmt.Errorf("%s has %d, want %d", m, v, want)
			}
		}
		return nil
	})
	ref := ms[names[0]].applied
	for _, m := range names[1:] {
		got := ms[m].applied
		if len(got) != len(ref) {
			t.Fatalf("%s applied %d entries, %s %d", m, len(got), names[0], len(ref))
		}
		for i := range got {
			if got[i] != ref[i] {
				t.Fatalf("%s applied index %d at %d, %s %d", m, got[i], i, names[0], ref[i])
			}
		}
	}
	// A rejected command: the machine's error comes back as RejectedError.
	_, err := tc.command(names[0], "g", []byte("x"))
	var rej *RejectedError
	if !errors.As(err, &rej) || !errors.Is(err, ErrRejected) {
		t.Fatalf("bad command: %v, want a RejectedError", err)
	}
}

// TestConsistentQueryAfterWrite checks read-your-writes across members.
func TestConsistentQueryAfterWrite(t *testing.T) {
	tc := newTestCluster(t, 3, 2, Config{})
	names := tc.fk.Names()
	tc.startGroup("g", names)
	tc.leader("g", names)
	for i := range 10 {
		w, r := names[i%3], names[(i+1)%3]
		if _, err := tc.command(w, "g", addCmd(1)); err != nil {
			t.Fatal(err)
		}
		v, err := tc.host(r).Group("g").ConsistentQuery(ctxT(t, 10*time.Second), func(m Machine) (any, error) { return m.(*counter).value(), nil })
		if err != nil {
			t.Fatal(err)
		}
		if v.(int64) != int64(i+1) {
			t.Fatalf("read on %s after write %d on %s: %d", r, i+1, w, v)
		}
	}
}

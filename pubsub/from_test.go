package pubsub

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// The sender-excluding and one-node variants with process subscribers
// across nodes: BroadcastFrom skips only its sender (on its own node);
// DirectBroadcastFrom reaches the one node named, skipping the sender
// there too; a process subscription's filter holds for broadcasts from
// other nodes.
func TestFromVariantsAcrossNodes(t *testing.T) {
	tc := newTestCluster(t, 3, 7, Config{})
	names := tc.c.Names()
	spawn := func(node string, opts ...SubscribeOption) *inbox {
		b := &inbox{}
		s, err := tc.get(node).Subscribe(spawnInbox(t, tc.c.Runtime(node), b), "t", opts...)
		if err != nil {
			t.Fatal(err)
		}
		b.pid = s.PID()
		return b
	}
	sender := spawn(names[0])
	local := spawn(names[0])
	remote := spawn(names[1])
	even := spawn(names[1], WithFilter(func(m *Message) bool { return m.Payload.(note).N%2 == 0 }))
	far := spawn(names[2])
	a := tc.get(names[0])
	ctx := context.Background()
	if err := a.BroadcastFrom(ctx, sender.pid, "t", note{"a", 1}); err != nil {
		t.Fatal(err)
	}
	if err := a.BroadcastFrom(ctx, sender.pid, "t", note{"a", 2}); err != nil {
		t.Fatal(err)
	}
	if err := a.DirectBroadcastFrom(ctx, sender.pid, names[0], "t", note{"a", 3}); err != nil {
		t.Fatal(err)
	}
	if err := a.DirectBroadcastFrom(ctx, sender.pid, names[1], "t", note{"a", 4}); err != nil {
		t.Fatal(err)
	}
	if err := a.DirectBroadcastFrom(ctx, remote.pid, names[1], "t", note{"a", 5}); err != nil {
		t.Fatal(err) // a sender of another node: remote is skipped on its own node
	}
	want := map[*inbox][]uint64{sender: nil, local: {1, 2, 3}, remote: {1, 2, 4}, even: {2, 4}, far: {1, 2}}
	ns := func(b *inbox) []uint64 {
		var out []uint64
		for _, m := range b.messages() {
			out = append(out, m.Payload.(note).N)
		}
		return out
	}
	eventually(t, func() error {
		for b, w := range want {
			if got := ns(b); !slices.Equal(got, w) {
				return fmt.Errorf("%v got %v, want %v", b.pid, got, w)
			}
		}
		return nil
	})
	for _, m := range remote.messages() {
		if m.From != sender.pid || m.Origin != names[0] {
			t.Fatalf("from %v origin %s", m.From, m.Origin)
		}
	}
	if n := ns(even); !slices.Equal(n, []uint64{2, 4}) {
		t.Fatalf("the filtered subscriber got %v", n)
	}
}

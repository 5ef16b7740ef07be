package pubsub

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

// payloads returns the int payloads received and the Dropped count of each.
func payloads(ms []*Message) (got []int, dropped []uint64) {
	for _, m := range ms {
		got = append(got, m.Payload.(int))
		dropped = append(dropped, m.Dropped)
	}
	return got, dropped
}

// Each policy under a process subscriber stuck on its first message: a
// buffer of 3, then messages 1..8, then release, then message 9. Drops are
// counted, and reported on the next message delivered.
func TestPolicyProcess(t *testing.T) {
	for _, tc := range []struct {
		policy       Policy
		got          []int
		dropped      []uint64
		disconnected bool
		subDropped   uint64
	}{
		// 1..3 fill the mailbox; 4..8 are dropped.
		{DropNewest, []int{0, 1, 2, 3, 9}, []uint64{0, 0, 0, 0, 5}, false, 5},
		// 1..3 fill the mailbox; 4..8 wait in front of it, three at a
		// time: 4 and 5 are dropped for 7 and 8.
		{DropOldest, []int{0, 1, 2, 3, 6, 7, 8, 9}, []uint64{0, 0, 0, 0, 2, 0, 0, 0}, false, 2},
		// 4 ends the subscription; 1..3 were in the mailbox already.
		{Disconnect, []int{0, 1, 2, 3}, []uint64{0, 0, 0, 0}, true, 1},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			rt := newRuntime(t, "a@test")
			ps := startLocal(t, rt, Config{})
			b := &inbox{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
			pid := spawnInbox(t, rt, b)
			sub, err := ps.Subscribe(pid, "t", WithBuffer(3, tc.policy))
			if err != nil {
				t.Fatal(err)
			}
			ps.Broadcast(context.Background(), "t", 0)
			<-b.entered // the process holds message 0
			for i := 1; i <= 8; i++ {
				ps.Broadcast(context.Background(), "t", i)
			}
			if tc.disconnected && !errors.Is(sub.Err(), ErrSlowSubscriber) {
				t.Fatalf("err %v", sub.Err())
			}
			close(b.gate)
			eventually(t, func() error {
				if n, _ := rt.MailboxLen(pid); n > 0 {
					return errorf("mailbox holds %d", n)
				}
				sub.mu.Lock()
				defer sub.mu.Unlock()
				if sub.mu.q.n > 0 {
					return errorf("%d wait in front of the mailbox", sub.mu.q.n)
				}
				return nil
			})
			ps.Broadcast(context.Background(), "t", 9)
			eventually(t, func() error {
				if n := len(b.messages()); n < len(tc.got) {
					return errorf("got %d of %d", n, len(tc.got))
				}
				return nil
			})
			p, d := payloads(b.messages())
			if !slices.Equal(p, tc.got) || !slices.Equal(d, tc.dropped) {
				t.Fatalf("got %v dropped %v, want %v %v", p, d, tc.got, tc.dropped)
			}
			if st := sub.Stats(); st.Dropped != tc.subDropped {
				t.Fatalf("subscription dropped %d, want %d", st.Dropped, tc.subDropped)
			}
			st := ps.Stats()
			if tc.disconnected {
				var disc []Disconnected
				for _, m := range b.got() {
					if d, ok := m.(Disconnected); ok {
						disc = append(disc, d)
					}
				}
				if len(disc) != 1 || disc[0].Reason != ErrSlowSubscriber || disc[0].Dropped != 1 || st.Disconnects.Load() != 1 {
					t.Fatalf("disconnected %+v, counted %d", disc, st.Disconnects.Load())
				}
			}
			if total := st.DroppedNewest.Load() + st.DroppedOldest.Load(); total != tc.subDropped {
				t.Fatalf("PubSub counted %d drops, want %d", total, tc.subDropped)
			}
		})
	}
}

func TestPolicyQueued(t *testing.T) {
	for _, kind := range []subKind{kindFunc, kindChan} {
		for _, tc := range []struct {
			policy       Policy
			got          []int
			dropped      []uint64
			disconnected bool
			subDropped   uint64
		}{
			{DropNewest, []int{0, 1, 2, 3, 6}, []uint64{0, 0, 0, 0, 2}, false, 2},
			{DropOldest, []int{0, 3, 4, 5, 6}, []uint64{0, 2, 0, 0, 0}, false, 2},
			{Disconnect, []int{0}, []uint64{0}, true, 4},
		} {
			name := "func"
			if kind == kindChan {
				name = "chan"
			}
			t.Run(name+"/"+tc.policy.String(), func(t *testing.T) {
				rt := newRuntime(t, "a@test")
				ps := startLocal(t, rt, Config{})
				var mu sync.Mutex
				var got []*Message
				gate := make(chan struct{})
				entered := make(chan struct{}, 1)
				record := func(m *Message) {
					select {
					case entered <- struct{}{}:
					default:
					}
					<-gate
					mu.Lock()
					got = append(got, m)
					mu.Unlock()
				}
				var sub *Subscription
				var err error
				opt := WithBuffer(3, tc.policy)
				if kind == kindFunc {
					sub, err = ps.SubscribeFunc("t", record, opt)
				} else {
					sub, err = ps.SubscribeChan("t", opt)
					go func() {
						for m := range sub.C() {
							record(m)
						}
					}()
				}
				if err != nil {
					t.Fatal(err)
				}
				ps.Broadcast(context.Background(), "t", 0)
				<-entered // the subscriber holds message 0
				want, wantDropped, wantSub := tc.got, tc.dropped, tc.subDropped
				if kind == kindChan {
					// A channel subscription's goroutine holds one more
					// message while it waits for the receiver: fill that
					// place first, so that the buffer is what is tested.
					ps.Broadcast(context.Background(), "t", 100)
					eventually(t, func() error {
						sub.mu.Lock()
						defer sub.mu.Unlock()
						if sub.mu.q.n > 0 {
							return errorf("not handed over yet")
						}
						return nil
					})
					if tc.disconnected {
						wantSub++ // lost with the disconnection
					} else {
						want = slices.Insert(slices.Clone(want), 1, 100)
						wantDropped = slices.Insert(slices.Clone(wantDropped), 1, 0)
					}
				}
				for i := 1; i <= 5; i++ {
					ps.Broadcast(context.Background(), "t", i)
				}
				if tc.disconnected {
					<-sub.Done()
					if !errors.Is(sub.Err(), ErrSlowSubscriber) || ps.Stats().Disconnects.Load() != 1 {
						t.Fatalf("err %v, disconnects %d", sub.Err(), ps.Stats().Disconnects.Load())
					}
				}
				close(gate)
				eventually(t, func() error {
					mu.Lock()
					defer mu.Unlock()
					sub.mu.Lock()
					defer sub.mu.Unlock()
					if sub.mu.running || sub.mu.q.n > 0 {
						return errorf("still draining")
					}
					return nil
				})
				ps.Broadcast(context.Background(), "t", 6)
				eventually(t, func() error {
					mu.Lock()
					defer mu.Unlock()
					if len(got) < len(want) {
						return errorf("got %d of %d", len(got), len(want))
					}
					return nil
				})
				mu.Lock()
				p, d := payloads(got)
				mu.Unlock()
				if !slices.Equal(p, want) || !slices.Equal(d, wantDropped) {
					t.Fatalf("got %v dropped %v, want %v %v", p, d, want, wantDropped)
				}
				if st := sub.Stats(); st.Dropped != wantSub {
					t.Fatalf("subscription dropped %d, want %d", st.Dropped, wantSub)
				}
				st := ps.Stats()
				if total := st.DroppedNewest.Load() + st.DroppedOldest.Load(); total != wantSub {
					t.Fatalf("PubSub counted %d drops, want %d", total, wantSub)
				}
			})
		}
	}
}

package pubsub

import (
	"testing"

	"pgregory.net/rapid"
)

// The queue against a model: order is kept, the bound holds, and every
// dropped message is reported on exactly the next message delivered after
// it (Dropped), with the gaps dropped messages carried (Missed) moved onto
// it too.
func TestQueueModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bound := rapid.IntRange(1, 8).Draw(t, "bound")
		policy := rapid.SampledFrom([]Policy{DropNewest, DropOldest, Disconnect}).Draw(t, "policy")
		q := newQueue(bound, policy)
		next := 0
		var offeredMissed, deliveredMissed uint64
		dropped := map[int]bool{}
		last := -1 // id of the last message delivered
		check := func(m *Message) {
			id := m.Payload.(int)
			if id <= last {
				t.Fatalf("delivered %d after %d", id, last)
			}
			var want uint64
			for i := last + 1; i < id; i++ {
				if dropped[i] {
					want++
				}
			}
			if m.Dropped != want {
				t.Fatalf("message %d reports %d dropped, want %d (dropped %v)", id, m.Dropped, want, dropped)
			}
			deliveredMissed += m.Missed
			last = id
		}
		steps := rapid.IntRange(1, 100).Draw(t, "steps")
		for range steps {
			if q.n > q.bound {
				t.Fatalf("%d queued over a bound of %d", q.n, q.bound)
			}
			if q.n > 0 && rapid.Bool().Draw(t, "pop") {
				check(q.pop())
				continue
			}
			missed := uint64(rapid.IntRange(0, 2).Draw(t, "missed"))
			offeredMissed += missed
			m := &Message{Payload: next, Missed: missed}
			full := q.n == q.bound
			head := -1
			if q.n > 0 {
				head = q.buf[q.head].Payload.(int)
			}
			drop, disconnect := q.offer(m)
			if drop != full {
				t.Fatalf("dropped %v with the queue full %v", drop, full)
			}
			if disconnect != (full && policy == Disconnect) {
				t.Fatalf("disconnect %v", disconnect)
			}
			if disconnect {
				return
			}
			if drop {
				switch policy {
				case DropNewest:
					dropped[next] = true
				case DropOldest:
					dropped[head] = true
				}
			}
			next++
		}
		for q.n > 0 {
			check(q.pop())
		}
		// What was dropped after the last delivery is still pending.
		var tail uint64
		for i := last + 1; i < next; i++ {
			if dropped[i] {
				tail++
			}
		}
		if q.pendingDropped != tail {
			t.Fatalf("pending %d drops, want %d", q.pendingDropped, tail)
		}
		if deliveredMissed+q.pendingMissed != offeredMissed {
			t.Fatalf("missed: %d delivered + %d pending, %d offered", deliveredMissed, q.pendingMissed, offeredMissed)
		}
	})
}

// The tracker reports exactly the numbers skipped, ignores what is not
// newer, and starts afresh with a newer incarnation.
func TestSeqTrackerModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var tr seqTracker
		epoch := map[string]uint64{}
		seq := map[string]uint64{}
		for range rapid.IntRange(1, 200).Draw(t, "steps") {
			origin := rapid.SampledFrom([]string{"a", "b"}).Draw(t, "origin")
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0: // restart of origin
				epoch[origin] += 1 + uint64(rapid.IntRange(0, 3).Draw(t, "jump"))
				seq[origin] = 0
				continue
			case 1: // a stale or repeated number
				if seq[origin] > 0 {
					s := uint64(rapid.IntRange(1, int(seq[origin])).Draw(t, "old"))
					if _, dup := tr.observe(origin, epoch[origin], s); !dup {
						t.Fatalf("number %d after %d not taken as a duplicate", s, seq[origin])
					}
				}
				continue
			}
			first := seq[origin] == 0
			skip := uint64(rapid.IntRange(0, 3).Draw(t, "skip"))
			seq[origin] += 1 + skip
			missed, dup := tr.observe(origin, epoch[origin], seq[origin])
			if dup {
				t.Fatal("fresh number taken as a duplicate")
			}
			want := skip
			if first {
				want = 0
			}
			if missed != want {
				t.Fatalf("missed %d, want %d", missed, want)
			}
		}
		if _, dup := tr.observe("a", 0, 0); dup {
			t.Fatal("unnumbered message taken as a duplicate")
		}
	})
}

package check

import (
	"fmt"
	"slices"
)

// Msg is one broadcast message as a receiver got it: who sent it and its
// number in the sender's order (1, 2, 3, ... as sent).
type Msg struct {
	Sender string
	N      uint64
}

func (m Msg) String() string { return fmt.Sprintf("%s#%d", m.Sender, m.N) }

// BroadcastOptions says what a broadcast system promises.
type BroadcastOptions struct {
	// Lossless requires every receiver to get every message sent (no
	// faults); otherwise receivers may miss messages.
	Lossless bool
	// TotalOrder requires every two receivers to get the messages they both
	// got in the same relative order, across senders; otherwise only each
	// sender's order is required.
	TotalOrder bool
}

// Misdelivery is one thing a receiver got wrong.
type Misdelivery struct {
	Receiver string
	Msg      Msg
	Problem  string // "lost", "duplicated", "reordered", "unexpected", "order differs from <receiver>"
}

func (m Misdelivery) String() string { return fmt.Sprintf("%s: %v %s", m.Receiver, m.Msg, m.Problem) }

// BroadcastResult is the outcome of Broadcast.
type BroadcastResult struct {
	Verdict Verdict
	// Problems lists what went wrong, at most 20 (Count has them all).
	Problems []Misdelivery
	Count    int
	// Delivered counts the messages received, Lost those missing (allowed
	// without Lossless).
	Delivered, Lost int
}

// OK reports whether the deliveries kept the promises.
func (r BroadcastResult) OK() bool { return r.Verdict == Valid }

func (r BroadcastResult) String() string {
	return fmt.Sprintf("broadcast: %v, %d delivered, %d lost, %d problems: %v", r.Verdict, r.Delivered, r.Lost, r.Count, r.Problems)
}

// Broadcast checks the deliveries of a broadcast channel: sent gives, per
// sender, how many messages it sent (numbered 1..n); got gives, per
// receiver, the messages in the order it received them. Every receiver
// must get each sender's messages in increasing order, none twice, none
// that was not sent; with opts.Lossless every one; with opts.TotalOrder the
// messages two receivers share in the same order.
func Broadcast(sent map[string]uint64, got map[string][]Msg, opts BroadcastOptions) BroadcastResult {
	var r BroadcastResult
	add := func(p Misdelivery) {
		r.Count++
		if len(r.Problems) < 20 {
			r.Problems = append(r.Problems, p)
		}
	}
	receivers := make([]string, 0, len(got))
	for name := range got {
		receivers = append(receivers, name)
	}
	slices.Sort(receivers)
	senders := make([]string, 0, len(sent))
	for name := range sent {
		senders = append(senders, name)
	}
	slices.Sort(senders)
	for _, rc := range receivers {
		last := map[string]uint64{}
		seen := map[Msg]bool{}
		for _, m := range got[rc] {
			switch {
			case m.N == 0 || m.N > sent[m.Sender]:
				add(Misdelivery{rc, m, "unexpected"})
			case seen[m]:
				add(Misdelivery{rc, m, "duplicated"})
			case m.N < last[m.Sender]:
				add(Misdelivery{rc, m, fmt.Sprintf("reordered (after #%d)", last[m.Sender])})
			}
			seen[m] = true
			last[m.Sender] = max(last[m.Sender], m.N)
			r.Delivered++
		}
		for _, s := range senders {
			for n := uint64(1); n <= sent[s]; n++ {
				if m := (Msg{s, n}); !seen[m] {
					r.Lost++
					if opts.Lossless {
						add(Misdelivery{rc, m, "lost"})
					}
				}
			}
		}
	}
	if opts.TotalOrder {
		for i, a := range receivers {
			pos := map[Msg]int{}
			for k, m := range got[a] {
				pos[m] = k
			}
			for _, b := range receivers[i+1:] {
				prev := -1
				for _, m := range got[b] {
					k, ok := pos[m]
					if !ok {
						continue
					}
					if k < prev {
						add(Misdelivery{b, m, "order differs from " + a})
					}
					prev = max(prev, k)
				}
			}
		}
	}
	r.Verdict = Valid
	if r.Count > 0 {
		r.Verdict = Invalid
	}
	return r
}

// RequireBroadcast fails t unless Broadcast holds.
func RequireBroadcast(t TB, sent map[string]uint64, got map[string][]Msg, opts BroadcastOptions) BroadcastResult {
	t.Helper()
	r := Broadcast(sent, got, opts)
	if !r.OK() {
		t.Errorf("%v", r)
	}
	return r
}

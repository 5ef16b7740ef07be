package pubsub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/grovedev/grove/proc"
)

func TestSubscribeProcess(t *testing.T) {
	rt := newRuntime(t, "a@test")
	ps := startLocal(t, rt, Config{})
	b := &inbox{}
	pid := spawnInbox(t, rt, b)
	sub, err := ps.Subscribe(pid, "room")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := ps.Broadcast(context.Background(), "room", i); err != nil {
			t.Fatal(err)
		}
	}
	ps.Broadcast(context.Background(), "other", "not for us")
	eventually(t, func() error {
		if n := len(b.messages()); n != 100 {
			return errorf("got %d messages", n)
		}
		return nil
	})
	for i, m := range b.messages() {
		if m.Payload != i || m.Topic != "room" || m.Origin != "a@test" || m.Dropped != 0 {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	if st := sub.Stats(); st.Delivered != 100 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSubscribeFuncAndChanOrder(t *testing.T) {
	rt := newRuntime(t, "a@test")
	ps := startLocal(t, rt, Config{Buffer: 100_000})
	var mu sync.Mutex
	var got []int
	fsub, err := ps.SubscribeFunc("t", func(m *Message) {
		mu.Lock()
		got = append(got, m.Payload.(int))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	csub, err := ps.SubscribeChan("t")
	if err != nil {
		t.Fatal(err)
	}
	const n = 10_000
	done := make(chan []int)
	go func() {
		var out []int
		for m := range csub.C() {
			out = append(out, m.Payload.(int))
			if len(out) == n {
				break
			}
		}
		done <- out
	}()
	for i := range n {
		ps.Broadcast(context.Background(), "t", i)
	}
	chGot := <-done
	eventually(t, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) != n {
			return errorf("func got %d", len(got))
		}
		return nil
	})
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) || !slices.Equal(chGot, want) {
		t.Fatal("out of order")
	}
	fsub.Cancel()
	csub.Cancel()
	if _, ok := <-csub.C(); ok {
		t.Fatal("channel open after cancel")
	}
	if !errors.Is(csub.Err(), ErrCancelled) {
		t.Fatalf("err %v", csub.Err())
	}
}

func TestUnsubscribeAndExit(t *testing.T) {
	rt := newRuntime(t, "a@test")
	ps := startLocal(t, rt, Config{})
	b := &inbox{}
	pid := spawnInbox(t, rt, b)
	s1, _ := ps.Subscribe(pid, "x")
	s2, _ := ps.Subscribe(pid, "x")
	s3, _ := ps.Subscribe(pid, "y")
	if n := ps.Subscribers("x"); n != 2 {
		t.Fatalf("subscribers %d", n)
	}
	ps.Broadcast(context.Background(), "x", 1)
	eventually(t, func() error {
		if n := len(b.messages()); n != 2 {
			return errorf("got %d, want one per subscription", n)
		}
		return nil
	})
	if n := ps.Unsubscribe(pid, "x"); n != 2 {
		t.Fatalf("unsubscribed %d", n)
	}
	if s1.Err() == nil || s2.Err() == nil || s3.Err() != nil {
		t.Fatal("wrong subscriptions ended")
	}
	if ps.Subscribers("x") != 0 || slices.Contains(ps.Topics(), "x") {
		t.Fatal("topic x still there")
	}
	rt.Exit(pid, proc.ErrKill)
	eventually(t, func() error {
		if ps.Subscribers("y") != 0 || s3.Err() == nil {
			return errorf("subscription outlived its process")
		}
		return nil
	})
	if len(ps.Topics()) != 0 {
		t.Fatalf("topics left: %v", ps.Topics())
	}
	if _, err := ps.Subscribe(pid, "z"); !errors.Is(err, proc.ErrNotAlive) {
		t.Fatalf("subscribe of a dead process: %v", err)
	}
}

func TestBroadcastFromSkipsSender(t *testing.T) {
	rt := newRuntime(t, "a@test")
	ps := startLocal(t, rt, Config{})
	a, b := &inbox{}, &inbox{}
	pa, pb := spawnInbox(t, rt, a), spawnInbox(t, rt, b)
	ps.Subscribe(pa, "t")
	ps.Subscribe(pb, "t")
	ps.BroadcastFrom(context.Background(), pa, "t", "hello")
	ps.LocalBroadcastFrom(pa, "t", "again")
	eventually(t, func() error {
		if len(b.messages()) != 2 {
			return errorf("b got %d", len(b.messages()))
		}
		return nil
	})
	if len(a.messages()) != 0 {
		t.Fatal("the sender got its own broadcast")
	}
	if m := b.messages()[0]; m.From != pa {
		t.Fatalf("from %v", m.From)
	}
}

func TestFilterMetaAndDispatcher(t *testing.T) {
	rt := newRuntime(t, "a@test")
	var seen []string
	var mu sync.Mutex
	ps := startLocal(t, rt, Config{Dispatchers: map[string]Dispatcher{
		"meta": DispatcherFunc(func(m *Message, subs []*Subscription) {
			mu.Lock()
			defer mu.Unlock()
			for _, s := range subs {
				seen = append(seen, fmt.Sprint(s.Meta()))
				if s.Meta() == "vip" {
					s.Deliver(m)
				}
			}
		}),
	}})
	even := make(chan int, 10)
	ps.SubscribeFunc("t", func(m *Message) { even <- m.Payload.(int) }, WithFilter(func(m *Message) bool { return m.Payload.(int)%2 == 0 }))
	for i := range 4 {
		ps.Broadcast(context.Background(), "t", i)
	}
	if a, b := <-even, <-even; a != 0 || b != 2 {
		t.Fatalf("filter let through %d %d", a, b)
	}
	vip, _ := ps.SubscribeChan("d", WithMeta("vip"))
	ps.SubscribeChan("d", WithMeta("plain"))
	if err := ps.Broadcast(context.Background(), "d", "x", Via("meta")); err != nil {
		t.Fatal(err)
	}
	if m := <-vip.C(); m.Payload != "x" {
		t.Fatal(m)
	}
	mu.Lock()
	slices.Sort(seen)
	if !slices.Equal(seen, []string{"plain", "vip"}) {
		t.Fatalf("dispatcher saw %v", seen)
	}
	mu.Unlock()
	if err := ps.Broadcast(context.Background(), "d", "x", Via("nope")); !errors.Is(err, ErrUnknownDispatcher) {
		t.Fatalf("unknown dispatcher: %v", err)
	}
}

func TestInvalidInput(t *testing.T) {
	rt := newRuntime(t, "a@test")
	ps := startLocal(t, rt, Config{})
	if _, err := ps.SubscribeChan(""); !errors.Is(err, ErrInvalidTopic) {
		t.Fatal(err)
	}
	if err := ps.Broadcast(context.Background(), string(make([]byte, MaxTopicLen+1)), 1); !errors.Is(err, ErrInvalidTopic) {
		t.Fatal(err)
	}
	if _, err := ps.SubscribeChan("t", WithBuffer(0, DropNewest)); !errors.Is(err, ErrInvalidConfig) {
		t.Fatal(err)
	}
	if _, err := ps.SubscribeFunc("t", nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatal(err)
	}
	if _, err := ps.Subscribe(proc.PID{Node: "other@x", ID: 1, Creation: 1}, "t"); !errors.Is(err, ErrNotLocal) {
		t.Fatal(err)
	}
	if err := ps.DirectBroadcast(context.Background(), "nowhere@x", "t", 1); !errors.Is(err, ErrNoPeer) {
		t.Fatal(err)
	}
	if err := (Config{Buffer: -1}).Validate(); err == nil {
		t.Fatal("negative buffer accepted")
	}
	if _, err := StartLocal(rt, Config{}); err == nil {
		t.Fatal("a second PubSub of the same name started")
	}
}

func TestClose(t *testing.T) {
	rt := newRuntime(t, "a@test")
	ps, err := StartLocal(rt, Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := &inbox{}
	pid := spawnInbox(t, rt, b)
	psub, _ := ps.Subscribe(pid, "t")
	csub, _ := ps.SubscribeChan("t")
	fsub, _ := ps.SubscribeFunc("t", func(*Message) {})
	if err := ps.Close(); err != nil {
		t.Fatal(err)
	}
	ps.Close()
	for _, s := range []*Subscription{psub, csub, fsub} {
		if !errors.Is(s.Err(), ErrClosed) {
			t.Fatalf("%v: %v", s, s.Err())
		}
	}
	if _, ok := <-csub.C(); ok {
		t.Fatal("channel open")
	}
	eventually(t, func() error {
		for _, m := range b.got() {
			if d, ok := m.(Disconnected); ok && errors.Is(d.Reason, ErrClosed) {
				return nil
			}
		}
		return errorf("no Disconnected")
	})
	if err := ps.Broadcast(context.Background(), "t", 1); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if _, err := ps.SubscribeChan("t"); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	// The name is free again.
	ps2, err := StartLocal(rt, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ps2.Close()
}

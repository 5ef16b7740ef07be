package memstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/memstore"
)

func Example() {
	ctx := context.Background()
	s := memstore.New()
	defer s.Close()

	s.Append(ctx, "account-1", eventstore.NoStream, eventstore.EventData{Type: "Opened"})
	s.Append(ctx, "account-1", eventstore.Exact(1), eventstore.EventData{Type: "Deposited", Data: []byte("100")})

	// A writer that read the stream at version 1 loses the race.
	_, err := s.Append(ctx, "account-1", eventstore.Exact(1), eventstore.EventData{Type: "Withdrawn"})
	fmt.Println(errors.Is(err, eventstore.ErrWrongExpectedVersion))

	evs, _ := s.ReadStream(ctx, "account-1", 1, 10, eventstore.Forward)
	for _, e := range evs {
		fmt.Println(e.Version, e.Type, string(e.Data)+".")
	}
	// Output:
	// true
	// 1 Opened .
	// 2 Deposited 100.
}

// Link puts events already stored into another stream (a category, an
// index by customer) without copying them: $all holds each event once.
func ExampleStore_Link() {
	ctx := context.Background()
	s := memstore.New()
	defer s.Close()

	a, _ := s.Append(ctx, "order-1", eventstore.NoStream, eventstore.EventData{Type: "Placed", Data: []byte("ann")})
	b, _ := s.Append(ctx, "order-2", eventstore.NoStream, eventstore.EventData{Type: "Placed", Data: []byte("ann")})
	s.Link(ctx, "customer-ann", eventstore.NoStream, a.Position, b.Position)

	evs, _ := s.ReadStream(ctx, "customer-ann", 1, 10, eventstore.Forward)
	for _, e := range evs {
		fmt.Println(e.StreamID, e.Version, "→", e.OriginalStreamID, e.OriginalVersion, e.Position)
	}
	all, _ := s.ReadAll(ctx, 1, 10, eventstore.Forward)
	fmt.Println(len(all), "events in $all")
	// Output:
	// customer-ann 1 → order-1 1 1
	// customer-ann 2 → order-2 1 2
	// 2 events in $all
}

// An append whose outcome is unknown (a timeout) is retried with the same
// event IDs and the same expectation: the repeat writes nothing and answers
// as the first append did.
func ExampleStore_Append_retry() {
	ctx := context.Background()
	s := memstore.New()
	defer s.Close()

	ev := eventstore.EventData{ID: "cmd-7/1", Type: "Deposited", Data: []byte("100")}
	first, _ := s.Append(ctx, "account-1", eventstore.NoStream, ev)
	again, err := s.Append(ctx, "account-1", eventstore.NoStream, ev)
	fmt.Println(err, first.Streams[0].Version, again.Streams[0].Version, first.Position == again.Position)

	info, _ := s.StreamInfo(ctx, "account-1")
	fmt.Println(info.Version, "event stored")
	// Output:
	// <nil> 1 1 true
	// 1 event stored
}

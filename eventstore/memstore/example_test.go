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

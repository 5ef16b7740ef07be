package subscription_test

import (
	"context"
	"fmt"

	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/memstore"
	"github.com/grovedev/grove/eventstore/subscription"
)

func Example() {
	ctx := context.Background()
	s := memstore.New()
	defer s.Close()
	s.Append(ctx, "account-1", eventstore.NoStream, eventstore.EventData{Type: "Opened"})

	seen := make(chan string, 10)
	sub, _ := subscription.Start(ctx, s, subscription.Config{Name: "audit"},
		func(_ context.Context, evs []eventstore.RecordedEvent) error {
			for _, e := range evs {
				seen <- fmt.Sprintf("%d %s %s", e.Position, e.StreamID, e.Type)
			}
			return nil
		})
	defer sub.Close()

	r, _ := s.Append(ctx, "account-1", eventstore.Exact(1), eventstore.EventData{Type: "Deposited"})
	sub.WaitFor(ctx, r.Position) // strong consistency: handled before we go on
	fmt.Println(<-seen)
	fmt.Println(<-seen)
	cp, _, _ := s.LoadCheckpoint(ctx, "audit")
	fmt.Println("checkpoint", cp)
	// Output:
	// 1 account-1 Opened
	// 2 account-1 Deposited
	// checkpoint 2
}

package eventstore_test

import (
	"context"
	"fmt"

	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/memstore"
)

// Upcasters turn old events into the current shape as they are read.
func ExampleWithUpcasters() {
	ctx := context.Background()
	raw := memstore.New()
	defer raw.Close()
	raw.Append(ctx, "acc", eventstore.Any, eventstore.EventData{Type: "OpenedV1", Data: []byte(`{"owner":"ann"}`)})

	s := eventstore.WithUpcasters(raw, eventstore.Upcasters{
		"OpenedV1": func(e eventstore.RecordedEvent) (eventstore.RecordedEvent, error) {
			e.Type = "Opened"
			e.Data = []byte(`{"owner":"ann","currency":"EUR"}`)
			return e, nil
		},
	})
	evs, _ := s.ReadStream(ctx, "acc", 1, 10, eventstore.Forward)
	fmt.Println(evs[0].Type, string(evs[0].Data))
	// Output: Opened {"owner":"ann","currency":"EUR"}
}

func ExampleExpectedVersion_Check() {
	fmt.Println(eventstore.NoStream.Check(0), eventstore.StreamExists.Check(0), eventstore.Exact(3).Check(3), eventstore.Any.Check(7))
	// Output: true false true true
}

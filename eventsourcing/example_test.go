package eventsourcing_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/grovedev/grove/eventsourcing"
	"github.com/grovedev/grove/eventstore/memstore"
	"github.com/grovedev/grove/proc"
)

func Example() {
	ctx := context.Background()
	rt, _ := proc.New(proc.Config{Logger: slog.New(slog.DiscardHandler)})
	defer rt.Close(ctx)
	store := memstore.New()
	defer store.Close()

	types := eventsourcing.NewTypes()
	eventsourcing.Register[Added](types, "Added")
	app, _ := eventsourcing.New(eventsourcing.Config{Store: store, Types: types, Runtime: rt})
	counters := eventsourcing.Kind{Name: "counter", New: func(string) eventsourcing.Aggregate { return &Counter{} }}
	eventsourcing.Route(app, counters, func(c Add) string { return c.ID })

	app.Dispatch(ctx, Add{ID: "c1", N: 5})
	res, _ := app.Dispatch(ctx, Add{ID: "c1", N: 3}, eventsourcing.ReturnState())
	fmt.Println("version", res.Version, "value", res.Aggregate.(*Counter).N)

	_, err := app.Dispatch(ctx, Add{ID: "c1", N: -100})
	fmt.Println(err)

	// Time travel: the counter as it was at version 1.
	past, _, _ := app.AggregateAt(ctx, counters, "c1", 1)
	fmt.Println("at version 1:", past.(*Counter).N)
	// Output:
	// version 2 value 8
	// would go negative
	// at version 1: 5
}

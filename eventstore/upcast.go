package eventstore

import (
	"context"
	"fmt"
)

// Upcaster turns a stored event of an old shape into the current one as it
// is read ("AccountOpened" v1 without a currency into v2 with "EUR"). It
// may change the type, and then the upcaster of the new type runs next.
// Upcasters must be pure: the same event in, the same event out.
type Upcaster func(RecordedEvent) (RecordedEvent, error)

// Upcasters maps an event type to its upcaster.
type Upcasters map[string]Upcaster

// maxUpcasts bounds a chain of upcasters, against one that loops.
const maxUpcasts = 64

// Apply runs the upcasters of e's type, and of each type they turn it into,
// until none applies.
func (u Upcasters) Apply(e RecordedEvent) (RecordedEvent, error) {
	for range maxUpcasts {
		f, ok := u[e.Type]
		if !ok {
			return e, nil
		}
		before := e.Type
		var err error
		if e, err = f(e); err != nil {
			return e, fmt.Errorf("eventstore: upcasting %q at %d: %w", before, e.Position, err)
		}
		if e.Type == before {
			return e, nil
		}
	}
	return e, fmt.Errorf("eventstore: upcasters of %q loop", e.Type)
}

// WithUpcasters returns a store whose reads pass every event through u.
// Appends, deletes and snapshots go to s unchanged; stored events are never
// rewritten.
func WithUpcasters(s Store, u Upcasters) Store { return &upcasting{Store: s, u: u} }

type upcasting struct {
	Store
	u Upcasters
}

// Unwrap returns the store below, for callers that need its own methods
// (checkpoints, leases).
func (s *upcasting) Unwrap() Store { return s.Store }

func (s *upcasting) apply(evs []RecordedEvent, err error) ([]RecordedEvent, error) {
	if err != nil {
		return nil, err
	}
	for i := range evs {
		if evs[i], err = s.u.Apply(evs[i]); err != nil {
			return nil, err
		}
	}
	return evs, nil
}

func (s *upcasting) ReadStream(ctx context.Context, stream string, from uint64, max int, dir Direction) ([]RecordedEvent, error) {
	return s.apply(s.Store.ReadStream(ctx, stream, from, max, dir))
}

func (s *upcasting) ReadAll(ctx context.Context, from uint64, max int, dir Direction) ([]RecordedEvent, error) {
	return s.apply(s.Store.ReadAll(ctx, from, max, dir))
}

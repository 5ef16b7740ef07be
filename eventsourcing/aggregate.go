package eventsourcing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/grovedev/grove/eventstore"
)

// Aggregate is a consistency boundary: it decides which events a command
// causes from the state its past events built. Execute must not change the
// aggregate: only Apply does, so that a command whose append loses a race
// can be decided again on the newer state.
type Aggregate interface {
	// Execute returns the events cmd causes (none is fine), or an error
	// that refuses the command.
	Execute(cmd any) ([]any, error)
	// Apply evolves the state by one event. It must not fail: events are
	// facts.
	Apply(event any)
}

// Kind describes a kind of aggregate.
type Kind struct {
	// Name prefixes the streams: the aggregate "42" of kind "account" is
	// stream "account-42".
	Name string
	// New returns the zero state of the aggregate id.
	New func(id string) Aggregate
	// SnapshotEvery saves a snapshot (the aggregate's JSON) every this
	// many events, so that loading replays at most that many. 0: never.
	SnapshotEvery int
	// Lifespan stops an aggregate's process after this long without a
	// command. Default 5 minutes.
	Lifespan time.Duration
	// Retries bounds how often a command is decided again after losing an
	// append race (wrong expected version). Default 10.
	Retries int
}

func (k Kind) withDefaults() Kind {
	if k.Lifespan == 0 {
		k.Lifespan = 5 * time.Minute
	}
	if k.Retries == 0 {
		k.Retries = 10
	}
	return k
}

// Validate reports a kind that cannot work.
func (k Kind) Validate() error {
	switch {
	case k.Name == "":
		return errors.New("eventsourcing: Kind.Name is required")
	case k.New == nil:
		return fmt.Errorf("eventsourcing: kind %s has no New", k.Name)
	case k.SnapshotEvery < 0 || k.Lifespan < 0 || k.Retries < 0:
		return fmt.Errorf("eventsourcing: kind %s: negative SnapshotEvery, Lifespan or Retries", k.Name)
	}
	return nil
}

// Stream returns the stream of aggregate id.
func (k Kind) Stream(id string) string { return k.Name + "-" + id }

// instance is an aggregate with its version, loaded from the store.
type instance struct {
	kind    Kind
	id      string
	agg     Aggregate
	version uint64
}

const readPage = 1000

// load builds the aggregate from its snapshot (if any, and if upTo allows)
// and the events after it, up to version upTo (eventstore.End: all).
func load(ctx context.Context, store eventstore.Store, types *Types, k Kind, id string, upTo uint64) (*instance, error) {
	in := &instance{kind: k, id: id, agg: k.New(id)}
	stream := k.Stream(id)
	if k.SnapshotEvery > 0 {
		snap, err := store.LoadSnapshot(ctx, stream)
		switch {
		case err == nil && snap.Version <= upTo:
			if err := json.Unmarshal(snap.Data, in.agg); err != nil {
				return nil, fmt.Errorf("eventsourcing: snapshot of %s: %w", stream, err)
			}
			in.version = snap.Version
		case err != nil && !errors.Is(err, eventstore.ErrSnapshotNotFound):
			return nil, err
		}
	}
	if err := in.catchUp(ctx, store, types, upTo); err != nil {
		return nil, err
	}
	return in, nil
}

// catchUp applies the stream's events after the instance's version, up to
// upTo.
func (in *instance) catchUp(ctx context.Context, store eventstore.Store, types *Types, upTo uint64) error {
	stream := in.kind.Stream(in.id)
	for in.version < upTo {
		evs, err := store.ReadStream(ctx, stream, in.version+1, readPage, eventstore.Forward)
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, e := range evs {
			if e.Version > upTo {
				return nil
			}
			ev, err := types.Decode(e)
			if err != nil {
				return err
			}
			in.agg.Apply(ev.Data)
			in.version = e.Version
		}
		if len(evs) < readPage {
			return nil
		}
	}
	return nil
}

// execute decides cmd, appends its events expecting the instance's
// version, and applies them; after a lost race it catches up and decides
// again. refused tells an error of the aggregate (the command refused)
// from a failure to load or append.
func (in *instance) execute(ctx context.Context, store eventstore.Store, types *Types, cmd any, meta Metadata) (_ Result, refused bool, _ error) {
	for attempt := 0; ; attempt++ {
		events, err := in.agg.Execute(cmd)
		if err != nil {
			return Result{}, true, err
		}
		if len(events) == 0 {
			return Result{Version: in.version, Aggregate: in.agg}, false, nil
		}
		data := make([]eventstore.EventData, len(events))
		for i, ev := range events {
			if data[i], err = types.Encode(ev, meta); err != nil {
				return Result{}, true, err
			}
		}
		res, err := store.Append(ctx, in.kind.Stream(in.id), eventstore.Exact(in.version), data...)
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) && attempt < in.kind.Retries {
			if err := in.catchUp(ctx, store, types, eventstore.End); err != nil {
				return Result{}, false, err
			}
			continue
		}
		if err != nil {
			return Result{}, false, err
		}
		before := in.version
		for _, ev := range events {
			in.agg.Apply(ev)
		}
		in.version = res.Streams[0].Version
		if n := uint64(in.kind.SnapshotEvery); n > 0 && in.version/n != before/n {
			if b, err := json.Marshal(in.agg); err == nil {
				_ = store.SaveSnapshot(ctx, eventstore.Snapshot{Stream: in.kind.Stream(in.id), Version: in.version, Type: in.kind.Name, Data: b})
			}
		}
		return Result{Events: events, Version: in.version, Position: res.Position, Aggregate: in.agg}, false, nil
	}
}

// copyState returns a copy of agg (through its JSON), for callers outside
// the process that owns it.
func copyState(k Kind, id string, agg Aggregate) (Aggregate, error) {
	b, err := json.Marshal(agg)
	if err != nil {
		return nil, fmt.Errorf("eventsourcing: copying the state of %s: %w", k.Stream(id), err)
	}
	c := k.New(id)
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("eventsourcing: copying the state of %s: %w", k.Stream(id), err)
	}
	return c, nil
}

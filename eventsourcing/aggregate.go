package eventsourcing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
	// command (on a ClusterHost, after one to two lifespans: entities
	// are checked for idleness once per lifespan). Default 5 minutes.
	Lifespan time.Duration
	// Retries bounds how often a command is decided again after losing an
	// append race (wrong expected version). Default 10.
	Retries int
	// RememberCommands is how many of the stream's latest events an
	// instance remembers the command ids of, so that a command dispatched
	// again with the same id (a retry after a lost reply, a process
	// manager redelivering an event) is answered from the events it
	// caused instead of being applied twice. Default 100; the cost is a
	// few dozen bytes per event remembered.
	RememberCommands int
}

func (k Kind) withDefaults() Kind {
	if k.Lifespan == 0 {
		k.Lifespan = 5 * time.Minute
	}
	if k.Retries == 0 {
		k.Retries = 10
	}
	if k.RememberCommands == 0 {
		k.RememberCommands = 100
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
	case k.SnapshotEvery < 0 || k.Lifespan < 0 || k.Retries < 0 || k.RememberCommands < 0:
		return fmt.Errorf("eventsourcing: kind %s: negative SnapshotEvery, Lifespan, Retries or RememberCommands", k.Name)
	}
	return nil
}

// Stream returns the stream of aggregate id.
func (k Kind) Stream(id string) string { return k.Name + "-" + id }

// instance is an aggregate with its version, loaded from the store, and
// the command ids of its latest events.
type instance struct {
	kind    Kind
	id      string
	agg     Aggregate
	version uint64
	// recent maps the command id of each of the latest events (up to
	// Kind.RememberCommands) to the version of the last event it caused;
	// order lists them oldest first.
	recent map[string]uint64
	order  []string
}

const readPage = 1000

// load builds the aggregate from its snapshot (if any, and if upTo allows)
// and the events after it, up to version upTo (eventstore.End: all).
func load(ctx context.Context, store eventstore.Store, types *Types, k Kind, id string, upTo uint64) (*instance, error) {
	in := &instance{kind: k, id: id, agg: k.New(id), recent: map[string]uint64{}}
	stream := k.Stream(id)
	if k.SnapshotEvery > 0 {
		snap, err := store.LoadSnapshot(ctx, stream)
		switch {
		case err == nil && snap.Version <= upTo:
			if err := json.Unmarshal(snap.Data, in.agg); err != nil {
				return nil, fmt.Errorf("eventsourcing: snapshot of %s: %w", stream, err)
			}
			in.version = snap.Version
			if err := in.rememberBefore(ctx, store); err != nil {
				return nil, err
			}
		case err != nil && !errors.Is(err, eventstore.ErrSnapshotNotFound):
			return nil, err
		}
	}
	if err := in.catchUp(ctx, store, types, upTo); err != nil {
		return nil, err
	}
	return in, nil
}

// rememberBefore reads the command ids of the events up to the snapshot's
// version, which the snapshot does not replay.
func (in *instance) rememberBefore(ctx context.Context, store eventstore.Store) error {
	if in.kind.RememberCommands == 0 || in.version == 0 {
		return nil
	}
	evs, err := store.ReadStream(ctx, in.kind.Stream(in.id), in.version, in.kind.RememberCommands, eventstore.Backward)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for i := len(evs) - 1; i >= 0; i-- {
		in.remember(commandOf(evs[i]), evs[i].Version)
	}
	return nil
}

// commandOf returns the command id in an event's metadata, "" if none.
func commandOf(e eventstore.RecordedEvent) string {
	if len(e.Metadata) == 0 {
		return ""
	}
	var m Metadata
	if json.Unmarshal(e.Metadata, &m) != nil {
		return ""
	}
	return m[MetaCommandID]
}

// remember records that the event at version v came from command cmd.
func (in *instance) remember(cmd string, v uint64) {
	if cmd == "" || in.kind.RememberCommands == 0 {
		return
	}
	if _, ok := in.recent[cmd]; !ok {
		in.order = append(in.order, cmd)
	}
	in.recent[cmd] = v
	for len(in.order) > in.kind.RememberCommands {
		delete(in.recent, in.order[0])
		in.order = in.order[1:]
	}
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
			in.remember(ev.Metadata[MetaCommandID], e.Version)
		}
		if len(evs) < readPage {
			return nil
		}
	}
	return nil
}

// done returns the result of a command this instance has already applied
// (its id among the latest events'), read back from its events.
func (in *instance) done(ctx context.Context, store eventstore.Store, types *Types, cmd string) (Result, bool, error) {
	last, ok := in.recent[cmd]
	if !ok || cmd == "" {
		return Result{}, false, nil
	}
	evs, err := store.ReadStream(ctx, in.kind.Stream(in.id), last, readPage, eventstore.Backward)
	if err != nil {
		return Result{}, false, err
	}
	res := Result{Version: last, Aggregate: in.agg}
	var mine []eventstore.RecordedEvent
	for _, e := range evs {
		if commandOf(e) != cmd {
			break
		}
		mine = append(mine, e)
	}
	if len(mine) == 0 {
		return Result{}, false, nil
	}
	res.Position = mine[0].Position
	for i := len(mine) - 1; i >= 0; i-- {
		ev, err := types.Decode(mine[i])
		if err != nil {
			return Result{}, false, err
		}
		res.Events = append(res.Events, ev.Data)
	}
	return res, true, nil
}

// execute decides cmd, appends its events expecting the instance's
// version, and applies them; after a lost race it catches up and decides
// again. A command whose id the instance remembers (applied before: this
// is a retry) is answered from its events and not decided again. refused
// tells an error of the aggregate (the command refused) from a failure to
// load or append. An append whose outcome the store cannot tell gives an
// *OutcomeUnknownError.
func (in *instance) execute(ctx context.Context, store eventstore.Store, types *Types, cmd any, meta Metadata) (_ Result, refused bool, _ error) {
	cmdID := meta[MetaCommandID]
	stream := in.kind.Stream(in.id)
	for attempt := 0; ; attempt++ {
		if res, ok, err := in.done(ctx, store, types, cmdID); err != nil || ok {
			return res, false, err
		}
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
			if cmdID != "" {
				// The same command decided again gives the same ids, so
				// that the store recognises a retried append.
				data[i].ID = deriveID(stream, cmdID, strconv.Itoa(i))
			}
		}
		res, err := store.Append(ctx, stream, eventstore.Exact(in.version), data...)
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) && attempt < in.kind.Retries {
			if err := in.catchUp(ctx, store, types, eventstore.End); err != nil {
				return Result{}, false, err
			}
			continue
		}
		if err != nil {
			if !certainlyNotAppended(err) {
				err = &OutcomeUnknownError{Stream: stream, Err: err}
			}
			return Result{}, false, err
		}
		before := in.version
		for _, ev := range events {
			in.agg.Apply(ev)
		}
		in.version = res.Streams[0].Version
		in.remember(cmdID, in.version)
		if n := uint64(in.kind.SnapshotEvery); n > 0 && in.version/n != before/n {
			if b, err := json.Marshal(in.agg); err == nil {
				_ = store.SaveSnapshot(ctx, eventstore.Snapshot{Stream: stream, Version: in.version, Type: in.kind.Name, Data: b})
			}
		}
		return Result{Events: events, Version: in.version, Position: res.Position, Aggregate: in.agg}, false, nil
	}
}

// certainlyNotAppended tells the append errors after which nothing was
// written.
func certainlyNotAppended(err error) bool {
	return errors.Is(err, eventstore.ErrWrongExpectedVersion) || errors.Is(err, eventstore.ErrInvalid) ||
		errors.Is(err, eventstore.ErrStreamDeleted)
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

package eventsourcing

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/grovedev/grove/eventstore"
)

// ErrUnknownType: an event (or command) type that the types registry does
// not know.
var ErrUnknownType = errors.New("eventsourcing: unknown type")

// Types maps event types' names to Go types, and encodes events as JSON
// (the name is the stored event's Type). Register every event type, on
// every node, before use. Safe for concurrent use.
type Types struct {
	mu     sync.RWMutex
	byName map[string]reflect.Type
	byType map[reflect.Type]string
}

// NewTypes returns an empty registry.
func NewTypes() *Types {
	return &Types{byName: map[string]reflect.Type{}, byType: map[reflect.Type]string{}}
}

// Register records T under name. Registering a name or type twice with a
// different partner panics: it is a programming error.
func Register[T any](t *Types, name string) {
	typ := reflect.TypeFor[T]()
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.byName[name]; ok && old != typ {
		panic(fmt.Sprintf("eventsourcing: %q registered for %v and %v", name, old, typ))
	}
	if old, ok := t.byType[typ]; ok && old != name {
		panic(fmt.Sprintf("eventsourcing: %v registered as %q and %q", typ, old, name))
	}
	t.byName[name], t.byType[typ] = typ, name
}

// Name returns the registered name of v's type.
func (t *Types) Name(v any) (string, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	name, ok := t.byType[reflect.TypeOf(v)]
	if !ok {
		return "", fmt.Errorf("%w: %T", ErrUnknownType, v)
	}
	return name, nil
}

// Encode turns an event value into the data to append.
func (t *Types) Encode(v any, meta Metadata) (eventstore.EventData, error) {
	name, err := t.Name(v)
	if err != nil {
		return eventstore.EventData{}, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return eventstore.EventData{}, fmt.Errorf("eventsourcing: encoding %s: %w", name, err)
	}
	var md []byte
	if len(meta) > 0 {
		if md, err = json.Marshal(meta); err != nil {
			return eventstore.EventData{}, err
		}
	}
	return eventstore.EventData{Type: name, Data: data, Metadata: md}, nil
}

// Decode turns a stored event back into its value (of the registered type,
// not a pointer) and metadata.
func (t *Types) Decode(e eventstore.RecordedEvent) (Event, error) {
	t.mu.RLock()
	typ, ok := t.byName[e.Type]
	t.mu.RUnlock()
	if !ok {
		return Event{}, fmt.Errorf("%w: %q at %d", ErrUnknownType, e.Type, e.Position)
	}
	p := reflect.New(typ)
	if err := json.Unmarshal(e.Data, p.Interface()); err != nil {
		return Event{}, fmt.Errorf("eventsourcing: decoding %s at %d: %w", e.Type, e.Position, err)
	}
	ev := Event{Data: p.Elem().Interface(), Recorded: e}
	if len(e.Metadata) > 0 {
		if err := json.Unmarshal(e.Metadata, &ev.Metadata); err != nil {
			return Event{}, fmt.Errorf("eventsourcing: metadata at %d: %w", e.Position, err)
		}
	}
	return ev, nil
}

// Metadata travels with commands into the events they cause: correlation
// and causation ids, the user, anything a middleware adds.
type Metadata map[string]string

// Metadata keys the framework sets.
const (
	MetaCorrelationID = "correlation_id" // the first command of a chain
	MetaCausationID   = "causation_id"   // the command or event that caused this
	MetaCommandID     = "command_id"
)

// Event is a decoded event with its place in the store.
type Event struct {
	Data     any
	Metadata Metadata
	Recorded eventstore.RecordedEvent
}

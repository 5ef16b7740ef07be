package crdt

import (
	"fmt"
	"sort"
)

// Registry maps names to CRDT constructors, so that a replication service
// can create and decode the states of CRDTs it only knows by name. Names
// are chosen by the caller: one per CRDT type and type arguments, such as
// "presence" for an *ORSet[string].
//
// A Registry is safe for concurrent reads once registration is done;
// Register must not run concurrently with other methods.
type Registry struct {
	factories map[string]func() State
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{factories: make(map[string]func() State)}
}

// Register associates name with newState, which must return a new empty
// state on every call. It returns ErrDuplicateType if name is taken.
func (r *Registry) Register(name string, newState func() State) error {
	if _, ok := r.factories[name]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicateType, name)
	}
	r.factories[name] = newState
	return nil
}

// New returns a new empty state of the type registered as name.
func (r *Registry) New(name string) (State, error) {
	f, ok := r.factories[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, name)
	}
	return f(), nil
}

// Decode returns the state of the type registered as name encoded in data.
func (r *Registry) Decode(name string, data []byte) (State, error) {
	s, err := r.New(name)
	if err != nil {
		return nil, err
	}
	if err := s.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return s, nil
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.factories))
	for n := range r.factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

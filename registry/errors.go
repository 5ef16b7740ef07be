package registry

import (
	"errors"
	"fmt"

	"github.com/grovedev/grove/proc"
)

var (
	// ErrAlreadyRegistered is returned by Register on a unique registry when
	// the key is taken. The error is an *AlreadyRegisteredError that names
	// the holder.
	ErrAlreadyRegistered = errors.New("registry: key already registered")
	// ErrNotAlive is returned by Register for a process that does not exist
	// or exited during the registration.
	ErrNotAlive = errors.New("registry: process not alive")
	// ErrNotLocal is returned by Register for a PID of another node or of an
	// earlier incarnation of this one: the registry is local to one runtime.
	ErrNotLocal = errors.New("registry: process not local")
	// ErrInvalidKey is returned by Register for a key that is not comparable
	// (a slice, a map, a function, or a struct holding one) or not equal to
	// itself (a floating-point NaN), which could never be looked up.
	ErrInvalidKey = errors.New("registry: key not comparable")
	// ErrNotRegistered is returned by UpdateValue when the process does not
	// hold the key.
	ErrNotRegistered = errors.New("registry: key not registered by the process")
	// ErrNotUnique is returned by operations that only make sense on a
	// registry of unique keys, such as UpdateValue, when called on a
	// duplicate registry.
	ErrNotUnique = errors.New("registry: operation needs unique keys")
)

// AlreadyRegisteredError tells which process holds a unique key. It matches
// ErrAlreadyRegistered under errors.Is.
type AlreadyRegisteredError struct {
	Key any
	PID proc.PID // the holder; the registering process itself if it holds the key already
}

// Error names the key and its holder.
func (e *AlreadyRegisteredError) Error() string {
	return fmt.Sprintf("registry: key %v already registered by %v", e.Key, e.PID)
}

// Unwrap returns ErrAlreadyRegistered.
func (e *AlreadyRegisteredError) Unwrap() error { return ErrAlreadyRegistered }

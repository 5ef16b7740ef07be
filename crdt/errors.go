package crdt

import (
	"errors"
	"fmt"
)

// Errors returned by this package.
var (
	// ErrTypeMismatch is the sentinel of a *TypeMismatchError: two states of
	// different CRDT types were joined.
	ErrTypeMismatch = errors.New("crdt: type mismatch")
	// ErrMalformed is returned by UnmarshalBinary for input that is not a
	// valid encoding of the receiver's type. The receiver is left unchanged.
	ErrMalformed = errors.New("crdt: malformed encoding")
	// ErrUnknownType is returned by a Registry for a name nobody registered.
	ErrUnknownType = errors.New("crdt: unknown type")
	// ErrDuplicateType is returned by Registry.Register for a name that is
	// already registered.
	ErrDuplicateType = errors.New("crdt: type already registered")
)

// TypeMismatchError reports a Join of two states of different types.
type TypeMismatchError struct {
	// Want is the Go type of the receiver, Got the Go type of the argument.
	Want, Got string
}

// Error describes the mismatch.
func (e *TypeMismatchError) Error() string {
	return fmt.Sprintf("%v: cannot join %s into %s", ErrTypeMismatch, e.Got, e.Want)
}

// Unwrap returns ErrTypeMismatch.
func (e *TypeMismatchError) Unwrap() error { return ErrTypeMismatch }

// malformed returns an error wrapping ErrMalformed with a description.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

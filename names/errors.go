package names

import (
	"errors"
	"fmt"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/internal/ownermap"
	"github.com/grovedev/grove/proc"
)

// Errors.
var (
	// ErrAlreadyRegistered is wrapped by Register's error for a unique
	// key that a process holds in this node's view.
	ErrAlreadyRegistered = errors.New("names: already registered")
	// ErrNotLocal is returned for a process of another node: a node
	// registers only its own processes, the ones it watches.
	ErrNotLocal = errors.New("names: process of another node")
	// ErrNotAlive is returned when registering a process that does not run.
	ErrNotAlive = errors.New("names: process not alive")
	// ErrIncomplete is wrapped by the error of a lookup that missed while
	// this node has not yet received the entries of every live member (it
	// just started or joined, or a member just appeared): the key may
	// exist. Retry, or wait with WaitComplete.
	ErrIncomplete = errors.New("names: registry not yet complete")
	// ErrConflict is matched (errors.Is) by a *ConflictError.
	ErrConflict = errors.New("names: name conflict")
	// ErrClosed is returned by a closed Registry.
	ErrClosed = errors.New("names: closed")
	// ErrInvalidKey is returned for an empty key or one over MaxKeyLen.
	ErrInvalidKey = errors.New("names: invalid key")
)

// MaxKeyLen bounds a key, in bytes.
const MaxKeyLen = ownermap.MaxKeyLen

// AlreadyRegisteredError is ErrAlreadyRegistered with the holder.
type AlreadyRegisteredError struct {
	Key string
	PID proc.PID
}

func (e *AlreadyRegisteredError) Error() string {
	return fmt.Sprintf("names: %q already registered by %v", e.Key, e.PID)
}

// Unwrap returns ErrAlreadyRegistered.
func (e *AlreadyRegisteredError) Unwrap() error { return ErrAlreadyRegistered }

// ConflictError is the exit reason of a process stopped for losing a
// name conflict: it names the key and the winner.
type ConflictError struct {
	Key    string
	Winner proc.PID
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("names: name conflict over %q, won by %v", e.Key, e.Winner)
}

// Is matches ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Error codes of this package's sentinels on the wire.
const (
	codeConflict   uint32 = 120
	codeIncomplete uint32 = 121
)

// RegisterTypes registers what registries exchange in a node's codec: the
// sync message, the Conflict notice and the error sentinels. Call it on
// every node before the node starts talking.
func RegisterTypes(r *codec.Registry) error {
	if err := ownermap.RegisterTypes(r); err != nil && !errors.Is(err, codec.ErrDuplicate) {
		return err
	}
	for code, err := range map[uint32]error{codeConflict: ErrConflict, codeIncomplete: ErrIncomplete} {
		if e := r.RegisterError(code, err); e != nil && !errors.Is(e, codec.ErrDuplicate) {
			return e
		}
	}
	return nil
}

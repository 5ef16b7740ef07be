package codec

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/grovedev/grove/proc"
)

// Stable error codes. They are part of the wire format: never renumber.
const (
	// CodeUnknown marks a RemoteError that matched no registered sentinel.
	CodeUnknown uint32 = 0

	CodeNormal       uint32 = 1 // proc.ErrNormal
	CodeShutdown     uint32 = 2 // proc.ErrShutdown
	CodeKill         uint32 = 3 // proc.ErrKill
	CodeKilled       uint32 = 4 // proc.ErrKilled
	CodeNoProc       uint32 = 5 // proc.ErrNoProc
	CodeNoConnection uint32 = 6 // proc.ErrNoConnection

	CodeMailboxFull   uint32 = 16 // proc.ErrMailboxFull
	CodeNotAlive      uint32 = 17 // proc.ErrNotAlive
	CodeNameTaken     uint32 = 18 // proc.ErrNameTaken
	CodeNotRegistered uint32 = 19 // proc.ErrNotRegistered
	CodeUnhandled     uint32 = 20 // proc.ErrUnhandled
	CodeRuntimeClosed uint32 = 21 // proc.ErrRuntimeClosed
	CodeCallToSelf    uint32 = 22 // proc.ErrCallToSelf
	CodeNoRoute       uint32 = 23 // proc.ErrNoRoute

	CodeCanceled         uint32 = 32 // context.Canceled
	CodeDeadlineExceeded uint32 = 33 // context.DeadlineExceeded
	CodeUnregistered     uint32 = 34 // ErrUnregistered
	CodeMalformed        uint32 = 35 // ErrMalformed
	CodeLimit            uint32 = 36 // ErrLimit

	// CodeUser is the first code available to RegisterError.
	CodeUser uint32 = 1000
)

var builtinSentinels = []struct {
	code uint32
	err  error
}{
	{CodeNormal, proc.ErrNormal},
	{CodeShutdown, proc.ErrShutdown},
	{CodeKill, proc.ErrKill},
	{CodeKilled, proc.ErrKilled},
	{CodeNoProc, proc.ErrNoProc},
	{CodeNoConnection, proc.ErrNoConnection},
	{CodeMailboxFull, proc.ErrMailboxFull},
	{CodeNotAlive, proc.ErrNotAlive},
	{CodeNameTaken, proc.ErrNameTaken},
	{CodeNotRegistered, proc.ErrNotRegistered},
	{CodeUnhandled, proc.ErrUnhandled},
	{CodeRuntimeClosed, proc.ErrRuntimeClosed},
	{CodeCallToSelf, proc.ErrCallToSelf},
	{CodeNoRoute, proc.ErrNoRoute},
	{CodeCanceled, context.Canceled},
	{CodeDeadlineExceeded, context.DeadlineExceeded},
	{CodeUnregistered, ErrUnregistered},
	{CodeMalformed, ErrMalformed},
	{CodeLimit, ErrLimit},
}

// RemoteError is an error that crossed the wire without a registered
// identity: its message, and the code of the registered sentinel it
// matched on the sender. It unwraps to that sentinel when the receiver
// knows the code, so errors.Is keeps working across nodes.
type RemoteError struct {
	Code    uint32 // CodeUnknown, or the code of a registered sentinel
	Message string // the original err.Error()

	sentinel error
}

// Error returns the original message.
func (e *RemoteError) Error() string { return e.Message }

// Unwrap returns the sentinel registered for Code on this node, or nil.
func (e *RemoteError) Unwrap() error { return e.sentinel }

// Error record kinds.
const (
	errSentinel uint8 = iota + 1
	errRemote
	errCrash
	errShutdown
	errExit
	errUnknownType
)

// wireError is the CBOR record of an error.
type wireError struct {
	_     struct{} `cbor:",toarray"`
	Kind  uint8
	Code  uint32
	ID    uint64
	Msg   string
	Stack []byte
	PID   *proc.PID
	Cause *wireError
}

// maxErrorDepth bounds the chain of causes encoded; deeper causes are
// flattened into a RemoteError.
const maxErrorDepth = 8

func (r *Registry) appendError(dst []byte, err error) ([]byte, error) {
	w := r.errorRecord(r.tab.Load(), err, 0)
	return r.appendCBOR(dst, w)
}

func (r *Registry) errorRecord(t *table, err error, depth int) *wireError {
	if err == nil {
		return nil
	}
	if reflect.TypeOf(err).Comparable() {
		if code, ok := t.codeByErr[err]; ok {
			return &wireError{Kind: errSentinel, Code: code, Msg: errorString(err)}
		}
	}
	if depth < maxErrorDepth {
		switch e := err.(type) {
		case *proc.CrashError:
			if e == nil {
				break
			}
			w := &wireError{Kind: errCrash, Msg: fmt.Sprint(e.Value), Stack: e.Stack}
			if ve, ok := e.Value.(error); ok {
				w.Cause = r.errorRecord(t, ve, depth+1)
			}
			return w
		case proc.ShutdownError:
			return &wireError{Kind: errShutdown, Cause: r.errorRecord(t, e.Reason, depth+1)}
		case *proc.ShutdownError:
			if e == nil {
				break
			}
			return &wireError{Kind: errShutdown, Cause: r.errorRecord(t, e.Reason, depth+1)}
		case *proc.ExitError:
			if e == nil {
				break
			}
			pid := e.PID
			return &wireError{Kind: errExit, PID: &pid, Cause: r.errorRecord(t, e.Reason, depth+1)}
		case *UnknownTypeError:
			if e == nil {
				break
			}
			return &wireError{Kind: errUnknownType, ID: e.ID}
		case *RemoteError:
			if e == nil {
				break
			}
			return &wireError{Kind: errRemote, Code: e.Code, Msg: e.Message}
		}
	}
	return &wireError{Kind: errRemote, Msg: errorString(err), Code: matchCode(t, err)}
}

// matchCode returns the code of the first registered sentinel err matches,
// surviving Unwrap or Is methods that panic (as nil pointer errors do).
func matchCode(t *table, err error) (code uint32) {
	defer func() {
		if recover() != nil {
			code = CodeUnknown
		}
	}()
	for _, c := range t.codeOrder {
		if errors.Is(err, t.errByCode[c]) {
			return c
		}
	}
	return CodeUnknown
}

func (r *Registry) decodeError(body []byte) (any, error) {
	var w wireError
	if err := r.dm.Unmarshal(body, &w); err != nil {
		return nil, r.wrapDecodeErr(err, "error")
	}
	e, err := r.fromRecord(r.tab.Load(), &w)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, fmt.Errorf("%w: empty error record", ErrMalformed)
	}
	return e, nil
}

// fromRecord rebuilds an error. A nil record is a nil error (allowed only
// as a cause).
func (r *Registry) fromRecord(t *table, w *wireError) (error, error) {
	if w == nil {
		return nil, nil
	}
	cause, err := r.fromRecord(t, w.Cause)
	if err != nil {
		return nil, err
	}
	switch w.Kind {
	case errSentinel:
		s, ok := t.errByCode[w.Code]
		if !ok {
			return &RemoteError{Code: w.Code, Message: w.Msg}, nil
		}
		return s, nil
	case errRemote:
		return &RemoteError{Code: w.Code, Message: w.Msg, sentinel: t.errByCode[w.Code]}, nil
	case errCrash:
		ce := &proc.CrashError{Value: w.Msg, Stack: w.Stack}
		if cause != nil {
			ce.Value = cause
		}
		return ce, nil
	case errShutdown:
		return proc.ShutdownError{Reason: cause}, nil
	case errExit:
		var pid proc.PID
		if w.PID != nil {
			pid = *w.PID
		}
		return &proc.ExitError{PID: pid, Reason: cause}, nil
	case errUnknownType:
		return &UnknownTypeError{ID: w.ID}, nil
	}
	return nil, fmt.Errorf("%w: unknown error kind %d", ErrMalformed, w.Kind)
}

// errorString calls err.Error, surviving the panic of a nil pointer error
// or a buggy Error method.
func errorString(err error) (s string) {
	defer func() {
		if p := recover(); p != nil {
			s = fmt.Sprintf("%T: Error panicked: %v", err, p)
		}
	}()
	return err.Error()
}

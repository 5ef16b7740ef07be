// Package history records what clients of a system under test did: each
// operation's invocation and its outcome, with monotonic timestamps, so
// that the checkers of package faultkit/check can judge the history.
//
// An outcome is one of:
//
//   - OK: the operation took effect (for a read, Value is what it read).
//   - Fail: the operation certainly did not take effect (the system refused
//     it before doing anything).
//   - Info: unknown: it may have taken effect, at any time after its
//     invocation, or not at all. A timeout or a lost connection is Info,
//     never Fail, unless the system guarantees the operation was not
//     applied.
//
// An operation invoked and never completed (the test ended first) counts
// as Info.
//
// # Usage
//
//	rec := history.NewRecorder()
//	op := rec.Invoke(client, "write", "k", 3)
//	err := store.Put(ctx, "k", 3)
//	switch {
//	case err == nil:
//		op.OK(nil)
//	case errors.Is(err, store.ErrRefused):
//		op.Fail(err)
//	default:
//		op.Info(err) // timeout, no connection: outcome unknown
//	}
//	...
//	res, err := check.Linearizable(rec.History(), check.Options{})
package history

import (
	"fmt"
	"sync"
	"time"
)

// Kind is the kind of a history entry.
type Kind uint8

// Kinds of entries.
const (
	Invoke Kind = iota // the client started the operation
	OK                 // it took effect
	Fail               // it certainly did not take effect
	Info               // its outcome is unknown
)

func (k Kind) String() string {
	switch k {
	case Invoke:
		return "invoke"
	case OK:
		return "ok"
	case Fail:
		return "fail"
	case Info:
		return "info"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Op is one entry of a history: an invocation or a completion.
type Op struct {
	Index   int           // position in the history
	Of      int           // for a completion, the Index of its invocation
	Process int           // the client that performs the operation
	Kind    Kind          // Invoke, OK, Fail or Info
	F       string        // the function: "read", "write", "cas", "add", ...
	Key     string        // the key it acts on, if any
	Value   any           // the argument on Invoke; the result on OK
	Err     string        // why it failed or is unknown
	Time    time.Duration // since the recorder started, monotonic
}

func (o Op) String() string {
	s := fmt.Sprintf("%d p%d %s %s", o.Index, o.Process, o.Kind, o.F)
	if o.Key != "" {
		s += " " + o.Key
	}
	if o.Value != nil {
		s += fmt.Sprintf(" %v", o.Value)
	}
	if o.Err != "" {
		s += " (" + o.Err + ")"
	}
	return s + fmt.Sprintf(" @%v", o.Time)
}

// History is a sequence of entries in the order they were recorded.
type History []Op

// Operation is an invocation with its outcome.
type Operation struct {
	Invoke   Op
	Complete Op // Kind Info with Time -1 if the operation never completed
}

// Outcome returns the kind of the completion: OK, Fail or Info.
func (o Operation) Outcome() Kind { return o.Complete.Kind }

// Operations pairs every invocation with its completion, in invocation
// order. An invocation without completion gets an Info completion with
// Time -1.
func (h History) Operations() []Operation {
	done := map[int]Op{}
	for _, o := range h {
		if o.Kind != Invoke {
			done[o.Of] = o
		}
	}
	var out []Operation
	for _, o := range h {
		if o.Kind != Invoke {
			continue
		}
		c, ok := done[o.Index]
		if !ok {
			c = Op{Index: -1, Of: o.Index, Process: o.Process, Kind: Info, F: o.F, Key: o.Key, Err: "never completed", Time: -1}
		}
		out = append(out, Operation{Invoke: o, Complete: c})
	}
	return out
}

// Recorder records a history. It is safe for concurrent use by any number
// of clients.
type Recorder struct {
	start time.Time
	mu    struct {
		sync.Mutex
		ops History
	}
}

// NewRecorder returns an empty recorder; its timestamps count from now.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Invoke records that process starts operation f on key with argument
// value, and returns the handle to record its outcome with. A process
// should run one operation at a time; after an Info outcome, a client
// that goes on should use a new process number, as its earlier operation
// may still be in flight.
func (r *Recorder) Invoke(process int, f, key string, value any) *Call {
	idx := r.add(Op{Process: process, Kind: Invoke, F: f, Key: key, Value: value})
	return &Call{r: r, inv: idx, process: process, f: f, key: key}
}

func (r *Recorder) add(o Op) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	o.Time = time.Since(r.start)
	o.Index = len(r.mu.ops)
	r.mu.ops = append(r.mu.ops, o)
	return o.Index
}

// History returns a copy of what was recorded so far.
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(History(nil), r.mu.ops...)
}

// Call is a pending operation. Record its outcome once with OK, Fail or
// Info; later calls are ignored. Its methods are safe for concurrent use.
type Call struct {
	r       *Recorder
	inv     int
	process int
	f, key  string
	once    sync.Once
}

func (c *Call) complete(k Kind, v any, err error) {
	c.once.Do(func() {
		o := Op{Of: c.inv, Process: c.process, Kind: k, F: c.f, Key: c.key, Value: v}
		if err != nil {
			o.Err = err.Error()
		}
		c.r.add(o)
	})
}

// OK records that the operation took effect; value is its result (what a
// read read), nil for operations without one.
func (c *Call) OK(value any) { c.complete(OK, value, nil) }

// Fail records that the operation certainly did not take effect.
func (c *Call) Fail(err error) { c.complete(Fail, nil, err) }

// Info records that the outcome is unknown.
func (c *Call) Info(err error) { c.complete(Info, nil, err) }

// Complete records the outcome from err with the usual mapping: nil is OK
// with value, an error for which definite reports true is Fail, any other
// error is Info.
func (c *Call) Complete(value any, err error, definite func(error) bool) {
	switch {
	case err == nil:
		c.OK(value)
	case definite != nil && definite(err):
		c.Fail(err)
	default:
		c.Info(err)
	}
}

package distsup

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/hlc"
	"github.com/grovedev/grove/internal/ownermap"
	"github.com/grovedev/grove/names"
	"github.com/grovedev/grove/placement"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor"
)

// StartFunc builds the behaviour of a child of a kind: Go cannot ship
// closures, so each node registers, under a kind name, how to build the
// children of that kind from their id and argument (Supervisor.Register).
type StartFunc func(id string, arg any) (proc.Behavior, error)

// ChildSpec describes a child.
type ChildSpec struct {
	// ID names the child cluster-wide: at most one child of an ID runs.
	ID string
	// Kind is the registered StartFunc that builds it.
	Kind string
	// Arg is given to the StartFunc; its type must be registered in the
	// codec of every node.
	Arg any
	// Restart is Permanent (default), Transient or Temporary, as in OTP;
	// it applies to local exits and to the death of the child's node
	// (whose reason, a lost node, is abnormal).
	Restart supervisor.Restart
	// Shutdown is how long TerminateChild waits for the child to stop
	// before killing it. Default 5 s.
	Shutdown time.Duration
	// Pin restricts the child to nodes whose metadata match (region,
	// zone, role, tags); empty means any node.
	Pin placement.Pinned
}

// Errors.
var (
	// ErrInvalidSpec is wrapped by the error of a spec that cannot work.
	ErrInvalidSpec = errors.New("distsup: invalid child spec")
	// ErrAlreadyStarted is wrapped by StartChild's error for an ID that
	// runs; the error's PID is the running child.
	ErrAlreadyStarted = errors.New("distsup: already started")
	// ErrNotFound is returned for an ID that no node runs.
	ErrNotFound = errors.New("distsup: no such child")
	// ErrUnknownKind is returned when the node chosen for a child has not
	// registered its kind.
	ErrUnknownKind = errors.New("distsup: unknown kind")
	// ErrNoNode is returned when no node can take a child.
	ErrNoNode = errors.New("distsup: no node can take the child")
	// ErrDraining is returned by a node that is handing its children off.
	ErrDraining = errors.New("distsup: node draining")
	// ErrClosed is returned by a closed supervisor.
	ErrClosed = errors.New("distsup: closed")
	// ErrNotReplicated is wrapped by StartChild's error when the child
	// runs but ctx ended before a majority of the members had its record.
	ErrNotReplicated = errors.New("distsup: start not acknowledged by a majority of the members")
	// ErrDuplicate is the exit reason of a copy of a child stopped because
	// another copy won (after a partition).
	ErrDuplicate = errors.New("distsup: duplicate child stopped")
	// ErrNoQuorum is the exit reason of children stopped because their
	// node lost its quorum lease.
	ErrNoQuorum = errors.New("distsup: no quorum")
)

// AlreadyStartedError is ErrAlreadyStarted with the running child.
type AlreadyStartedError struct {
	ID  string
	PID proc.PID
}

func (e *AlreadyStartedError) Error() string {
	return fmt.Sprintf("distsup: %q already started as %v", e.ID, e.PID)
}

// Unwrap returns ErrAlreadyStarted.
func (e *AlreadyStartedError) Unwrap() error { return ErrAlreadyStarted }

// markerPrefix starts the keys of the member markers in the child table;
// child IDs may not start with it.
const markerPrefix = "\x00member/"

func (s ChildSpec) validate() error {
	switch {
	case s.ID == "" || len(s.ID) > names.MaxKeyLen:
		return fmt.Errorf("%w: ID of %d bytes", ErrInvalidSpec, len(s.ID))
	case strings.HasPrefix(s.ID, "\x00"):
		return fmt.Errorf("%w: ID starts with a NUL byte", ErrInvalidSpec)
	case s.Kind == "":
		return fmt.Errorf("%w: no kind", ErrInvalidSpec)
	case s.Restart < supervisor.Permanent || s.Restart > supervisor.Temporary:
		return fmt.Errorf("%w: restart %d", ErrInvalidSpec, s.Restart)
	case s.Shutdown < 0:
		return fmt.Errorf("%w: negative shutdown", ErrInvalidSpec)
	}
	return nil
}

// record is a child as the table keeps it: the value of its entry.
type record struct {
	Kind     string
	Arg      []byte // encoded with the node codec
	Restart  int
	Shutdown int64
	Region   string            `cbor:",omitempty"`
	Zone     string            `cbor:",omitempty"`
	Role     string            `cbor:",omitempty"`
	Tags     map[string]string `cbor:",omitempty"`
}

func (r record) pin() placement.Pinned {
	return placement.Pinned{Region: r.Region, Zone: r.Zone, Role: r.Role, Tags: r.Tags}
}

func (r record) restart() supervisor.Restart { return supervisor.Restart(r.Restart) }

func (r record) shutdown() time.Duration {
	if r.Shutdown <= 0 {
		return 5 * time.Second
	}
	return time.Duration(r.Shutdown)
}

func (s *Supervisor) toRecord(spec ChildSpec) (record, error) {
	arg, err := s.nd.Codec().Encode(spec.Arg)
	if err != nil {
		return record{}, fmt.Errorf("%w: arg: %w", ErrInvalidSpec, err)
	}
	return record{Kind: spec.Kind, Arg: arg, Restart: int(spec.Restart), Shutdown: int64(spec.Shutdown),
		Region: spec.Pin.Region, Zone: spec.Pin.Zone, Role: spec.Pin.Role, Tags: spec.Pin.Tags}, nil
}

// marker is the value of a member's marker entry: what it can run.
type marker struct {
	Kinds    []string
	Draining bool `cbor:",omitempty"`
}

// Wire messages of the supervisor's node functions.
type (
	startReq struct {
		ID  string
		Rec record
	}
	startResp struct {
		PID      proc.PID
		Existing bool
	}
	adoptReq struct {
		ID       string
		Rec      record
		Prev     wireRef
		Claim    wireClaim
		State    []byte
		HasState bool
	}
	idReq struct {
		ID string
	}
	wireRef struct {
		Node     string
		Creation uint64
		ID       uint64
	}
	wireClaim struct {
		Wall    int64
		Logical uint32
		First   wireRef
		Gen     uint64
	}
)

func toWireRef(r ownermap.Ref) wireRef {
	return wireRef{Node: r.Node, Creation: r.Creation, ID: r.ID}
}

func (w wireRef) ref() ownermap.Ref {
	return ownermap.Ref{Origin: ownermap.Origin{Node: w.Node, Creation: w.Creation}, ID: w.ID}
}

func toWireClaim(c ownermap.Claim) wireClaim {
	return wireClaim{Wall: c.Stamp.WallNanos, Logical: c.Stamp.Logical, First: toWireRef(c.First), Gen: c.Gen}
}

func (w wireClaim) claim() ownermap.Claim {
	return ownermap.Claim{Stamp: hlc.Timestamp{WallNanos: w.Wall, Logical: w.Logical}, First: w.First.ref(), Gen: w.Gen}
}

// Error codes of this package's sentinels on the wire.
const (
	codeAlreadyStarted uint32 = 122
	codeNotFound       uint32 = 123
	codeUnknownKind    uint32 = 124
	codeDraining       uint32 = 125
	codeDuplicate      uint32 = 126
	codeNoQuorum       uint32 = 127
	codeNoNode         uint32 = 128
)

// RegisterTypes registers what supervisors exchange in a node's codec.
// Call it on every node before the node starts talking.
func RegisterTypes(r *codec.Registry) error {
	if err := names.RegisterTypes(r); err != nil {
		return err
	}
	regs := []error{
		codec.Register[record](r, "grove.distsup.record"),
		codec.Register[marker](r, "grove.distsup.marker"),
		codec.Register[startReq](r, "grove.distsup.start"),
		codec.Register[startResp](r, "grove.distsup.started"),
		codec.Register[adoptReq](r, "grove.distsup.adopt"),
		codec.Register[idReq](r, "grove.distsup.id"),
	}
	for code, err := range map[uint32]error{
		codeAlreadyStarted: ErrAlreadyStarted, codeNotFound: ErrNotFound, codeUnknownKind: ErrUnknownKind,
		codeDraining: ErrDraining, codeDuplicate: ErrDuplicate, codeNoQuorum: ErrNoQuorum, codeNoNode: ErrNoNode,
	} {
		regs = append(regs, r.RegisterError(code, err))
	}
	for _, err := range regs {
		if err != nil && !errors.Is(err, codec.ErrDuplicate) {
			return err
		}
	}
	return nil
}

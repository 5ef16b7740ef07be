package eventsourcing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/entity"
	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/proc"
)

// ClusterHostConfig describes a ClusterHost. Store and Types are required;
// zero fields mean the defaults.
type ClusterHostConfig struct {
	// Store is the event store every node of the cluster shares (the
	// same PostgreSQL schema, say).
	Store eventstore.Store
	// Types decodes the events of results; the same registry as the
	// application's.
	Types *Types
	// Shards is the number of shard processes per kind and node, see
	// entity.Config.Shards. Default 16.
	Shards int
	// Logger receives the regions' reports. Default the runtime's.
	Logger *slog.Logger
}

// Validate reports a configuration that cannot work.
func (c ClusterHostConfig) Validate() error {
	switch {
	case c.Store == nil || c.Types == nil:
		return errors.New("eventsourcing: ClusterHostConfig.Store and Types are required")
	case c.Shards < 0:
		return fmt.Errorf("eventsourcing: %d shards", c.Shards)
	}
	return nil
}

// ClusterHost runs aggregates on the keyed processes of a cluster
// (package entity): each aggregate id on one node at a time, the node its
// key is placed on, started by its first command there and passivated
// after its kind's Lifespan without one. Commands are routed from any
// node. Every node of the application creates one and routes the same
// kinds (App.Route adds a kind to the host).
//
// Commands cross the network in the node's codec: register every command
// type (codec.Register) on every node, and the sentinel errors aggregates
// refuse commands with (codec.RegisterError), so that errors.Is works on
// the caller's node; RegisterTypes registers the host's own messages and
// the sentinels of this package and of package eventstore.
//
// When the node hosting an aggregate dies or cannot be reached during a
// command, the host calls again, with the same command id, until the
// key's new node answers or the dispatch's context ends: an aggregate that
// applied the command before its node died answers from its events (see
// Kind.RememberCommands) instead of applying it twice. If the context ends
// first, the error is an *OutcomeUnknownError.
//
// While two nodes disagree on the members (for the time a change takes to
// spread, or during a partition), two of them may each run an instance of
// one aggregate. Both append expecting the version they hold, so one of
// any two conflicting appends fails and is decided again on the newer
// state: the stream stays consistent, and a command is still applied once.
//
// Execute may be called from any goroutine concurrently.
type ClusterHost struct {
	cl  *cluster.Cluster
	cfg ClusterHostConfig

	mu struct {
		sync.Mutex
		kinds  map[string]*entity.Region
		closed bool
	}
}

var _ Host = (*ClusterHost)(nil)

// NewClusterHost returns a host on c. Kinds are added by App.Route (or
// AddKind) and their regions stopped by Close.
func NewClusterHost(c *cluster.Cluster, cfg ClusterHostConfig) (*ClusterHost, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &ClusterHost{cl: c, cfg: cfg}
	h.mu.kinds = map[string]*entity.Region{}
	return h, nil
}

// AddKind starts this node's region of kind k (entity kind
// "aggregate.<name>"). Adding a kind again does nothing.
func (h *ClusterHost) AddKind(k Kind) error {
	if err := k.Validate(); err != nil {
		return err
	}
	k = k.withDefaults()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		return entity.ErrClosed
	}
	if h.mu.kinds[k.Name] != nil {
		return nil
	}
	nd := h.cl.Node()
	r, err := entity.Start(h.cl, entity.Config{
		Kind:        "aggregate." + k.Name,
		IdleTimeout: k.Lifespan,
		Shards:      h.cfg.Shards,
		Logger:      h.cfg.Logger,
		New: func(id string) (proc.Behavior, error) {
			return &aggregateProc{store: h.cfg.Store, types: h.cfg.Types, kind: k, id: id, decode: nd.Codec().Decode}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("eventsourcing: kind %s: %w", k.Name, err)
	}
	h.mu.kinds[k.Name] = r
	return nil
}

func (h *ClusterHost) region(kind string) (*entity.Region, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		return nil, entity.ErrClosed
	}
	r := h.mu.kinds[kind]
	if r == nil {
		return nil, fmt.Errorf("%w: kind %s was not added to the host", ErrNoRoute, kind)
	}
	return r, nil
}

// Owner returns the node that runs aggregate id of kind, as this node sees
// the members.
func (h *ClusterHost) Owner(kind, id string) (string, error) {
	r, err := h.region(kind)
	if err != nil {
		return "", err
	}
	return r.Owner(id)
}

// Stats returns the counters of this node's region of kind (activations,
// passivations, moves), nil for a kind not added.
func (h *ClusterHost) Stats(kind string) *entity.Stats {
	r, err := h.region(kind)
	if err != nil {
		return nil
	}
	return r.Stats()
}

// Close stops this node's regions and their aggregates. It is idempotent.
func (h *ClusterHost) Close() error {
	h.mu.Lock()
	if h.mu.closed {
		h.mu.Unlock()
		return nil
	}
	h.mu.closed = true
	regions := h.mu.kinds
	h.mu.Unlock()
	var errs []error
	for _, r := range regions {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}

// Messages of the host, registered by RegisterTypes.
type (
	// executeCall is a command for an aggregate, in the node's codec.
	executeCall struct {
		Cmd       []byte
		Meta      map[string]string
		WantState bool
	}
	// executeReply is a command's result: events and state as the
	// application's Types encode them.
	executeReply struct {
		Events   []wireEvent
		Version  uint64
		Position uint64
		State    []byte
	}
	wireEvent struct {
		Type string
		Data []byte
	}
)

// Error codes of this package's and package eventstore's sentinels on the
// wire.
const (
	codeOutcomeUnknown uint32 = 160 + iota
	codeNoRoute
	codeNoIdentity
	codeUnknownType
	codeUnknownHandler
	codeWrongExpectedVersion
	codeStreamNotFound
	codeStreamDeleted
	codeSnapshotNotFound
	codeInvalid
	codeStoreClosed
	codeCorrupt
	codeLeaseLost
)

// RegisterTypes registers what ClusterHosts exchange in a node's codec
// (and what keyed processes need, entity.RegisterTypes), with the
// sentinel errors of this package and of package eventstore. Call it on
// every node before the node starts.
func RegisterTypes(r *codec.Registry) error {
	if err := entity.RegisterTypes(r); err != nil {
		return err
	}
	regs := []error{
		codec.Register[executeCall](r, "grove.es.execute"),
		codec.Register[executeReply](r, "grove.es.executed"),
	}
	for code, err := range map[uint32]error{
		codeOutcomeUnknown: ErrOutcomeUnknown, codeNoRoute: ErrNoRoute, codeNoIdentity: ErrNoIdentity,
		codeUnknownType: ErrUnknownType, codeUnknownHandler: ErrUnknownHandler,
		codeWrongExpectedVersion: eventstore.ErrWrongExpectedVersion, codeStreamNotFound: eventstore.ErrStreamNotFound,
		codeStreamDeleted: eventstore.ErrStreamDeleted, codeSnapshotNotFound: eventstore.ErrSnapshotNotFound,
		codeInvalid: eventstore.ErrInvalid, codeStoreClosed: eventstore.ErrClosed, codeCorrupt: eventstore.ErrCorrupt,
		codeLeaseLost: eventstore.ErrLeaseLost,
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

// Execute implements Host: it calls the aggregate's keyed process on the
// node its id is placed on, and calls again while that node cannot be
// reached or dies during the call (see ClusterHost).
func (h *ClusterHost) Execute(ctx context.Context, k Kind, id string, cmd any, meta Metadata, wantState bool) (Result, error) {
	r, err := h.region(k.Name)
	if err != nil {
		return Result{}, err
	}
	b, err := h.cl.Node().Codec().Encode(cmd)
	if err != nil {
		return Result{}, fmt.Errorf("eventsourcing: command %T: %w", cmd, err)
	}
	call := executeCall{Cmd: b, Meta: meta, WantState: wantState}
	ref := r.Entity(id)
	sent := false // a call may have reached the aggregate
	wait := 10 * time.Millisecond
	for {
		rep, err := entity.Call[executeReply](ctx, ref, call)
		if err == nil {
			return decodeReply(h.cfg.Types, k, id, rep)
		}
		if ctx.Err() != nil {
			if sent || errors.Is(err, ctx.Err()) {
				return Result{}, &OutcomeUnknownError{Stream: k.Stream(id), Err: err}
			}
			return Result{}, err
		}
		if !retryable(err) {
			return Result{}, err
		}
		sent = sent || !errors.Is(err, entity.ErrNoNode)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return Result{}, &OutcomeUnknownError{Stream: k.Stream(id), Err: err}
		case <-t.C:
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// retryable tells the errors of a call whose aggregate was not reached or
// went away: its node unreachable, dead or shutting down, the region not
// running there yet, no node running the kind.
func retryable(err error) bool {
	var exit *proc.ExitError
	var shut proc.ShutdownError
	return errors.Is(err, proc.ErrNoConnection) || errors.Is(err, proc.ErrNoProc) ||
		errors.Is(err, proc.ErrNotAlive) || errors.Is(err, proc.ErrNotRegistered) ||
		errors.Is(err, proc.ErrShutdown) || errors.As(err, &shut) || errors.As(err, &exit) ||
		errors.Is(err, entity.ErrNoNode) || errors.Is(err, context.DeadlineExceeded)
}

// encodeReply turns a result into its wire form.
func encodeReply(types *Types, res Result) (executeReply, error) {
	rep := executeReply{Version: res.Version, Position: res.Position}
	for _, ev := range res.Events {
		d, err := types.Encode(ev, nil)
		if err != nil {
			return executeReply{}, err
		}
		rep.Events = append(rep.Events, wireEvent{Type: d.Type, Data: d.Data})
	}
	if res.Aggregate != nil {
		b, err := json.Marshal(res.Aggregate)
		if err != nil {
			return executeReply{}, fmt.Errorf("eventsourcing: state: %w", err)
		}
		rep.State = b
	}
	return rep, nil
}

func decodeReply(types *Types, k Kind, id string, rep executeReply) (Result, error) {
	res := Result{Version: rep.Version, Position: rep.Position}
	for _, w := range rep.Events {
		ev, err := types.Decode(eventstore.RecordedEvent{Type: w.Type, Data: w.Data, StreamID: k.Stream(id)})
		if err != nil {
			return Result{}, err
		}
		res.Events = append(res.Events, ev.Data)
	}
	if rep.State != nil {
		agg := k.New(id)
		if err := json.Unmarshal(rep.State, agg); err != nil {
			return Result{}, fmt.Errorf("eventsourcing: state of %s: %w", k.Stream(id), err)
		}
		res.Aggregate = agg
	}
	return res, nil
}

// wireError makes an error fit to cross the wire: an unknown outcome
// matches ErrOutcomeUnknown only (the codec names an error by the first
// registered sentinel it matches, and the cause may match an earlier one,
// such as context.DeadlineExceeded).
func wireError(err error) error {
	if errors.Is(err, ErrOutcomeUnknown) {
		return unknownOutcome{msg: err.Error()}
	}
	return err
}

type unknownOutcome struct{ msg string }

func (e unknownOutcome) Error() string        { return e.msg }
func (e unknownOutcome) Is(target error) bool { return target == ErrOutcomeUnknown }

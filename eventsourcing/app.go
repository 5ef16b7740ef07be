package eventsourcing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/proc"
)

// Errors of the application.
var (
	// ErrNoRoute: no route for the command's type.
	ErrNoRoute = errors.New("eventsourcing: no route for command")
	// ErrNoIdentity: the route's identity function gave an empty id.
	ErrNoIdentity = errors.New("eventsourcing: command has no aggregate identity")
	// ErrUnknownHandler: strong consistency named a handler the
	// application does not know.
	ErrUnknownHandler = errors.New("eventsourcing: unknown handler")
)

// Config describes an application. Store and Types are required.
type Config struct {
	Store eventstore.Store
	Types *Types
	// Runtime runs the aggregates' processes (LocalHost) and the process
	// managers. Required unless Host is set.
	Runtime *proc.Runtime
	// Host runs the aggregates. Default a LocalHost on Runtime; a
	// ClusterHost runs each on one node of a cluster.
	Host Host
	// Middleware wraps every dispatch, first outermost.
	Middleware []Middleware
	// Logger receives handler failures. Default slog.Default().
	Logger *slog.Logger
}

// App routes commands to aggregates and runs event handlers: Commanded's
// application. Safe for concurrent use.
type App struct {
	cfg      Config
	host     Host
	dispatch DispatchFunc

	mu struct {
		sync.RWMutex
		routes   map[reflect.Type]route
		handlers map[string]*Handler
	}
}

type route struct {
	kind     Kind
	identity func(cmd any) string
}

// New returns an application.
func New(cfg Config) (*App, error) {
	if cfg.Store == nil || cfg.Types == nil {
		return nil, errors.New("eventsourcing: Config.Store and Config.Types are required")
	}
	if cfg.Host == nil {
		if cfg.Runtime == nil {
			return nil, errors.New("eventsourcing: Config.Runtime or Config.Host is required")
		}
		cfg.Host = NewLocalHost(cfg.Runtime, cfg.Store, cfg.Types)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &App{cfg: cfg, host: cfg.Host}
	a.mu.routes = map[reflect.Type]route{}
	a.mu.handlers = map[string]*Handler{}
	d := a.execute
	for i := len(cfg.Middleware) - 1; i >= 0; i-- {
		d = cfg.Middleware[i](d)
	}
	a.dispatch = d
	return a, nil
}

// Store returns the application's event store.
func (a *App) Store() eventstore.Store { return a.cfg.Store }

// Types returns the application's type registry.
func (a *App) Types() *Types { return a.cfg.Types }

// Route sends commands of type C to the aggregate of kind k whose id
// identity returns. Routing a type twice replaces the route.
func Route[C any](a *App, k Kind, identity func(C) string) error {
	if err := k.Validate(); err != nil {
		return err
	}
	k = k.withDefaults()
	if h, ok := a.host.(interface{ AddKind(Kind) error }); ok {
		if err := h.AddKind(k); err != nil {
			return err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mu.routes[reflect.TypeFor[C]()] = route{kind: k, identity: func(cmd any) string { return identity(cmd.(C)) }}
	return nil
}

// Consistency of a dispatch.
type Consistency int

const (
	// Eventual returns once the events are stored (the default).
	Eventual Consistency = iota
	// Strong also waits until the named handlers have handled them.
	Strong
)

// Command is a dispatch in flight, as middleware sees it.
type Command struct {
	Command     any
	Metadata    Metadata
	Consistency Consistency
	Handlers    []string // for Strong: the handlers to wait for (empty: all strong ones)
	WantState   bool
	Timeout     time.Duration
}

// Result is what a dispatch returns.
type Result struct {
	Events    []any     // the events the command caused
	Version   uint64    // the aggregate's version after them
	Position  uint64    // the global position of the last one (0 if none)
	Aggregate Aggregate // a copy of the state, with ReturnState
}

// DispatchFunc dispatches a command.
type DispatchFunc func(ctx context.Context, c *Command) (Result, error)

// Middleware wraps dispatch: it may change the command or its metadata,
// refuse it, time it, log it or retry it.
type Middleware func(next DispatchFunc) DispatchFunc

// Option tunes one dispatch.
type Option func(*Command)

// WithConsistency waits for the named handlers (all handlers started with
// Strong when none are named) before returning.
func WithConsistency(c Consistency, handlers ...string) Option {
	return func(cmd *Command) { cmd.Consistency, cmd.Handlers = c, handlers }
}

// WithMetadata adds metadata to the command and its events.
func WithMetadata(m Metadata) Option {
	return func(c *Command) {
		for k, v := range m {
			c.Metadata[k] = v
		}
	}
}

// ReturnState returns a copy of the aggregate's state in the Result.
func ReturnState() Option { return func(c *Command) { c.WantState = true } }

// WithTimeout bounds the dispatch (default 30 s, or ctx's deadline).
func WithTimeout(d time.Duration) Option { return func(c *Command) { c.Timeout = d } }

// Dispatch routes cmd to its aggregate, which decides and stores its
// events; it returns once they are stored (or, with Strong consistency,
// handled).
func (a *App) Dispatch(ctx context.Context, cmd any, opts ...Option) (Result, error) {
	c := &Command{Command: cmd, Metadata: Metadata{}, Timeout: 30 * time.Second}
	for _, o := range opts {
		o(c)
	}
	if c.Metadata[MetaCommandID] == "" {
		c.Metadata[MetaCommandID] = eventstore.NewID()
	}
	if c.Metadata[MetaCorrelationID] == "" {
		c.Metadata[MetaCorrelationID] = c.Metadata[MetaCommandID]
	}
	if c.Metadata[MetaCausationID] == "" {
		c.Metadata[MetaCausationID] = c.Metadata[MetaCommandID]
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	return a.dispatch(ctx, c)
}

func (a *App) execute(ctx context.Context, c *Command) (Result, error) {
	a.mu.RLock()
	r, ok := a.mu.routes[reflect.TypeOf(c.Command)]
	a.mu.RUnlock()
	if !ok {
		return Result{}, fmt.Errorf("%w: %T", ErrNoRoute, c.Command)
	}
	id := r.identity(c.Command)
	if id == "" {
		return Result{}, fmt.Errorf("%w: %T", ErrNoIdentity, c.Command)
	}
	res, err := a.host.Execute(ctx, r.kind, id, c.Command, c.Metadata, c.WantState)
	if err != nil || c.Consistency != Strong || res.Position == 0 {
		return res, err
	}
	return res, a.WaitFor(ctx, res.Position, c.Handlers...)
}

// WaitFor blocks until the named handlers (all handlers started with
// Strong when none are named) have handled every event up to pos. A
// handler running in this application is watched directly; one known only
// by name (running on another node) through its checkpoint in the store.
func (a *App) WaitFor(ctx context.Context, pos uint64, handlers ...string) error {
	a.mu.RLock()
	var wait []*Handler
	var remote []string
	if len(handlers) == 0 {
		for _, h := range a.mu.handlers {
			if h.cfg.Strong {
				wait = append(wait, h)
			}
		}
	}
	for _, name := range handlers {
		if h, ok := a.mu.handlers[name]; ok {
			wait = append(wait, h)
		} else {
			remote = append(remote, name)
		}
	}
	a.mu.RUnlock()
	for _, h := range wait {
		if err := h.waitFor(ctx, pos); err != nil {
			return err
		}
	}
	if len(remote) == 0 {
		return nil
	}
	for _, name := range remote {
		if err := a.waitCheckpoint(ctx, name, pos); err != nil {
			return err
		}
	}
	return nil
}

// waitCheckpoint polls the named handler's checkpoint until it reaches pos.
func (a *App) waitCheckpoint(ctx context.Context, name string, pos uint64) error {
	cp, ok := a.cfg.Store.(eventstore.Checkpoints)
	if !ok {
		return fmt.Errorf("%w: %s (and the store keeps no checkpoints)", ErrUnknownHandler, name)
	}
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		p, _, err := cp.LoadCheckpoint(ctx, handlerCheckpoint(name))
		if err != nil {
			return err
		}
		if p >= pos {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// AggregateAt rebuilds aggregate id of the kind that commands of type C are
// routed to, as it was at version (eventstore.End: now), from its events:
// time travel for debugging and audits. It does not touch the running
// instance.
func (a *App) AggregateAt(ctx context.Context, k Kind, id string, version uint64) (Aggregate, uint64, error) {
	if err := k.Validate(); err != nil {
		return nil, 0, err
	}
	in, err := load(ctx, a.cfg.Store, a.cfg.Types, k, id, version)
	if err != nil {
		return nil, 0, err
	}
	return in.agg, in.version, nil
}

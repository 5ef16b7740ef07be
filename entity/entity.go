package entity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/internal/ownermap"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/placement"
	"github.com/grovedev/grove/proc"
)

// Config describes a kind of keyed process. Kind and New are required;
// zero fields mean the defaults.
type Config struct {
	// Kind names the kind; the regions of one kind on every node serve
	// its keys together.
	Kind string
	// New builds the process of a key, on its first message.
	New func(key string) (proc.Behavior, error)
	// IdleTimeout passivates (stops) an entity that received nothing for
	// that long. Default 2 min; negative keeps entities until their node
	// stops or the key moves.
	IdleTimeout time.Duration
	// Shards is the number of shard processes per node that route the
	// messages of the kind; keys are spread over them by hash. Default 16.
	Shards int
	// Placement picks a key's node among the members that run the kind
	// (and match Pin); loads are not shared for entities, so strategies
	// see zero loads: the default, placement.BoundedLoad, is then
	// rendezvous hashing.
	Placement placement.Strategy
	// Pin restricts the kind to nodes whose metadata match.
	Pin placement.Pinned
	// MaxHops bounds how often a message is forwarded between nodes that
	// disagree on its key's node before one of them takes it. Default 2.
	MaxHops int
	// Logger receives the region's reports. Default the runtime's.
	Logger *slog.Logger
}

// Validate reports whether c can be used.
func (c Config) Validate() error {
	switch {
	case c.Kind == "" || len(c.Kind) > 100 || strings.ContainsAny(c.Kind, "\x00/"):
		return fmt.Errorf("entity: kind %q", c.Kind)
	case c.New == nil:
		return errors.New("entity: New is required")
	case c.Shards < 0 || c.Shards > 1024:
		return fmt.Errorf("entity: %d shards", c.Shards)
	case c.MaxHops < 0:
		return errors.New("entity: negative MaxHops")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.Shards == 0 {
		c.Shards = 16
	}
	if c.Placement == nil {
		c.Placement = placement.BoundedLoad{}
	}
	if c.MaxHops == 0 {
		c.MaxHops = 2
	}
	return c
}

// Errors.
var (
	// ErrNoNode is returned when no member runs the kind.
	ErrNoNode = errors.New("entity: no node runs the kind")
	// ErrClosed is returned by a closed region.
	ErrClosed = errors.New("entity: region closed")
	// ErrInvalidKey is returned for an empty key or one over MaxKeyLen.
	ErrInvalidKey = errors.New("entity: invalid key")
)

// MaxKeyLen bounds a key.
const MaxKeyLen = 1024

// Region is one node's part of a kind: it routes messages for the kind's
// keys to their nodes, and runs the entities of the keys placed here.
type Region struct {
	cfg    Config
	cl     *cluster.Cluster
	nd     *node.Node
	rt     *proc.Runtime
	log    *slog.Logger
	m      *ownermap.Map // the members that run the kind
	shards []proc.PID
	prefix string
	closed atomic.Bool
	// started is set once Start has set the region up: the member map's
	// change hook may run before (it reads r.m and r.shards), and Start
	// reads the members itself at the end.
	started atomic.Bool
	stats   Stats
	member  bool   // this node runs entities of the kind (matches Pin)
	unsub   func() // membership subscription
	wg      sync.WaitGroup

	mu      sync.RWMutex
	members []placement.Candidate // live members running the kind, sorted
}

// Stats counts what a region did. Fields are atomic.
type Stats struct {
	Activated, Passivated, Forwarded, Moved atomic.Uint64
}

// Start starts this node's region of cfg.Kind. Every node that runs
// entities of the kind starts one, after RegisterTypes on its codec;
// nodes that only send to the kind start one too (they run none of its
// entities when Pin excludes them).
func Start(c *cluster.Cluster, cfg Config) (*Region, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	nd := c.Node()
	if err := RegisterTypes(nd.Codec()); err != nil {
		return nil, err
	}
	r := &Region{cfg: cfg, cl: c, nd: nd, rt: nd.Runtime(), prefix: "grove.entity." + cfg.Kind + "."}
	r.log = cfg.Logger
	if r.log == nil {
		r.log = r.rt.Logger()
	}
	r.log = r.log.With(slog.String("kind", cfg.Kind))
	m, err := ownermap.Start(c, ownermap.Config{Name: "entity." + cfg.Kind, Unique: true},
		ownermap.Hooks{Changed: r.membersChanged})
	if err != nil {
		return nil, fmt.Errorf("entity: %w", err)
	}
	r.m = m
	for i := range cfg.Shards {
		pid, err := r.rt.Spawn(&shard{r: r, active: map[string]*active{}}, proc.WithName(r.prefix+strconv.Itoa(i)))
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("entity: %w", err)
		}
		r.shards = append(r.shards, pid)
	}
	host := r.shards[0]
	if r.member = cfg.Pin.Matches(c.LocalMember().Meta); r.member {
		if _, err := m.Put(nd.Name(), host, nil); err != nil {
			r.Close()
			return nil, fmt.Errorf("entity: %w", err)
		}
	}
	r.started.Store(true)
	r.membersChanged()
	r.unsub = c.Subscribe(func(cluster.Event) { r.membersChanged() })
	return r, nil
}

// RegisterTypes registers what regions exchange in a node's codec.
func RegisterTypes(r *codec.Registry) error {
	if err := ownermap.RegisterTypes(r); err != nil && !errors.Is(err, codec.ErrDuplicate) {
		return err
	}
	for _, err := range []error{
		codec.Register[wireMsg](r, "grove.entity.msg"),
		codec.Register[wireCall](r, "grove.entity.call"),
	} {
		if err != nil && !errors.Is(err, codec.ErrDuplicate) {
			return err
		}
	}
	return nil
}

// Kind returns the region's kind.
func (r *Region) Kind() string { return r.cfg.Kind }

// Stats returns the region's counters.
func (r *Region) Stats() *Stats { return &r.stats }

// Close stops the region: its entities stop, and the other members route
// the keys elsewhere once they see it gone. Close is idempotent.
func (r *Region) Close() error {
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	if r.unsub != nil {
		r.unsub()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, pid := range r.shards {
		_ = r.rt.Stop(ctx, pid, proc.ErrShutdown)
	}
	err := r.m.Close()
	r.wg.Wait()
	return err
}

// membersChanged reads the members that run the kind, and tells the
// shards to move the entities this node no longer owns.
func (r *Region) membersChanged() {
	if !r.started.Load() {
		return
	}
	var ms []placement.Candidate
	r.m.Range(func(e ownermap.Entry) bool {
		name := e.Ref.Node
		if mb, ok := r.cl.Member(name); ok && (mb.State == cluster.StateAlive || mb.State == cluster.StateSuspect) {
			ms = append(ms, placement.Candidate{Name: name, Meta: mb.Meta})
		}
		return true
	})
	slices.SortFunc(ms, func(a, b placement.Candidate) int { return strings.Compare(a.Name, b.Name) })
	r.mu.Lock()
	changed := !slices.EqualFunc(ms, r.members, func(a, b placement.Candidate) bool { return a.Name == b.Name })
	r.members = ms
	r.mu.Unlock()
	if changed && !r.closed.Load() {
		for _, pid := range r.shards {
			_ = r.rt.Send(pid, rebalance{})
		}
	}
}

// Owner returns the node that runs key, as this node sees it.
func (r *Region) Owner(key string) (string, error) {
	r.mu.RLock()
	ms := r.members
	r.mu.RUnlock()
	if len(ms) == 0 {
		return "", fmt.Errorf("%w: %q", ErrNoNode, r.cfg.Kind)
	}
	n, err := r.cfg.Placement.Place(key, ms)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrNoNode, r.cfg.Kind, err)
	}
	return n, nil
}

// shardName is the registered name of shard i of the kind.
func (r *Region) shardName(key string) string {
	// The shard index must be the same on every node: hash with a fixed
	// function, not the process's random seed.
	return r.prefix + strconv.Itoa(int(placement.Weight(key, "")%uint64(r.cfg.Shards)))
}

func checkKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes", ErrInvalidKey, len(key))
	}
	return nil
}

// Ref is the address of the entity of one key: Entity(key).
type Ref struct {
	r   *Region
	key string
}

// Entity returns the address of key's entity; the entity is started on
// its node by the first message sent to it.
func (r *Region) Entity(key string) Ref { return Ref{r: r, key: key} }

// Key returns the entity's key.
func (e Ref) Key() string { return e.key }

// Send delivers msg to the entity's HandleInfo.
func (e Ref) Send(msg any) error { return e.r.send(e.key, msg, false) }

// Cast delivers msg to the entity's HandleCast.
func (e Ref) Cast(msg any) error { return e.r.send(e.key, msg, true) }

// Call calls the entity and waits for its answer.
func (e Ref) Call(ctx context.Context, req any) (any, error) { return e.r.call(ctx, e.key, req) }

// Call is Ref.Call with a typed answer.
func Call[R any](ctx context.Context, e Ref, req any) (R, error) {
	var zero R
	v, err := e.Call(ctx, req)
	if err != nil {
		return zero, err
	}
	out, ok := v.(R)
	if !ok && v != nil {
		return zero, fmt.Errorf("entity: answer of type %T, want %T", v, zero)
	}
	return out, nil
}

// Messages between regions and shards. Local ones carry the message as
// is; those for another node carry it encoded with the node's codec.
type (
	localMsg struct {
		key  string
		msg  any
		cast bool
		hops int
	}
	localCall struct {
		key  string
		req  any
		hops int
	}
	wireMsg struct {
		Key  string
		Msg  []byte
		Cast bool
		Hops int
	}
	wireCall struct {
		Key  string
		Req  []byte
		Hops int
	}
)

func (r *Region) send(key string, msg any, cast bool) error {
	if r.closed.Load() {
		return ErrClosed
	}
	if err := checkKey(key); err != nil {
		return err
	}
	return r.route(localMsg{key: key, msg: msg, cast: cast})
}

// route sends a message to the shard of its key on the key's node.
func (r *Region) route(m localMsg) error {
	owner, err := r.Owner(m.key)
	if err != nil {
		return err
	}
	name := r.shardName(m.key)
	if owner == r.nd.Name() {
		return r.rt.Cast(proc.Name(name), m)
	}
	b, err := r.nd.Codec().Encode(m.msg)
	if err != nil {
		return fmt.Errorf("entity: %w", err)
	}
	return r.rt.Cast(proc.NodeName{Node: owner, Name: name}, wireMsg{Key: m.key, Msg: b, Cast: m.cast, Hops: m.hops})
}

func (r *Region) call(ctx context.Context, key string, req any) (any, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	owner, err := r.Owner(key)
	if err != nil {
		return nil, err
	}
	name := r.shardName(key)
	if owner == r.nd.Name() {
		return r.rt.CallTo(ctx, proc.Name(name), localCall{key: key, req: req})
	}
	b, err := r.nd.Codec().Encode(req)
	if err != nil {
		return nil, fmt.Errorf("entity: %w", err)
	}
	return r.rt.CallTo(ctx, proc.NodeName{Node: owner, Name: name}, wireCall{Key: key, Req: b})
}

package distsup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/internal/ownermap"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/placement"
	"github.com/grovedev/grove/proc"
)

// Config tunes a Supervisor. Zero fields mean the defaults.
type Config struct {
	// Name tells supervisors apart: the supervisors of one name on every
	// node form one distributed supervisor. Default "default".
	Name string
	// Placement picks the node of a new or orphaned child among the
	// members that run this supervisor, have registered the child's kind,
	// are not draining and match its Pin. Default placement.BoundedLoad{}.
	Placement placement.Strategy
	// Interval is the sync interval of the child table (changes are also
	// sent at once). Default 100 ms.
	Interval time.Duration
	// MaxRestarts and Period bound the local restarts of one child: a
	// child that exits more than MaxRestarts times within Period is
	// given up (removed, logged). Defaults 3 and 5 s, as OTP.
	MaxRestarts int
	Period      time.Duration
	// Rebalance, when Interval is set, moves up to PerRound children per
	// round and node, with a handoff, from nodes above the mean load to
	// nodes below it (after nodes joined); Placement picks the node among
	// those below the mean. Off by default.
	Rebalance Rebalance
	// Quorum, when set, keeps at most one copy of each child running
	// anywhere, at the cost of availability (see Quorum).
	Quorum *Quorum
	// DownRetention is how long the children of a dead node are kept for
	// failover when no node can take them yet. Default 5 min.
	DownRetention time.Duration
	// Logger receives the supervisor's reports. Default the runtime's.
	Logger *slog.Logger
}

// Rebalance tunes the optional rebalancing of children after joins.
type Rebalance struct {
	Interval time.Duration
	PerRound int // default 10
}

// Validate reports whether c can be used.
func (c Config) Validate() error {
	switch {
	case len(c.Name) > 100 || strings.ContainsRune(c.Name, 0):
		return fmt.Errorf("distsup: bad name %q", c.Name)
	case c.Interval < 0 || c.Period < 0 || c.DownRetention < 0 || c.Rebalance.Interval < 0:
		return errors.New("distsup: negative duration")
	case c.MaxRestarts < 0 || c.Rebalance.PerRound < 0:
		return errors.New("distsup: negative count")
	}
	if c.Quorum != nil {
		return c.Quorum.validate()
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "default"
	}
	if c.Placement == nil {
		c.Placement = placement.BoundedLoad{}
	}
	if c.MaxRestarts == 0 {
		c.MaxRestarts = 3
	}
	if c.Period == 0 {
		c.Period = 5 * time.Second
	}
	if c.Rebalance.PerRound == 0 {
		c.Rebalance.PerRound = 10
	}
	if c.Quorum != nil {
		q := c.Quorum.withDefaults()
		c.Quorum = &q
	}
	return c
}

// Supervisor is one node's part of a distributed dynamic supervisor. See
// the package documentation.
type Supervisor struct {
	cfg  Config
	cl   *cluster.Cluster
	nd   *node.Node
	rt   *proc.Runtime
	log  *slog.Logger
	m    *ownermap.Map
	host atomic.Pointer[proc.PID] // set once the host process runs
	fn   string                   // prefix of the node functions

	kmu   sync.RWMutex
	kinds map[string]StartFunc

	lmu   sync.Mutex
	loads map[string]int // visible children per node

	reconcileQ atomic.Bool
	draining   atomic.Bool
	closed     atomic.Bool
	quorum     *quorumState // nil unless in quorum mode
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	stats      Stats
}

// Stats counts what a supervisor did on its node. Fields are atomic.
type Stats struct {
	Started, Restarted, Adopted, HandedOff, Received, GivenUp, Duplicates, QuorumStops atomic.Uint64
}

// Start starts the supervisor cfg.Name on the node of c. Every node that
// takes part runs Start with the same name, after RegisterTypes on its
// codec, and registers the kinds it can run.
func Start(c *cluster.Cluster, cfg Config) (*Supervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	nd := c.Node()
	if err := RegisterTypes(nd.Codec()); err != nil {
		return nil, err
	}
	s := &Supervisor{cfg: cfg, cl: c, nd: nd, rt: nd.Runtime(), kinds: map[string]StartFunc{}, loads: map[string]int{},
		fn: "grove.distsup." + cfg.Name + "."}
	s.log = cfg.Logger
	if s.log == nil {
		s.log = s.rt.Logger()
	}
	s.log = s.log.With(slog.String("supervisor", cfg.Name))
	s.ctx, s.cancel = context.WithCancel(context.Background())
	m, err := ownermap.Start(c, ownermap.Config{
		Name: "distsup." + cfg.Name, Unique: true, Interval: cfg.Interval, DownRetention: cfg.DownRetention, Logger: cfg.Logger,
	}, ownermap.Hooks{Events: s.events, Conflict: s.conflict, Changed: s.changed})
	if err != nil {
		return nil, fmt.Errorf("distsup: %w", err)
	}
	s.m = m
	if cfg.Quorum != nil {
		s.quorum = newQuorumState(s)
	}
	h := &hostProc{s: s, children: map[string]*local{}, plans: map[string]plan{}}
	hpid, err := s.rt.Spawn(h, proc.WithName("grove.distsup."+cfg.Name))
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("distsup: %w", err)
	}
	s.host.Store(&hpid)
	for op, f := range map[string]node.Func{"start": s.rpcStart, "adopt": s.rpcAdopt, "terminate": s.rpcTerminate, "restart": s.rpcRestart} {
		if err := nd.Register(s.fn+op, f); err != nil {
			s.Close()
			return nil, err
		}
	}
	if cfg.Rebalance.Interval > 0 {
		s.goFunc(s.rebalanceLoop)
	}
	if s.quorum != nil {
		s.goFunc(s.quorum.loop)
	}
	return s, nil
}

// hostPID returns the host process, zero before it runs.
func (s *Supervisor) hostPID() proc.PID {
	if p := s.host.Load(); p != nil {
		return *p
	}
	return proc.PID{}
}

// Name returns the supervisor's name.
func (s *Supervisor) Name() string { return s.cfg.Name }

// Stats returns the supervisor's counters.
func (s *Supervisor) Stats() *Stats { return &s.stats }

// Register makes children of kind startable on this node. Register every
// kind on every node that may run it, before children of it are placed
// there; the other members learn at once which kinds this node runs.
func (s *Supervisor) Register(kind string, start StartFunc) error {
	if kind == "" || start == nil {
		return fmt.Errorf("%w: kind %q", ErrInvalidSpec, kind)
	}
	s.kmu.Lock()
	s.kinds[kind] = start
	s.kmu.Unlock()
	_, err := s.callHost(context.Background(), updateMarker{})
	return err
}

func (s *Supervisor) kind(k string) (StartFunc, bool) {
	s.kmu.RLock()
	defer s.kmu.RUnlock()
	f, ok := s.kinds[k]
	return f, ok
}

func (s *Supervisor) kindNames() []string {
	s.kmu.RLock()
	defer s.kmu.RUnlock()
	out := make([]string, 0, len(s.kinds))
	for k := range s.kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Close stops the supervisor on this node: its children are stopped
// (killed), its part of the table stops being served. The other members
// restart the children elsewhere once membership declares this node dead
// or departed; to move them first, with their state, call Drain. Close is
// idempotent.
func (s *Supervisor) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.cancel()
	for _, op := range []string{"start", "adopt", "terminate", "restart"} {
		s.nd.Register(s.fn+op, func(context.Context, any) (any, error) { return nil, ErrClosed })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !s.hostPID().IsZero() {
		_, _ = s.callHost(ctx, shutdownHost{})
		_ = s.rt.Stop(ctx, s.hostPID(), proc.ErrShutdown)
	}
	s.wg.Wait()
	return s.m.Close()
}

func (s *Supervisor) callHost(ctx context.Context, req any) (any, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	return s.rt.Call(ctx, s.hostPID(), req)
}

// goFunc runs f on a goroutine the supervisor waits for on Close.
func (s *Supervisor) goFunc(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// events keeps the per-node loads up to date.
func (s *Supervisor) events(evs []ownermap.Event) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	for _, e := range evs {
		if strings.HasPrefix(e.Entry.Key, markerPrefix) {
			continue
		}
		// By the node whose record it is: a child that is starting has no
		// PID yet.
		n := e.Entry.Ref.Node
		switch e.Kind {
		case ownermap.Added:
			s.loads[n]++
		case ownermap.Removed:
			if s.loads[n]--; s.loads[n] <= 0 {
				delete(s.loads, n)
			}
		}
	}
}

// changed asks the host to look for orphans.
func (s *Supervisor) changed() {
	if s.reconcileQ.CompareAndSwap(false, true) {
		if s.rt.Send(s.hostPID(), reconcileMsg{}) != nil {
			s.reconcileQ.Store(false)
		}
	}
}

func (s *Supervisor) conflict(c ownermap.Conflict) {
	if !c.LocalWon {
		_ = s.rt.Send(s.hostPID(), lostConflict{c: c})
	}
}

// entry returns the visible entry of a child ID.
func (s *Supervisor) entry(id string) (ownermap.Entry, bool) {
	es := s.m.Lookup(id)
	if len(es) == 0 {
		return ownermap.Entry{}, false
	}
	return es[0], true
}

// WhereIs returns the PID of the child id, as this node sees it.
func (s *Supervisor) WhereIs(key any) (proc.PID, bool) {
	id, ok := key.(string)
	if !ok {
		return proc.PID{}, false
	}
	e, ok := s.entry(id)
	if !ok || e.PID.IsZero() {
		return proc.PID{}, false
	}
	return e.PID, true
}

// Resolve is WhereIs with an error for proc.Via.
func (s *Supervisor) Resolve(key any) (proc.PID, error) {
	if pid, ok := s.WhereIs(key); ok {
		return pid, nil
	}
	return proc.PID{}, fmt.Errorf("%w: child %v", proc.ErrNotRegistered, key)
}

// Via returns a destination for the child id, usable wherever a PID is:
// it follows the child to whichever node runs it.
func (s *Supervisor) Via(id string) proc.Via { return proc.Via{Registry: s, Key: id} }

var (
	_ proc.Resolver     = (*Supervisor)(nil)
	_ proc.ResolveErrer = (*Supervisor)(nil)
)

// ChildInfo describes a child as this node sees it.
type ChildInfo struct {
	ID      string
	PID     proc.PID // zero while it is starting
	Node    string
	Kind    string
	Restart int
}

// WhichChildren lists the children of every node, as this node sees them,
// sorted by ID.
func (s *Supervisor) WhichChildren() []ChildInfo {
	var out []ChildInfo
	s.m.Range(func(e ownermap.Entry) bool {
		if strings.HasPrefix(e.Key, markerPrefix) {
			return true
		}
		ci := ChildInfo{ID: e.Key, PID: e.PID, Node: e.Ref.Node}
		if r, ok := e.Value.(record); ok {
			ci.Kind, ci.Restart = r.Kind, r.Restart
		}
		out = append(out, ci)
		return true
	})
	slices.SortFunc(out, func(a, b ChildInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Counts are the sizes of a supervisor, as one node sees them.
type Counts struct {
	Specs  int            // children in the table
	Active int            // of which running (a PID)
	Nodes  map[string]int // children per node
}

// CountChildren counts the children of every node.
func (s *Supervisor) CountChildren() Counts {
	c := Counts{Nodes: map[string]int{}}
	s.m.Range(func(e ownermap.Entry) bool {
		if strings.HasPrefix(e.Key, markerPrefix) {
			return true
		}
		c.Specs++
		if !e.PID.IsZero() {
			c.Active++
		}
		c.Nodes[e.Ref.Node]++
		return true
	})
	return c
}

// Nodes returns the live members that run this supervisor and take
// children (not draining), sorted.
func (s *Supervisor) Nodes() []string {
	var out []string
	s.m.Range(func(e ownermap.Entry) bool {
		if !strings.HasPrefix(e.Key, markerPrefix) {
			return true
		}
		if mk, ok := e.Value.(marker); ok && !mk.Draining {
			if mb, ok := s.cl.Member(e.Ref.Node); ok && (mb.State == cluster.StateAlive || mb.State == cluster.StateSuspect) {
				out = append(out, e.Ref.Node)
			}
		}
		return true
	})
	slices.Sort(out)
	return out
}

// Complete reports whether this node has the children of every live
// member.
func (s *Supervisor) Complete() bool { return s.m.Complete() }

// WaitComplete waits until Complete or ctx is done.
func (s *Supervisor) WaitComplete(ctx context.Context) error { return s.m.WaitComplete(ctx) }

// Sync waits until every connected member has acknowledged every change
// of this node's children made before the call.
func (s *Supervisor) Sync(ctx context.Context) error { return s.m.WaitAcked(ctx) }

// candidates lists the nodes that can take a child of rec: live members
// running this supervisor with its kind, not draining, matching its pin,
// except exclude.
func (s *Supervisor) candidates(rec record, exclude string) []placement.Candidate {
	pin := rec.pin()
	s.lmu.Lock()
	loads := maps2(s.loads)
	s.lmu.Unlock()
	var out []placement.Candidate
	s.m.Range(func(e ownermap.Entry) bool {
		if !strings.HasPrefix(e.Key, markerPrefix) {
			return true
		}
		mk, ok := e.Value.(marker)
		name := e.Ref.Node
		if !ok || mk.Draining || name == exclude || !slices.Contains(mk.Kinds, rec.Kind) {
			return true
		}
		mb, ok := s.cl.Member(name)
		if !ok || mb.State != cluster.StateAlive && mb.State != cluster.StateSuspect {
			return true
		}
		if !pin.Matches(mb.Meta) {
			return true
		}
		out = append(out, placement.Candidate{Name: name, Meta: mb.Meta, Load: loads[name]})
		return true
	})
	slices.SortFunc(out, func(a, b placement.Candidate) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func maps2(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// place picks the node for a child.
func (s *Supervisor) place(id string, rec record, cands []placement.Candidate) (string, error) {
	if len(cands) == 0 {
		return "", fmt.Errorf("%w: %q (kind %q, %s)", ErrNoNode, id, rec.Kind, rec.pin())
	}
	n, err := s.cfg.Placement.Place(id, cands)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrNoNode, id, err)
	}
	return n, nil
}

// StartChild starts a child on the node the placement picks, and returns
// its PID once it runs and a majority of the members (its node included)
// have its record, so that the loss of its node, or of any minority of
// nodes, does not lose it. An ID that already runs is not
// started again: the error is an *AlreadyStartedError and the PID the
// running child's.
func (s *Supervisor) StartChild(ctx context.Context, spec ChildSpec) (proc.PID, error) {
	if s.closed.Load() {
		return proc.PID{}, ErrClosed
	}
	if err := spec.validate(); err != nil {
		return proc.PID{}, err
	}
	rec, err := s.toRecord(spec)
	if err != nil {
		return proc.PID{}, err
	}
	if e, ok := s.entry(spec.ID); ok && !e.PID.IsZero() {
		return e.PID, &AlreadyStartedError{ID: spec.ID, PID: e.PID}
	}
	req := startReq{ID: spec.ID, Rec: rec}
	var (
		v       any
		target  string
		refused = map[string]bool{}
	)
	for {
		cands := s.candidates(rec, "")
		cands = slices.DeleteFunc(cands, func(c placement.Candidate) bool { return refused[c.Name] })
		if target, err = s.place(spec.ID, rec, cands); err != nil {
			return proc.PID{}, err
		}
		if target == s.nd.Name() {
			v, err = s.rpcStart(ctx, req)
		} else if !s.linked(target) && len(cands) > 1 {
			// A member this node has no link to (one joining or cut off
			// by a false suspicion) would cost a connect timeout, and it
			// cannot answer in time anyway: the next choice takes it.
			refused[target] = true
			continue
		} else {
			v, err = s.nd.RPC(ctx, target, s.fn+"start", req)
		}
		// A node that certainly did not start the child (it drains, lacks
		// the kind, or runs no such supervisor) is skipped; any other
		// failure may have started it and is the caller's to judge.
		if err != nil && (errors.Is(err, ErrDraining) || errors.Is(err, ErrUnknownKind) || errors.Is(err, ErrClosed) ||
			errors.Is(err, node.ErrNoSuchFunction)) && ctx.Err() == nil {
			refused[target] = true
			continue
		}
		break
	}
	if err != nil {
		return proc.PID{}, err
	}
	resp, ok := v.(startResp)
	if !ok {
		return proc.PID{}, fmt.Errorf("distsup: start on %s answered %T", target, v)
	}
	if resp.Existing {
		return resp.PID, &AlreadyStartedError{ID: spec.ID, PID: resp.PID}
	}
	return resp.PID, nil
}

// linked reports whether this node has a link up to member n.
func (s *Supervisor) linked(n string) bool { return slices.Contains(s.nd.Nodes(), n) }

// rpcStart runs a start on this node: the host starts the child, then the
// answer waits for a majority of the members to acknowledge the record.
func (s *Supervisor) rpcStart(ctx context.Context, arg any) (any, error) {
	req, ok := arg.(startReq)
	if !ok {
		return nil, fmt.Errorf("distsup: start with %T", arg)
	}
	v, err := s.callHost(ctx, startLocal{id: req.ID, rec: req.Rec})
	if err != nil {
		return nil, err
	}
	resp := v.(startResp)
	if !resp.Existing {
		if err := s.m.WaitMajority(ctx); err != nil {
			return nil, fmt.Errorf("%w: %v: %w", ErrNotReplicated, resp.PID, err)
		}
	}
	return resp, nil
}

// holder returns the node running child id.
func (s *Supervisor) holder(id string) (string, error) {
	e, ok := s.entry(id)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return e.Ref.Node, nil
}

// TerminateChild stops child id wherever it runs (waiting up to its
// Shutdown, then killing it) and removes it: it is not restarted. It
// returns once a majority of the members know.
func (s *Supervisor) TerminateChild(ctx context.Context, id string) error {
	n, err := s.holder(id)
	if err != nil {
		return err
	}
	if n == s.nd.Name() {
		_, err = s.rpcTerminate(ctx, idReq{ID: id})
	} else {
		_, err = s.nd.RPC(ctx, n, s.fn+"terminate", idReq{ID: id})
	}
	return err
}

func (s *Supervisor) rpcTerminate(ctx context.Context, arg any) (any, error) {
	req, ok := arg.(idReq)
	if !ok {
		return nil, fmt.Errorf("distsup: terminate with %T", arg)
	}
	v, err := s.callHost(ctx, terminateLocal{id: req.ID})
	if err != nil {
		return nil, err
	}
	if st := v.(stopInfo); !st.pid.IsZero() {
		s.stopProcess(ctx, st.pid, proc.ErrShutdown, st.timeout)
	}
	return nil, s.m.WaitMajority(ctx)
}

// stopProcess stops pid with reason, killing it after timeout (or when
// ctx ends first).
func (s *Supervisor) stopProcess(ctx context.Context, pid proc.PID, reason error, timeout time.Duration) {
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.rt.Stop(sctx, pid, reason); err != nil && s.rt.Alive(pid) {
		_ = s.rt.Exit(pid, proc.ErrKill)
	}
}

// killProcess ends pid at once: the exit signal carries reason to its
// links and monitors, then a kill makes sure a process trapping exits
// stops too.
func (s *Supervisor) killProcess(pid proc.PID, reason error) {
	_ = s.rt.Exit(pid, reason)
	if s.rt.Alive(pid) {
		_ = s.rt.Exit(pid, proc.ErrKill)
	}
}

// RestartChild stops child id and starts it again on the same node, with
// the same spec, and returns the new PID.
func (s *Supervisor) RestartChild(ctx context.Context, id string) (proc.PID, error) {
	n, err := s.holder(id)
	if err != nil {
		return proc.PID{}, err
	}
	var v any
	if n == s.nd.Name() {
		v, err = s.rpcRestart(ctx, idReq{ID: id})
	} else {
		v, err = s.nd.RPC(ctx, n, s.fn+"restart", idReq{ID: id})
	}
	if err != nil {
		return proc.PID{}, err
	}
	pid, _ := v.(proc.PID)
	return pid, nil
}

func (s *Supervisor) rpcRestart(ctx context.Context, arg any) (any, error) {
	req, ok := arg.(idReq)
	if !ok {
		return nil, fmt.Errorf("distsup: restart with %T", arg)
	}
	return s.callHost(ctx, restartLocal{id: req.ID})
}

package eventsourcing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/grovedev/grove/eventstore"
)

// ProcessManager coordinates aggregates: it reacts to events with commands
// (a transfer debits one account, then credits another), keeping state of
// its own per instance. Handle decides, Apply evolves, as an aggregate's
// Execute and Apply do.
type ProcessManager interface {
	// Handle returns the commands e causes.
	Handle(e Event) ([]any, error)
	// Apply evolves the instance's state by e (after Handle).
	Apply(e Event)
}

// Timeouter is a process manager with a deadline: when Deadline (non-zero)
// passes before the instance stops, OnTimeout is called once, and the
// commands it returns are dispatched. Deadlines should come from events'
// times (Event.Recorded.Created), so that they survive a restart as they
// were.
type Timeouter interface {
	Deadline() time.Time
	OnTimeout() []any
}

// Interest says what an event means to a process manager.
type Interest int

const (
	// Ignore: not for this process manager.
	Ignore Interest = iota
	// Start or Continue the instance the id names (created if new).
	Start
	Continue
	// Stop the instance after handling the event.
	Stop
)

// ProcessConfig describes a process manager. Name, Interested and New are
// required.
type ProcessConfig struct {
	Name string
	// Interested routes an event to an instance.
	Interested func(e Event) (Interest, string)
	// New returns a fresh instance; it must marshal to JSON with its
	// state (it is kept as a snapshot after each event).
	New func(id string) ProcessManager
	// Handler tunes the process manager's event handler (Name is set
	// from this Name; Concurrency is 1).
	Handler HandlerConfig
}

// Process is a running process manager.
type Process struct {
	cfg     ProcessConfig
	app     *App
	handler *Handler
	ctx     context.Context
	cancel  context.CancelFunc

	mu struct {
		sync.Mutex
		instances map[string]*pmInstance
		timers    map[string]*time.Timer
		deadlines map[string]time.Time
		closed    bool
	}
	wg sync.WaitGroup
}

type pmInstance struct {
	pm  ProcessManager
	pos uint64 // the last event position applied
}

func (p *Process) stream(id string) string { return "pm-" + p.cfg.Name + "-" + id }
func (p *Process) indexStream() string     { return "pm-" + p.cfg.Name }

// StartProcess starts a process manager. Its instances' states are kept as
// snapshots of streams "pm-<name>-<id>" (with the position of the last
// event applied, so an event delivered again after a restart is not handled
// twice), and its deadlines in the snapshot of "pm-<name>", from which
// they are armed again at start.
func (a *App) StartProcess(ctx context.Context, cfg ProcessConfig) (*Process, error) {
	if cfg.Name == "" || cfg.Interested == nil || cfg.New == nil {
		return nil, errors.New("eventsourcing: ProcessConfig needs Name, Interested and New")
	}
	p := &Process{cfg: cfg, app: a}
	p.mu.instances = map[string]*pmInstance{}
	p.mu.timers = map[string]*time.Timer{}
	p.mu.deadlines = map[string]time.Time{}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if snap, err := a.cfg.Store.LoadSnapshot(ctx, p.indexStream()); err == nil {
		if err := json.Unmarshal(snap.Data, &p.mu.deadlines); err != nil {
			return nil, fmt.Errorf("eventsourcing: process %s: deadlines: %w", cfg.Name, err)
		}
	} else if !errors.Is(err, eventstore.ErrSnapshotNotFound) {
		return nil, err
	}
	p.mu.Lock()
	for id, d := range p.mu.deadlines {
		p.armLocked(id, d)
	}
	p.mu.Unlock()
	hc := cfg.Handler
	hc.Name, hc.Concurrency = "process:"+cfg.Name, 1
	h, err := a.StartHandler(ctx, hc, p.handle)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.handler = h
	return p, nil
}

// Handler returns the process manager's event handler (for strong
// consistency: dispatch WithConsistency(Strong, "process:<name>")).
func (p *Process) Handler() *Handler { return p.handler }

// Close stops the process manager and its timers.
func (p *Process) Close() error {
	if p.handler != nil {
		p.handler.Close()
	}
	p.mu.Lock()
	p.mu.closed = true
	for _, t := range p.mu.timers {
		t.Stop()
	}
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	return nil
}

// instanceLocked loads an instance from memory or its snapshot; nil if it
// does not exist.
func (p *Process) instanceLocked(ctx context.Context, id string) (*pmInstance, error) {
	if in, ok := p.mu.instances[id]; ok {
		return in, nil
	}
	snap, err := p.app.cfg.Store.LoadSnapshot(ctx, p.stream(id))
	if errors.Is(err, eventstore.ErrSnapshotNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pm := p.cfg.New(id)
	if err := json.Unmarshal(snap.Data, pm); err != nil {
		return nil, fmt.Errorf("eventsourcing: process %s/%s: %w", p.cfg.Name, id, err)
	}
	in := &pmInstance{pm: pm, pos: snap.Version}
	p.mu.instances[id] = in
	return in, nil
}

func (p *Process) handle(ctx context.Context, e Event) error {
	interest, id := p.cfg.Interested(e)
	if interest == Ignore || id == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	in, err := p.instanceLocked(ctx, id)
	if err != nil {
		return err
	}
	if in == nil {
		in = &pmInstance{pm: p.cfg.New(id)}
	}
	if in.pos >= e.Recorded.Position {
		return nil // handled before a restart
	}
	cmds, err := in.pm.Handle(e)
	if err != nil {
		return err
	}
	if err := p.dispatchAll(ctx, cmds, e.Metadata, e.Recorded.ID); err != nil {
		return err
	}
	in.pm.Apply(e)
	in.pos = e.Recorded.Position
	if interest == Stop {
		delete(p.mu.instances, id)
		p.setDeadlineLocked(ctx, id, time.Time{})
		return p.app.cfg.Store.DeleteSnapshot(ctx, p.stream(id))
	}
	p.mu.instances[id] = in
	if err := p.saveLocked(ctx, id, in); err != nil {
		return err
	}
	var d time.Time
	if t, ok := in.pm.(Timeouter); ok {
		d = t.Deadline()
	}
	return p.setDeadlineLocked(ctx, id, d)
}

func (p *Process) saveLocked(ctx context.Context, id string, in *pmInstance) error {
	b, err := json.Marshal(in.pm)
	if err != nil {
		return fmt.Errorf("eventsourcing: process %s/%s: %w", p.cfg.Name, id, err)
	}
	return p.app.cfg.Store.SaveSnapshot(ctx, eventstore.Snapshot{Stream: p.stream(id), Version: in.pos, Type: p.cfg.Name, Data: b})
}

// dispatchAll dispatches the commands an event (or a timeout) caused, with
// command ids derived from the cause: dispatched again for the same cause
// (the event redelivered after a restart, a failed timeout retried), they
// are recognised by their aggregates and not applied twice.
func (p *Process) dispatchAll(ctx context.Context, cmds []any, meta Metadata, cause string) error {
	for i, c := range cmds {
		m := Metadata{MetaCausationID: cause, MetaCommandID: deriveID("process", p.cfg.Name, cause, strconv.Itoa(i))}
		if corr := meta[MetaCorrelationID]; corr != "" {
			m[MetaCorrelationID] = corr
		}
		if _, err := p.app.Dispatch(ctx, c, WithMetadata(m)); err != nil {
			return fmt.Errorf("eventsourcing: process %s: dispatching %T: %w", p.cfg.Name, c, err)
		}
	}
	return nil
}

// setDeadlineLocked records the instance's deadline (zero: none), persists
// the set, and arms or disarms its timer.
func (p *Process) setDeadlineLocked(ctx context.Context, id string, d time.Time) error {
	old, had := p.mu.deadlines[id]
	if d.IsZero() {
		if !had {
			return nil
		}
		delete(p.mu.deadlines, id)
	} else {
		if had && old.Equal(d) {
			return nil
		}
		p.mu.deadlines[id] = d
	}
	if t := p.mu.timers[id]; t != nil {
		t.Stop()
		delete(p.mu.timers, id)
	}
	if !d.IsZero() {
		p.armLocked(id, d)
	}
	b, _ := json.Marshal(p.mu.deadlines)
	return p.app.cfg.Store.SaveSnapshot(ctx, eventstore.Snapshot{Stream: p.indexStream(), Type: "deadlines", Data: b})
}

func (p *Process) armLocked(id string, d time.Time) {
	if p.mu.closed {
		return
	}
	p.mu.timers[id] = time.AfterFunc(time.Until(d), func() { p.fire(id, d) })
}

// fire runs a timer's timeout, tracked so that Close waits for it.
func (p *Process) fire(id string, d time.Time) {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()
	p.timeout(id, d)
}

// timeout runs an instance's OnTimeout, once, if its deadline is still d.
func (p *Process) timeout(id string, d time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return
	}
	if cur, ok := p.mu.deadlines[id]; !ok || !cur.Equal(d) {
		return
	}
	ctx := p.ctx
	in, err := p.instanceLocked(ctx, id)
	if err != nil || in == nil {
		return
	}
	t, ok := in.pm.(Timeouter)
	if !ok {
		return
	}
	cmds := t.OnTimeout()
	cause := "timeout:" + p.cfg.Name + ":" + id + ":" + d.UTC().Format(time.RFC3339Nano)
	if err := p.dispatchAll(ctx, cmds, Metadata{MetaCorrelationID: id}, cause); err != nil {
		p.app.cfg.Logger.Warn("eventsourcing: process timeout failed; retrying", "process", p.cfg.Name, "id", id, "err", err)
		p.mu.timers[id] = time.AfterFunc(time.Second, func() { p.fire(id, d) })
		return
	}
	if err := p.saveLocked(ctx, id, in); err != nil {
		p.app.cfg.Logger.Warn("eventsourcing: process timeout: saving state", "process", p.cfg.Name, "id", id, "err", err)
	}
	_ = p.setDeadlineLocked(ctx, id, t.Deadline())
}

package eventsourcing

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/subscription"
)

// EventHandler handles one event. It is called in position order, never
// concurrently for events of one partition (see HandlerConfig.Concurrency).
// After a restart, events after the last checkpoint come again: a handler
// must be idempotent, or keep its own checkpoint with its work
// (BatchHandler).
type EventHandler func(ctx context.Context, e Event) error

// BatchHandler handles a batch of events, for projections that commit a
// batch and its checkpoint in one transaction (see eventsourcing/pgprojection).
type BatchHandler func(ctx context.Context, evs []Event) error

// HandlerConfig describes an event handler. Name is required.
type HandlerConfig struct {
	// Name identifies the handler: its checkpoint is "handler:<Name>".
	Name string
	// StartFrom is the first position a new handler (no checkpoint)
	// handles: 0 from the origin, subscription.FromEnd from now.
	StartFrom uint64
	// Strong handlers are waited for by dispatches with Strong
	// consistency that name no handler.
	Strong bool
	// Concurrency runs up to this many events of a batch at once, one
	// partition (PartitionBy) per goroutine, each in order. Default 1.
	Concurrency int
	// PartitionBy gives an event's partition. Default its stream.
	PartitionBy func(Event) string
	// BatchSize bounds a batch. Default 500.
	BatchSize int
	// OnError: subscription.Retry (default) retries the batch with
	// backoff; subscription.Stop stops the handler.
	OnError subscription.ErrorPolicy
	// Locker, when set, runs the handler on one process at a time.
	Locker eventstore.Locker
	// PollInterval, see subscription.Config. Default 1 s.
	PollInterval time.Duration
	// OwnCheckpoints: the batch handler commits the checkpoint itself
	// (with its work); the handler only loads it at start.
	OwnCheckpoints bool
}

// Handler is a running event handler.
type Handler struct {
	cfg HandlerConfig
	sub *subscription.Subscription
	app *App
}

func handlerCheckpoint(name string) string { return "handler:" + name }

// CheckpointName returns the name of a handler's checkpoint.
func CheckpointName(handler string) string { return handlerCheckpoint(handler) }

// StartHandler starts an event handler.
func (a *App) StartHandler(ctx context.Context, cfg HandlerConfig, h EventHandler) (*Handler, error) {
	if cfg.Concurrency < 0 {
		return nil, fmt.Errorf("eventsourcing: handler %s: negative Concurrency", cfg.Name)
	}
	n := max(cfg.Concurrency, 1)
	part := cfg.PartitionBy
	if part == nil {
		part = func(e Event) string { return e.Recorded.StreamID }
	}
	return a.StartBatchHandler(ctx, cfg, func(ctx context.Context, evs []Event) error {
		if n == 1 {
			for _, e := range evs {
				if err := h(ctx, e); err != nil {
					return err
				}
			}
			return nil
		}
		lanes := make([][]Event, n)
		for _, e := range evs {
			f := fnv.New32a()
			f.Write([]byte(part(e)))
			i := int(f.Sum32() % uint32(n))
			lanes[i] = append(lanes[i], e)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, lane := range lanes {
			if len(lane) == 0 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, e := range lane {
					if errs[i] = h(ctx, e); errs[i] != nil {
						return
					}
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	})
}

// StartBatchHandler starts a handler of whole batches.
func (a *App) StartBatchHandler(ctx context.Context, cfg HandlerConfig, h BatchHandler) (*Handler, error) {
	if cfg.Name == "" {
		return nil, errors.New("eventsourcing: HandlerConfig.Name is required")
	}
	a.mu.Lock()
	if _, dup := a.mu.handlers[cfg.Name]; dup {
		a.mu.Unlock()
		return nil, fmt.Errorf("eventsourcing: handler %s already started", cfg.Name)
	}
	hd := &Handler{cfg: cfg, app: a}
	a.mu.handlers[cfg.Name] = hd
	a.mu.Unlock()
	sub, err := subscription.Start(ctx, a.cfg.Store, subscription.Config{
		Name: handlerCheckpoint(cfg.Name), From: cfg.StartFrom, BatchSize: cfg.BatchSize,
		OnError: cfg.OnError, Locker: cfg.Locker, PollInterval: cfg.PollInterval,
		HandlerCheckpoints: cfg.OwnCheckpoints, Logger: a.cfg.Logger,
	}, func(ctx context.Context, recs []eventstore.RecordedEvent) error {
		evs := make([]Event, 0, len(recs))
		for _, r := range recs {
			e, err := a.cfg.Types.Decode(r)
			if errors.Is(err, ErrUnknownType) {
				continue // another application's event
			}
			if err != nil {
				return err
			}
			evs = append(evs, e)
		}
		if len(evs) == 0 {
			return nil
		}
		return h(ctx, evs)
	})
	if err != nil {
		a.mu.Lock()
		delete(a.mu.handlers, cfg.Name)
		a.mu.Unlock()
		return nil, err
	}
	hd.sub = sub
	return hd, nil
}

// Position returns the last position the handler has handled.
func (h *Handler) Position() uint64 { return h.sub.Position() }

// Running reports whether the handler holds its lock (always, without one).
func (h *Handler) Running() bool { return h.sub.Running() }

func (h *Handler) waitFor(ctx context.Context, pos uint64) error {
	if h.cfg.Locker != nil && !h.sub.Running() {
		// It runs on another node: follow its checkpoint in the store.
		return h.app.waitCheckpoint(ctx, h.cfg.Name, pos)
	}
	return h.sub.WaitFor(ctx, pos)
}

// Err reports why the handler stopped (OnError subscription.Stop, or a
// store error), nil while it runs.
func (h *Handler) Err() error { return h.sub.Err() }

// Done is closed when the handler has stopped.
func (h *Handler) Done() <-chan struct{} { return h.sub.Done() }

// Close stops the handler. It is idempotent.
func (h *Handler) Close() error {
	err := h.sub.Close()
	h.app.mu.Lock()
	if h.app.mu.handlers[h.cfg.Name] == h {
		delete(h.app.mu.handlers, h.cfg.Name)
	}
	h.app.mu.Unlock()
	return err
}

// Replay feeds the events of positions from..to (inclusive; to
// eventstore.End: up to the head) through h, outside any checkpoint: to
// rebuild a projection as it was at a past position (time travel), or into
// a fresh read model.
func (a *App) Replay(ctx context.Context, from, to uint64, h EventHandler) (last uint64, err error) {
	pos := max(from, 1)
	for {
		recs, err := a.cfg.Store.ReadAll(ctx, pos, readPage, eventstore.Forward)
		if err != nil {
			return last, err
		}
		for _, r := range recs {
			if r.Position > to {
				return last, nil
			}
			e, err := a.cfg.Types.Decode(r)
			if errors.Is(err, ErrUnknownType) {
				continue
			}
			if err != nil {
				return last, err
			}
			if err := h(ctx, e); err != nil {
				return last, err
			}
			last = r.Position
		}
		if len(recs) < readPage {
			return last, nil
		}
		pos = recs[len(recs)-1].Position + 1
	}
}

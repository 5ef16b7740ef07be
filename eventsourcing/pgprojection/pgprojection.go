// Package pgprojection runs projections into PostgreSQL that commit each
// batch of read-model changes and the projection's checkpoint in one
// transaction: after a crash at any point, the read model holds exactly
// the events up to its checkpoint, none twice and none missing, so the
// projection's code need not be idempotent.
//
// # Usage
//
//	h, err := pgprojection.Start(ctx, app, store, pgprojection.Config{Name: "balances"},
//		func(ctx context.Context, tx pgx.Tx, e eventsourcing.Event) error {
//			d := e.Data.(Deposited)
//			_, err := tx.Exec(ctx, `UPDATE balances SET amount = amount + $2 WHERE id = $1`, d.Account, d.Amount)
//			return err
//		})
//	defer h.Close()
//
// With Config.SingleNode the projection runs on one process of those that
// start it (a pgstore lease); each batch's transaction first checks that
// the lease is still held and locks it against a takeover until commit, so
// a process that lost the lease cannot commit a stale batch.
package pgprojection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grovedev/grove/eventsourcing"
	"github.com/grovedev/grove/eventstore/pgstore"
	"github.com/grovedev/grove/eventstore/subscription"
	"github.com/jackc/pgx/v5"
)

// Apply applies one event to the read model inside tx.
type Apply func(ctx context.Context, tx pgx.Tx, e eventsourcing.Event) error

// Config describes a projection. Name is required.
type Config struct {
	// Name identifies the projection (its checkpoint is the handler's).
	Name string
	// SingleNode runs it on one process at a time, through the store's
	// leases.
	SingleNode bool
	// StartFrom, BatchSize, PollInterval: see eventsourcing.HandlerConfig.
	StartFrom    uint64
	BatchSize    int
	PollInterval time.Duration
	// Strong makes it count for Strong dispatches that name no handler.
	Strong bool
}

// Start starts the projection as an event handler of app, whose store must
// be store (possibly wrapped).
func Start(ctx context.Context, app *eventsourcing.App, store *pgstore.Store, cfg Config, apply Apply) (*eventsourcing.Handler, error) {
	if cfg.Name == "" {
		return nil, errors.New("pgprojection: Config.Name is required")
	}
	hc := eventsourcing.HandlerConfig{
		Name: cfg.Name, StartFrom: cfg.StartFrom, BatchSize: cfg.BatchSize, PollInterval: cfg.PollInterval,
		Strong: cfg.Strong, OwnCheckpoints: true,
	}
	if cfg.SingleNode {
		hc.Locker = store
	}
	checkpoint := eventsourcing.CheckpointName(cfg.Name)
	return app.StartBatchHandler(ctx, hc, func(ctx context.Context, evs []eventsourcing.Event) error {
		tx, err := store.Pool().Begin(ctx)
		if err != nil {
			return fmt.Errorf("pgprojection %s: %w", cfg.Name, err)
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		if l, ok := subscription.LeaseFrom(ctx); ok {
			if pl, ok := l.(*pgstore.Lease); ok {
				if err := pl.CheckTx(ctx, tx); err != nil {
					return err
				}
			}
		}
		for _, e := range evs {
			if err := apply(ctx, tx, e); err != nil {
				return fmt.Errorf("pgprojection %s: event %d: %w", cfg.Name, e.Recorded.Position, err)
			}
		}
		if err := store.SaveCheckpointTx(ctx, tx, checkpoint, evs[len(evs)-1].Recorded.Position); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}

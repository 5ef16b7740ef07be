package bank

import (
	"context"
	"maps"
	"sync"

	"github.com/grovedev/grove/eventsourcing"
	"github.com/jackc/pgx/v5"
)

// Balances is an in-memory read model of every account's balance and of
// the transfers' outcomes. Safe for concurrent use.
type Balances struct {
	mu struct {
		sync.Mutex
		balance   map[string]int64
		completed map[string]bool
		failed    map[string]bool
	}
}

// NewBalances returns an empty read model.
func NewBalances() *Balances {
	b := &Balances{}
	b.mu.balance = map[string]int64{}
	b.mu.completed = map[string]bool{}
	b.mu.failed = map[string]bool{}
	return b
}

// Handle is the projection's event handler.
func (b *Balances) Handle(_ context.Context, e eventsourcing.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch d := e.Data.(type) {
	case Opened:
		b.mu.balance[d.Account] = d.Initial
	case Debited:
		b.mu.balance[d.Account] -= d.Amount
	case Credited:
		b.mu.balance[d.Account] += d.Amount
	case TransferCompleted:
		b.mu.completed[d.Transfer] = true
	case TransferFailed:
		b.mu.failed[d.Transfer] = true
	}
	return nil
}

// Snapshot returns the balances, and how many transfers completed and
// failed.
func (b *Balances) Snapshot() (balances map[string]int64, completed, failed int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.mu.balance), len(b.mu.completed), len(b.mu.failed)
}

// Total sums balances.
func Total(balances map[string]int64) int64 {
	var t int64
	for _, v := range balances {
		t += v
	}
	return t
}

// PGApply is the balances projection into PostgreSQL (table
// <schema>.balances), for eventsourcing/pgprojection: one row per account.
func PGApply(schema string) func(ctx context.Context, tx pgx.Tx, e eventsourcing.Event) error {
	return func(ctx context.Context, tx pgx.Tx, e eventsourcing.Event) error {
		var err error
		switch d := e.Data.(type) {
		case Opened:
			_, err = tx.Exec(ctx, `INSERT INTO `+schema+`.balances (account, balance) VALUES ($1, $2)`, d.Account, d.Initial)
		case Debited:
			_, err = tx.Exec(ctx, `UPDATE `+schema+`.balances SET balance = balance - $2 WHERE account = $1`, d.Account, d.Amount)
		case Credited:
			_, err = tx.Exec(ctx, `UPDATE `+schema+`.balances SET balance = balance + $2 WHERE account = $1`, d.Account, d.Amount)
		}
		return err
	}
}

// PGTable is the DDL of the PostgreSQL read model.
func PGTable(schema string) string {
	return `CREATE TABLE IF NOT EXISTS ` + schema + `.balances (account text PRIMARY KEY, balance bigint NOT NULL)`
}

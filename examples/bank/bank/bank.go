// Package bank is the domain of the bank example: accounts (an aggregate
// each), transfers (an aggregate each, and a process manager that moves the
// money: debit the source, credit the destination, then complete; or fail
// when the debit is refused), and a balances projection.
//
// Commands are idempotent: an account remembers the transfers it has
// debited and credited, so a process manager that dispatches a command
// again after a crash or a timeout moves no money twice.
//
// # Usage
//
//	app, _ := eventsourcing.New(eventsourcing.Config{Store: store, Types: bank.Types(), Runtime: rt})
//	bank.Routes(app)
//	pm, _ := app.StartProcess(ctx, bank.TransferProcess(eventsourcing.HandlerConfig{}))
//	app.Dispatch(ctx, bank.Open{Account: "a", Initial: 100})
//	app.Dispatch(ctx, bank.RequestTransfer{Transfer: "t1", From: "a", To: "b", Amount: 30})
package bank

import (
	"errors"
	"fmt"
	"time"

	"github.com/grovedev/grove/eventsourcing"
)

// Commands.
type (
	Open struct {
		Account string
		Initial int64
	}
	Debit struct {
		Account, Transfer string
		Amount            int64
	}
	Credit struct {
		Account, Transfer string
		Amount            int64
	}
	RequestTransfer struct {
		Transfer, From, To string
		Amount             int64
	}
	CompleteTransfer struct{ Transfer string }
	FailTransfer     struct{ Transfer, Reason string }
)

// Events.
type (
	Opened struct {
		Account string
		Initial int64
	}
	Debited struct {
		Account, Transfer string
		Amount            int64
	}
	DebitRefused struct {
		Account, Transfer, Reason string
		Amount                    int64
	}
	Credited struct {
		Account, Transfer string
		Amount            int64
	}
	TransferRequested struct {
		Transfer, From, To string
		Amount             int64
	}
	TransferCompleted struct{ Transfer string }
	TransferFailed    struct{ Transfer, Reason string }
)

// Errors refusing commands.
var (
	ErrNoAccount   = errors.New("bank: no such account")
	ErrOpen        = errors.New("bank: account already open")
	ErrBadAmount   = errors.New("bank: amount must be positive")
	ErrNoTransfer  = errors.New("bank: no such transfer")
	ErrSameAccount = errors.New("bank: transfer to the same account")
)

// Types returns the registry of the bank's events.
func Types() *eventsourcing.Types {
	t := eventsourcing.NewTypes()
	eventsourcing.Register[Opened](t, "bank.Opened")
	eventsourcing.Register[Debited](t, "bank.Debited")
	eventsourcing.Register[DebitRefused](t, "bank.DebitRefused")
	eventsourcing.Register[Credited](t, "bank.Credited")
	eventsourcing.Register[TransferRequested](t, "bank.TransferRequested")
	eventsourcing.Register[TransferCompleted](t, "bank.TransferCompleted")
	eventsourcing.Register[TransferFailed](t, "bank.TransferFailed")
	return t
}

// Account is an account's state.
type Account struct {
	Open    bool
	Balance int64
	Debits  map[string]bool // transfers debited or refused
	Credits map[string]bool // transfers credited
}

// Kinds of the bank's aggregates.
var (
	AccountKind = eventsourcing.Kind{Name: "account", New: func(string) eventsourcing.Aggregate {
		return &Account{Debits: map[string]bool{}, Credits: map[string]bool{}}
	}, SnapshotEvery: 50}
	TransferKind = eventsourcing.Kind{Name: "transfer", New: func(string) eventsourcing.Aggregate { return &Transfer{} }}
)

// Execute implements eventsourcing.Aggregate.
func (a *Account) Execute(cmd any) ([]any, error) {
	switch c := cmd.(type) {
	case Open:
		if a.Open {
			return nil, ErrOpen
		}
		if c.Initial < 0 {
			return nil, ErrBadAmount
		}
		return []any{Opened(c)}, nil
	case Debit:
		switch {
		case a.Debits[c.Transfer]:
			return nil, nil // done before: idempotent
		case !a.Open:
			return []any{DebitRefused{Account: c.Account, Transfer: c.Transfer, Amount: c.Amount, Reason: "no such account"}}, nil
		case c.Amount <= 0:
			return nil, ErrBadAmount
		case a.Balance < c.Amount:
			return []any{DebitRefused{Account: c.Account, Transfer: c.Transfer, Amount: c.Amount, Reason: "insufficient funds"}}, nil
		}
		return []any{Debited(c)}, nil
	case Credit:
		switch {
		case a.Credits[c.Transfer]:
			return nil, nil
		case !a.Open:
			return nil, ErrNoAccount
		case c.Amount <= 0:
			return nil, ErrBadAmount
		}
		return []any{Credited(c)}, nil
	}
	return nil, fmt.Errorf("bank: account cannot handle %T", cmd)
}

// Apply implements eventsourcing.Aggregate.
func (a *Account) Apply(e any) {
	switch e := e.(type) {
	case Opened:
		a.Open, a.Balance = true, e.Initial
	case Debited:
		a.Balance -= e.Amount
		a.Debits[e.Transfer] = true
	case DebitRefused:
		a.Debits[e.Transfer] = true
	case Credited:
		a.Balance += e.Amount
		a.Credits[e.Transfer] = true
	}
}

// Transfer is a transfer's state.
type Transfer struct {
	Requested         bool
	From, To          string
	Amount            int64
	Completed, Failed bool
}

// Execute implements eventsourcing.Aggregate.
func (t *Transfer) Execute(cmd any) ([]any, error) {
	switch c := cmd.(type) {
	case RequestTransfer:
		switch {
		case t.Requested:
			return nil, nil
		case c.Amount <= 0:
			return nil, ErrBadAmount
		case c.From == c.To:
			return nil, ErrSameAccount
		}
		return []any{TransferRequested(c)}, nil
	case CompleteTransfer:
		if !t.Requested {
			return nil, ErrNoTransfer
		}
		if t.Completed || t.Failed {
			return nil, nil
		}
		return []any{TransferCompleted(c)}, nil
	case FailTransfer:
		if !t.Requested {
			return nil, ErrNoTransfer
		}
		if t.Completed || t.Failed {
			return nil, nil
		}
		return []any{TransferFailed(c)}, nil
	}
	return nil, fmt.Errorf("bank: transfer cannot handle %T", cmd)
}

// Apply implements eventsourcing.Aggregate.
func (t *Transfer) Apply(e any) {
	switch e := e.(type) {
	case TransferRequested:
		t.Requested, t.From, t.To, t.Amount = true, e.From, e.To, e.Amount
	case TransferCompleted:
		t.Completed = true
	case TransferFailed:
		t.Failed = true
	}
}

// Routes routes the bank's commands.
func Routes(app *eventsourcing.App) error {
	return errors.Join(
		eventsourcing.Route(app, AccountKind, func(c Open) string { return c.Account }),
		eventsourcing.Route(app, AccountKind, func(c Debit) string { return c.Account }),
		eventsourcing.Route(app, AccountKind, func(c Credit) string { return c.Account }),
		eventsourcing.Route(app, TransferKind, func(c RequestTransfer) string { return c.Transfer }),
		eventsourcing.Route(app, TransferKind, func(c CompleteTransfer) string { return c.Transfer }),
		eventsourcing.Route(app, TransferKind, func(c FailTransfer) string { return c.Transfer }),
	)
}

// TransferManager moves a transfer's money. It is a process manager: one
// instance per transfer, from TransferRequested to TransferCompleted or
// TransferFailed.
type TransferManager struct {
	ID       string
	From, To string
	Amount   int64
	Stage    string // "debiting", "crediting", "completing", "failing"
	Reason   string
	Until    time.Time // the stage's deadline: after it, the stage's command is sent again
}

// StageTimeout is how long a stage may wait for its event before the
// process manager dispatches its command again (commands are idempotent).
var StageTimeout = 10 * time.Second

// next returns the command of the current stage.
func (m *TransferManager) next() []any {
	switch m.Stage {
	case "debiting":
		return []any{Debit{Account: m.From, Transfer: m.ID, Amount: m.Amount}}
	case "crediting":
		return []any{Credit{Account: m.To, Transfer: m.ID, Amount: m.Amount}}
	case "completing":
		return []any{CompleteTransfer{Transfer: m.ID}}
	case "failing":
		return []any{FailTransfer{Transfer: m.ID, Reason: m.Reason}}
	}
	return nil
}

// Handle implements eventsourcing.ProcessManager.
func (m *TransferManager) Handle(e eventsourcing.Event) ([]any, error) {
	switch d := e.Data.(type) {
	case TransferRequested:
		return []any{Debit{Account: d.From, Transfer: d.Transfer, Amount: d.Amount}}, nil
	case Debited:
		if d.Account == m.From {
			return []any{Credit{Account: m.To, Transfer: m.ID, Amount: m.Amount}}, nil
		}
	case DebitRefused:
		return []any{FailTransfer{Transfer: m.ID, Reason: d.Reason}}, nil
	case Credited:
		if d.Account == m.To {
			return []any{CompleteTransfer{Transfer: m.ID}}, nil
		}
	}
	return nil, nil
}

// Apply implements eventsourcing.ProcessManager.
func (m *TransferManager) Apply(e eventsourcing.Event) {
	switch d := e.Data.(type) {
	case TransferRequested:
		m.From, m.To, m.Amount, m.Stage = d.From, d.To, d.Amount, "debiting"
	case Debited:
		if d.Account == m.From {
			m.Stage = "crediting"
		}
	case DebitRefused:
		m.Stage, m.Reason = "failing", d.Reason
	case Credited:
		if d.Account == m.To {
			m.Stage = "completing"
		}
	}
	m.Until = e.Recorded.Created.Add(StageTimeout)
}

// Deadline implements eventsourcing.Timeouter.
func (m *TransferManager) Deadline() time.Time { return m.Until }

// OnTimeout implements eventsourcing.Timeouter: the stage's command again.
func (m *TransferManager) OnTimeout() []any {
	m.Until = time.Now().Add(StageTimeout)
	return m.next()
}

// TransferProcess describes the transfer process manager.
func TransferProcess(h eventsourcing.HandlerConfig) eventsourcing.ProcessConfig {
	return eventsourcing.ProcessConfig{
		Name: "transfers",
		Interested: func(e eventsourcing.Event) (eventsourcing.Interest, string) {
			switch d := e.Data.(type) {
			case TransferRequested:
				return eventsourcing.Start, d.Transfer
			case Debited:
				return eventsourcing.Continue, d.Transfer
			case DebitRefused:
				return eventsourcing.Continue, d.Transfer
			case Credited:
				return eventsourcing.Continue, d.Transfer
			case TransferCompleted:
				return eventsourcing.Stop, d.Transfer
			case TransferFailed:
				return eventsourcing.Stop, d.Transfer
			}
			return eventsourcing.Ignore, ""
		},
		New:     func(id string) eventsourcing.ProcessManager { return &TransferManager{ID: id} },
		Handler: h,
	}
}

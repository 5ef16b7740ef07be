package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/grovedev/grove/eventsourcing"
	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/pebblestore"
	"github.com/grovedev/grove/examples/bank/bank"
	"github.com/grovedev/grove/proc"
)

// eventSourcing shows the bank of examples/bank on the embedded event
// store: aggregates as processes, a transfer process manager, a projection
// with strong consistency, a restart that rebuilds everything from the
// events, and time travel.
func (d *demo) eventSourcing(ctx context.Context) error {
	d.title("Event sourcing: a bank on the embedded event store")
	dir, err := os.MkdirTemp("", "grove-demo-events-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.DiscardHandler)

	open := func() (*pebblestore.Store, *proc.Runtime, *eventsourcing.App, error) {
		s, err := pebblestore.Open(pebblestore.Config{Dir: dir, Logger: quiet})
		if err != nil {
			return nil, nil, nil, err
		}
		rt, err := proc.New(proc.Config{Node: "bank@localhost", Logger: quiet})
		if err != nil {
			s.Close()
			return nil, nil, nil, err
		}
		app, err := eventsourcing.New(eventsourcing.Config{Store: s, Types: bank.Types(), Runtime: rt, Logger: quiet})
		if err == nil {
			err = bank.Routes(app)
		}
		if err != nil {
			rt.Close(ctx)
			s.Close()
			return nil, nil, nil, err
		}
		return s, rt, app, nil
	}
	s, rt, app, err := open()
	if err != nil {
		return err
	}
	pm, err := app.StartProcess(ctx, bank.TransferProcess(eventsourcing.HandlerConfig{PollInterval: 50 * time.Millisecond}))
	if err != nil {
		return err
	}
	balances := bank.NewBalances()
	proj, err := app.StartHandler(ctx, eventsourcing.HandlerConfig{Name: "balances", Strong: true}, balances.Handle)
	if err != nil {
		return err
	}
	d.say("opened a pebble event store in %s (group commit, fsync per group)", dir)
	for _, a := range []string{"alice", "bob", "carol"} {
		if _, err := app.Dispatch(ctx, bank.Open{Account: a, Initial: 100}, eventsourcing.WithConsistency(eventsourcing.Strong)); err != nil {
			return err
		}
	}
	d.say("opened three accounts with 100 each; %d aggregate processes running (one per account)", rt.NumProcesses())
	ids := []string{"t1", "t2", "t3"}
	for i, t := range []bank.RequestTransfer{
		{Transfer: ids[0], From: "alice", To: "bob", Amount: 30},
		{Transfer: ids[1], From: "bob", To: "carol", Amount: 50},
		{Transfer: ids[2], From: "carol", To: "alice", Amount: 500}, // more than carol has
	} {
		if _, err := app.Dispatch(ctx, t); err != nil {
			return err
		}
		d.say("transfer %s: %s → %s, %d (the process manager debits, then credits)", ids[i], t.From, t.To, t.Amount)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, completed, failed := balances.Snapshot()
		if completed+failed == len(ids) {
			d.say("transfers settled: %d completed, %d refused (insufficient funds)", completed, failed)
			break
		}
		if time.Now().After(deadline) {
			return errors.New("demo: transfers did not settle")
		}
		time.Sleep(10 * time.Millisecond)
	}
	bal, _, _ := balances.Snapshot()
	d.say("balances projection: alice %d, bob %d, carol %d; total %d", bal["alice"], bal["bob"], bal["carol"], bank.Total(bal))

	// Stop everything, as a crash would lose it all but the store.
	proj.Close()
	pm.Close()
	rt.Close(ctx)
	s.Close()
	d.say("stopped the node: processes, process manager and projection gone; only the events remain")
	s, rt, app, err = open()
	if err != nil {
		return err
	}
	defer s.Close()
	defer rt.Close(ctx)
	head, _ := s.Head(ctx)
	rebuilt := bank.NewBalances()
	if _, err := app.Replay(ctx, 0, eventstore.End, rebuilt.Handle); err != nil {
		return err
	}
	bal, _, _ = rebuilt.Snapshot()
	d.say("reopened: replayed %d events into a fresh projection: alice %d, bob %d, carol %d", head, bal["alice"], bal["bob"], bal["carol"])
	past, v, err := app.AggregateAt(ctx, bank.AccountKind, "bob", 1)
	if err != nil {
		return err
	}
	now, nv, err := app.AggregateAt(ctx, bank.AccountKind, "bob", eventstore.End)
	if err != nil {
		return err
	}
	d.say("time travel: bob had %d at version %d, has %d at version %d", past.(*bank.Account).Balance, v, now.(*bank.Account).Balance, nv)
	res, err := app.Dispatch(ctx, bank.Debit{Account: "alice", Transfer: "t1", Amount: 30})
	if err != nil {
		return err
	}
	d.say("debiting alice again for transfer t1 is a no-op (%d new events): commands are idempotent", len(res.Events))
	if bank.Total(bal) != 300 {
		return fmt.Errorf("demo: the bank holds %d, not 300", bank.Total(bal))
	}
	return nil
}

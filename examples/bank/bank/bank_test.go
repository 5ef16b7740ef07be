package bank_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/eventsourcing"
	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/memstore"
	"github.com/grovedev/grove/eventstore/pgstore"
	"github.com/grovedev/grove/eventstore/storetest"
	"github.com/grovedev/grove/examples/bank/bank"
	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

var quiet = slog.New(slog.DiscardHandler)

// node is one node's bank: an application on the node's runtime, with the
// transfer process manager and the balances projection running on
// whichever node holds their leases.
type node struct {
	app      *eventsourcing.App
	pm       *eventsourcing.Process
	proj     *eventsourcing.Handler
	balances *bank.Balances
}

func startNode(ctx context.Context, rt *proc.Runtime, store eventstore.Store, locker eventstore.Locker) (*node, error) {
	app, err := eventsourcing.New(eventsourcing.Config{Store: store, Types: bank.Types(), Runtime: rt, Logger: quiet})
	if err != nil {
		return nil, err
	}
	if err := bank.Routes(app); err != nil {
		return nil, err
	}
	n := &node{app: app, balances: bank.NewBalances()}
	hc := eventsourcing.HandlerConfig{Locker: locker, PollInterval: 20 * time.Millisecond}
	if n.pm, err = app.StartProcess(ctx, bank.TransferProcess(hc)); err != nil {
		return nil, err
	}
	// Each node keeps its own in-memory balances (a transient read model
	// rebuilt from 0 when the node starts).
	if n.proj, err = app.StartHandler(ctx, eventsourcing.HandlerConfig{Name: "balances-" + eventstore.NewID(), PollInterval: 20 * time.Millisecond}, n.balances.Handle); err != nil {
		n.pm.Close()
		return nil, err
	}
	return n, nil
}

func (n *node) stop() {
	n.proj.Close()
	n.pm.Close()
}

const (
	accounts = 6
	initial  = 1000
)

func openAccounts(t *testing.T, app *eventsourcing.App) {
	t.Helper()
	for i := range accounts {
		if _, err := app.Dispatch(context.Background(), bank.Open{Account: fmt.Sprint("acc-", i), Initial: initial}); err != nil {
			t.Fatal(err)
		}
	}
}

// settle waits until every requested transfer has completed or failed and
// checks the books: no money made or lost, no balance below zero, the
// projection agreeing with the aggregates.
func settle(t *testing.T, app *eventsourcing.App, balances *bank.Balances, transfers int) {
	t.Helper()
	ctx := context.Background()
	testutil.Eventually(t, 90*time.Second, func() error {
		_, completed, failed := balances.Snapshot()
		if completed+failed != transfers {
			return fmt.Errorf("%d completed, %d failed of %d", completed, failed, transfers)
		}
		return nil
	})
	var total int64
	for i := range accounts {
		agg, _, err := app.AggregateAt(ctx, bank.AccountKind, fmt.Sprint("acc-", i), eventstore.End)
		if err != nil {
			t.Fatal(err)
		}
		b := agg.(*bank.Account).Balance
		if b < 0 {
			t.Errorf("acc-%d at %d", i, b)
		}
		total += b
	}
	if total != accounts*initial {
		t.Fatalf("the bank holds %d, it was given %d", total, accounts*initial)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		got, _, _ := balances.Snapshot()
		if bank.Total(got) != accounts*initial {
			return fmt.Errorf("the projection holds %d", bank.Total(got))
		}
		return nil
	})
	_, completed, failed := balances.Snapshot()
	t.Logf("%d transfers completed, %d failed; total %d", completed, failed, total)
}

func TestTransfersKeepTotal(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	rt, _ := proc.New(proc.Config{Logger: quiet})
	defer rt.Close(context.Background())
	n, err := startNode(context.Background(), rt, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.stop()
	openAccounts(t, n.app)
	r := rand.New(rand.NewPCG(1, 2))
	const transfers = 60
	for i := range transfers {
		from, to := r.IntN(accounts), r.IntN(accounts-1)
		if to >= from {
			to++
		}
		if _, err := n.app.Dispatch(context.Background(), bank.RequestTransfer{Transfer: fmt.Sprint("t", i),
			From: fmt.Sprint("acc-", from), To: fmt.Sprint("acc-", to), Amount: int64(1 + r.IntN(700))}); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, n.app, n.balances, transfers)
}

// TestNemesisKeepsTotal runs the bank on three nodes of the fault kit that
// share one event store (PostgreSQL when GROVE_TEST_POSTGRES is set, else
// the memory store), with the transfer process manager on one node at a
// time (a lease per node), while a nemesis kills and restarts nodes and
// cuts the network. Clients dispatch transfers to random nodes and retry on
// another when one fails. After the heal every transfer completes or
// fails and the bank's total is what it was given.
func TestNemesisKeepsTotal(t *testing.T) {
	seed := faultkit.Seed(t)
	ctx := context.Background()
	c, err := faultkit.NewCluster(ctx, faultkit.ClusterConfig{Size: 3, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	stores := map[string]eventstore.Store{}
	lockers := map[string]eventstore.Locker{}
	if url, schema, ok := postgres(t); ok {
		for _, name := range c.Names() {
			s, err := pgstore.Open(ctx, pgstore.Config{URL: url, Schema: schema, MaxConns: 10, LeaseTTL: 500 * time.Millisecond, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			stores[name], lockers[name] = s, s
		}
		t.Log("on PostgreSQL")
	} else {
		s := memstore.New()
		defer s.Close()
		for _, name := range c.Names() {
			stores[name], lockers[name] = s, s.Locker(name)
		}
		t.Log("on the memory store (set GROVE_TEST_POSTGRES for PostgreSQL)")
	}

	// Each node's bank follows its incarnations: a killed node's bank
	// stops with it, a restarted one starts afresh on the new runtime.
	var mu sync.Mutex
	nodes := map[string]*node{}
	incs := map[string]int{}
	sync1 := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, name := range c.Names() {
			m, err := c.Member(name)
			if err != nil || m.Incarnation != incs[name] {
				if n := nodes[name]; n != nil {
					n.stop()
					delete(nodes, name)
				}
			}
			if err == nil && nodes[name] == nil {
				n, err := startNode(ctx, m.Runtime, stores[name], lockers[name])
				if err != nil {
					continue // the runtime closed under us; next round
				}
				nodes[name], incs[name] = n, m.Incarnation
			}
		}
	}
	sync1()
	stopSync := make(chan struct{})
	syncDone := make(chan struct{})
	go func() {
		defer close(syncDone)
		for {
			select {
			case <-stopSync:
				return
			case <-time.After(10 * time.Millisecond):
				sync1()
			}
		}
	}()
	pick := func(r *rand.Rand) *node {
		mu.Lock()
		defer mu.Unlock()
		names := c.Names()
		for range 10 {
			if n := nodes[names[r.IntN(len(names))]]; n != nil {
				return n
			}
		}
		return nil
	}
	dispatch := func(r *rand.Rand, cmd any) {
		for attempt := 0; ; attempt++ {
			n := pick(r)
			if n != nil {
				if _, err := n.app.Dispatch(ctx, cmd, eventsourcing.WithTimeout(5*time.Second)); err == nil {
					return
				} else if !errors.Is(err, proc.ErrRuntimeClosed) && attempt > 200 {
					t.Errorf("dispatch %T: %v", cmd, err)
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	{
		r := rand.New(rand.NewPCG(seed, 1))
		for i := range accounts {
			dispatch(r, bank.Open{Account: fmt.Sprint("acc-", i), Initial: initial})
		}
	}

	nem := faultkit.StartNemesis(faultkit.NemesisConfig{Seed: seed, Duration: 3 * time.Second,
		Faults: []faultkit.Fault{faultkit.FaultKill, faultkit.FaultPause, faultkit.FaultPartition}, Logf: t.Logf}, nil, c)
	const clients, perClient = 4, 15
	var wg sync.WaitGroup
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(cl)+10))
			for i := range perClient {
				from, to := r.IntN(accounts), r.IntN(accounts-1)
				if to >= from {
					to++
				}
				dispatch(r, bank.RequestTransfer{Transfer: fmt.Sprintf("t%d-%d", cl, i),
					From: fmt.Sprint("acc-", from), To: fmt.Sprint("acc-", to), Amount: int64(1 + r.IntN(600))})
				time.Sleep(time.Duration(r.IntN(40)) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	<-nem.Done()
	nem.Close()
	t.Logf("nemesis ran %d steps", len(nem.Ran()))

	// A fresh reader checks the books.
	rt, _ := proc.New(proc.Config{Logger: quiet})
	defer rt.Close(ctx)
	var store eventstore.Store
	for _, s := range stores {
		store = s
		break
	}
	checker, err := eventsourcing.New(eventsourcing.Config{Store: store, Types: bank.Types(), Runtime: rt, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	balances := bank.NewBalances()
	h, err := checker.StartHandler(ctx, eventsourcing.HandlerConfig{Name: "check-" + eventstore.NewID(), PollInterval: 20 * time.Millisecond}, balances.Handle)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	settle(t, checker, balances, clients*perClient)
	close(stopSync)
	<-syncDone
	mu.Lock()
	for _, n := range nodes {
		n.stop()
	}
	mu.Unlock()
}

func postgres(t *testing.T) (url, schema string, ok bool) {
	if testing.Short() {
		return "", "", false
	}
	url, schema = storetest.PostgresSchemaIfAvailable(t)
	return url, schema, url != ""
}

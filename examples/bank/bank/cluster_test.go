package bank_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/eventsourcing"
	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/memstore"
	"github.com/grovedev/grove/examples/bank/bank"
	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/internal/clustertest"
	"github.com/grovedev/grove/proc"
)

// clusterBank is one member's bank: its aggregates on the cluster's keyed
// processes, the transfer process manager on one member at a time.
type clusterBank struct {
	host *eventsourcing.ClusterHost
	app  *eventsourcing.App
	pm   *eventsourcing.Process
}

func (b *clusterBank) Close() error {
	b.pm.Close()
	return b.host.Close()
}

// TestClusterNemesisKeepsTotal runs the bank with its accounts and
// transfers on the keyed processes of a three-member cluster (one store),
// while a nemesis kills and restarts members, pauses them and cuts the
// network; clients dispatch to random members and retry elsewhere, with the
// same command id, when one fails. After the heal every transfer completes
// or fails, and the bank's total is what it was given.
func TestClusterNemesisKeepsTotal(t *testing.T) {
	seed := faultkit.Seed(t)
	store := memstore.New()
	defer store.Close()
	var mu sync.Mutex
	banks := map[int]*clusterBank{}
	h := clustertest.Start(t, clustertest.Config{
		Size: 3, Seed: seed,
		Register: bank.RegisterTypes,
		Setup: func(m *clustertest.Member) (clustertest.Service, error) {
			host, err := eventsourcing.NewClusterHost(m.Cluster, eventsourcing.ClusterHostConfig{Store: store, Types: bank.Types(), Shards: 4})
			if err != nil {
				return nil, err
			}
			b := &clusterBank{host: host}
			if b.app, err = eventsourcing.New(eventsourcing.Config{Store: store, Types: bank.Types(), Host: host, Logger: quiet}); err == nil {
				err = bank.Routes(b.app)
			}
			if err == nil {
				b.pm, err = b.app.StartProcess(context.Background(), bank.TransferProcess(eventsourcing.HandlerConfig{
					Locker: store.Locker(m.Name), PollInterval: 20 * time.Millisecond}))
			}
			if err != nil {
				host.Close()
				return nil, err
			}
			mu.Lock()
			banks[m.Index] = b
			mu.Unlock()
			return b, nil
		},
	})
	pick := func(r *rand.Rand) *eventsourcing.App {
		running := h.Running()
		if len(running) == 0 {
			return nil
		}
		m := running[r.IntN(len(running))]
		mu.Lock()
		defer mu.Unlock()
		if b := banks[m.Index]; b != nil && b == m.Service {
			return b.app
		}
		return nil
	}
	ctx := context.Background()
	dispatch := func(r *rand.Rand, id string, cmd any) {
		for attempt := 0; ; attempt++ {
			if app := pick(r); app != nil {
				_, err := app.Dispatch(ctx, cmd, eventsourcing.WithTimeout(5*time.Second),
					eventsourcing.WithMetadata(eventsourcing.Metadata{eventsourcing.MetaCommandID: id}))
				if err == nil {
					return
				}
				if attempt > 100 && !errors.Is(err, proc.ErrRuntimeClosed) {
					t.Errorf("dispatch %T: %v", cmd, err)
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	{
		r := rand.New(rand.NewPCG(seed, 1))
		for i := range accounts {
			dispatch(r, fmt.Sprint("open-", i), bank.Open{Account: fmt.Sprint("acc-", i), Initial: initial})
		}
	}
	steps := faultkit.Schedule(faultkit.NemesisConfig{Seed: seed, Nodes: h.Hosts(), Duration: 4 * time.Second, Hold: time.Second,
		Faults: []faultkit.Fault{faultkit.FaultKill, faultkit.FaultPause, faultkit.FaultPartition}})
	nemDone := make(chan struct{})
	go func() {
		defer close(nemDone)
		h.RunSchedule(ctx, steps, t.Logf)
	}()
	const clients, perClient = 4, 15
	var wg sync.WaitGroup
	for cl := range clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(cl)+10))
			for i := range perClient {
				from, to := r.IntN(accounts), r.IntN(accounts-1)
				if to >= from {
					to++
				}
				id := fmt.Sprintf("t%d-%d", cl, i)
				dispatch(r, "request-"+id, bank.RequestTransfer{Transfer: id,
					From: fmt.Sprint("acc-", from), To: fmt.Sprint("acc-", to), Amount: int64(1 + r.IntN(600))})
				time.Sleep(time.Duration(r.IntN(60)) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	<-nemDone
	// Members killed by the schedule were restarted by it; wait for the
	// cluster to be whole again.
	h.WaitConverged(60 * time.Second)

	// A fresh reader checks the books.
	rt, _ := proc.New(proc.Config{Logger: quiet})
	defer rt.Close(ctx)
	checker, err := eventsourcing.New(eventsourcing.Config{Store: store, Types: bank.Types(), Runtime: rt, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	balances := bank.NewBalances()
	hd, err := checker.StartHandler(ctx, eventsourcing.HandlerConfig{Name: "check", PollInterval: 20 * time.Millisecond}, balances.Handle)
	if err != nil {
		t.Fatal(err)
	}
	defer hd.Close()
	settle(t, checker, balances, clients*perClient)
	// Every command was applied once: no event id twice in the store.
	evs, err := store.ReadAll(ctx, 0, 1<<20, eventstore.Forward)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range evs {
		if ids[e.ID] {
			t.Fatalf("event %s (%s@%d) stored twice", e.ID, e.StreamID, e.Version)
		}
		ids[e.ID] = true
	}
}

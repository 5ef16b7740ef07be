package faultkit_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/faultkit/check"
	"github.com/grovedev/grove/faultkit/history"
	"github.com/grovedev/grove/proc"
)

// A register store: one process holding a map, the simplest linearizable
// service, reached by clients on other nodes.
type (
	kvRead struct{ Key string }
	kvPut  struct {
		Key   string
		Value int
	}
	kvCAS struct {
		Key      string
		Old, New int
	}
)

func registerKV(r *codec.Registry) error {
	return errors.Join(
		codec.Register[kvRead](r, "faultkit.test.kvRead"),
		codec.Register[kvPut](r, "faultkit.test.kvPut"),
		codec.Register[kvCAS](r, "faultkit.test.kvCAS"),
	)
}

type kvStore struct {
	proc.Base
	m map[string]int
}

func (s *kvStore) HandleCall(_ *proc.Process, _ proc.From, req any) (any, error) {
	switch r := req.(type) {
	case kvRead:
		return s.m[r.Key], nil
	case kvPut:
		s.m[r.Key] = r.Value
		return true, nil
	case kvCAS:
		if s.m[r.Key] != r.Old {
			return false, nil
		}
		s.m[r.Key] = r.New
		return true, nil
	}
	return nil, proc.ErrUnhandled
}

// client runs operations against the store until stop is closed,
// recording them. After an unknown outcome it continues as a new process,
// as its earlier operation may still be in flight.
func client(rt *proc.Runtime, store proc.Dest, rec *history.Recorder, id int, seed uint64, stop <-chan struct{}) {
	r := rand.New(rand.NewPCG(seed, uint64(id)))
	process := id * 1000
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		key := fmt.Sprintf("k%d", r.IntN(2))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		var err error
		switch r.IntN(3) {
		case 0:
			op := rec.Invoke(process, "read", key, nil)
			var v int
			v, err = proc.Call[int](ctx, rt, store, kvRead{key})
			op.Complete(v, err, nil)
		case 1:
			v := id*100000 + n
			op := rec.Invoke(process, "write", key, v)
			_, err = proc.Call[bool](ctx, rt, store, kvPut{key, v})
			op.Complete(nil, err, nil)
		case 2:
			old, v := r.IntN(3), id*100000+n
			op := rec.Invoke(process, "cas", key, check.CAS{Old: old, New: v})
			var ok bool
			ok, err = proc.Call[bool](ctx, rt, store, kvCAS{key, old, v})
			switch {
			case err == nil && ok:
				op.OK(nil)
			case err == nil:
				op.Fail(errors.New("cas did not match"))
			default:
				op.Info(err)
			}
		}
		cancel()
		if err != nil {
			process++
			// Back off a little when the store is unreachable; this paces
			// the workload, it does not wait for a condition.
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
}

// TestScenarioRegisterStoreLinearizableUnderNemesis: clients on two nodes
// use a register store on a third while a seeded nemesis breaks the
// network; the recorded history must be linearizable, unknown outcomes
// included.
func TestScenarioRegisterStoreLinearizableUnderNemesis(t *testing.T) {
	seed := faultkit.Seed(t)
	ctx := context.Background()
	c, err := faultkit.NewCluster(ctx, faultkit.ClusterConfig{Size: 3, Seed: seed, Register: registerKV})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	names := c.Names()
	if _, err := c.Runtime(names[0]).Spawn(&kvStore{m: map[string]int{}}, proc.WithName("kv")); err != nil {
		t.Fatal(err)
	}
	store := proc.NodeName{Node: names[0], Name: "kv"}

	rec := history.NewRecorder()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, n := range []string{names[1], names[1], names[2], names[2]} {
		wg.Go(func() { client(c.Runtime(n), store, rec, i+1, seed, stop) })
	}
	nem := faultkit.StartNemesis(faultkit.NemesisConfig{Seed: seed, Duration: time.Second, Logf: t.Logf}, nil, c)
	<-nem.Done()
	close(stop)
	wg.Wait()
	if err := nem.Close(); err != nil {
		t.Fatal(err)
	}
	h := rec.History()
	counts := map[history.Kind]int{}
	for _, o := range h.Operations() {
		counts[o.Outcome()]++
	}
	t.Logf("%d operations: %d ok, %d fail, %d unknown", len(h.Operations()), counts[history.OK], counts[history.Fail], counts[history.Info])
	res := check.RequireLinearizable(t, h, check.Options{Initial: 0, Timeout: 20 * time.Second})
	t.Log(res)
}

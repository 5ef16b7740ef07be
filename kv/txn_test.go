package kv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
)

// TestTxnTransfersConserveTotal moves amounts between accounts with
// multi-key transactions from every member at once: each transaction
// compares the versions it read and writes two keys. Were a transaction
// applied in part, or on a stale read, the total would change; the
// conflicts refused prove that the comparisons are checked.
func TestTxnTransfersConserveTotal(t *testing.T) {
	c := newKVCluster(t, 31, 3, 3)
	defer c.close()
	accounts := []string{"acct/a", "acct/b", "acct/c", "acct/d"}
	const start = 100
	var first *Store
	testutil.Eventually(t, 30*time.Second, func() error {
		l, _ := c.leader()
		if l == nil {
			return errors.New("no leader")
		}
		first = l.store()
		return nil
	})
	init := Txn{}
	for _, a := range accounts {
		init.If = append(init.If, Compare{Key: a, Version: 0})
		init.Then = append(init.Then, Op{Key: a, Value: []byte(strconv.Itoa(start))})
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := first.Txn(ctx, init)
		if errors.Is(err, ErrConflict) {
			return nil // an earlier attempt with an unknown outcome did it
		}
		return err
	})
	var mu sync.Mutex
	var applied, conflicts int
	var wg sync.WaitGroup
	for w, name := range c.names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(31, uint64(w)))
			s := c.nodes[name].store()
			for range 15 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				from, to := accounts[r.IntN(len(accounts))], accounts[r.IntN(len(accounts))]
				if from == to {
					cancel()
					continue
				}
				fi, err1 := s.Get(ctx, from, Linearizable)
				ti, err2 := s.Get(ctx, to, Linearizable)
				if err := errors.Join(err1, err2); err != nil {
					cancel()
					t.Logf("%s: read: %v", name, err)
					continue
				}
				fv, _ := strconv.Atoi(string(fi.Value))
				tv, _ := strconv.Atoi(string(ti.Value))
				amount := r.IntN(10)
				_, err := s.Txn(ctx, Txn{
					If:   []Compare{{Key: from, Version: fi.Version}, {Key: to, Version: ti.Version}},
					Then: []Op{{Key: from, Value: []byte(strconv.Itoa(fv - amount))}, {Key: to, Value: []byte(strconv.Itoa(tv + amount))}},
				})
				cancel()
				mu.Lock()
				switch {
				case err == nil:
					applied++
				case errors.Is(err, ErrConflict):
					conflicts++
				default:
					t.Logf("%s: transfer: %v", name, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d transfers applied, %d refused on a version conflict", applied, conflicts)
	if applied == 0 {
		t.Fatal("no transfer applied")
	}
	// Every member ends with the same accounts, summing to the start.
	testutil.Eventually(t, 30*time.Second, func() error {
		var want string
		for _, name := range c.names {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			total, seen := 0, ""
			for _, a := range accounts {
				it, err := c.nodes[name].store().Get(ctx, a, Linearizable)
				if err != nil {
					cancel()
					return fmt.Errorf("%s: %s: %v", name, a, err)
				}
				v, _ := strconv.Atoi(string(it.Value))
				total += v
				seen += fmt.Sprintf("%s=%d@%d ", a, v, it.Version)
			}
			cancel()
			if total != start*len(accounts) {
				t.Fatalf("%s: total %d, want %d: %s", name, total, start*len(accounts), seen)
			}
			if want == "" {
				want = seen
			} else if seen != want {
				return fmt.Errorf("%s sees %s, another %s", name, seen, want)
			}
		}
		return nil
	})
	// A transaction whose comparison fails writes nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	before, err := first.Get(ctx, accounts[0], Linearizable)
	if err != nil {
		t.Fatal(err)
	}
	_, err = first.Txn(ctx, Txn{If: []Compare{{Key: accounts[1], Version: 1 << 40}}, Then: []Op{{Key: accounts[0], Value: []byte("0")}}})
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Key != accounts[1] {
		t.Fatalf("failed comparison: %v, want a ConflictError on %s", err, accounts[1])
	}
	if after, err := first.Get(ctx, accounts[0], Linearizable); err != nil || after.Version != before.Version {
		t.Fatalf("after a refused transaction: %+v %v, want version %d", after, err, before.Version)
	}
}

package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/pgstore"
	"github.com/grovedev/grove/eventstore/storetest"
	"github.com/grovedev/grove/internal/pgserver"
)

// TestServerKilledDuringAppends starts a PostgreSQL server of its own,
// kills its postmaster with SIGKILL while eight writers append, restarts it
// (crash recovery from the write-ahead log), and checks that every
// acknowledged event survived, once, where its append said.
func TestServerKilledDuringAppends(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server of its own")
	}
	bin, err := pgserver.FindBin()
	if err != nil {
		if os.Getenv("GROVE_TEST_POSTGRES_REQUIRED") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := pgserver.Start(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	open := func() *pgstore.Store {
		s, err := pgstore.Open(ctx, pgstore.Config{URL: srv.URL(), Schema: "crash", MaxConns: 12, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	acked := map[string]storetest.Acked{}
	var maxPos uint64
	for round := range 2 {
		s := open()
		var mu sync.Mutex
		n := 0
		killed := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stream := fmt.Sprintf("w-%d", w)
				var v uint64
				if info, err := s.StreamInfo(ctx, stream); err == nil {
					v = info.Version
				}
				for i := 0; ; i++ {
					batch := make([]eventstore.EventData, 1+i%5)
					for k := range batch {
						batch[k] = eventstore.EventData{ID: fmt.Sprintf("r%d-w%d-%d-%d", round, w, i, k), Type: "T"}
					}
					r, err := s.Append(ctx, stream, eventstore.Exact(v), batch...)
					if err != nil {
						select {
						case <-killed:
							return // outcome unknown: neither acknowledged nor counted
						default:
						}
						if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
							t.Errorf("writer %d: %v", w, err)
							return
						}
						continue
					}
					v = r.Streams[0].Version
					mu.Lock()
					for k, e := range batch {
						acked[e.ID] = storetest.Acked{Stream: stream, Version: v - uint64(len(batch)-1-k)}
					}
					maxPos = max(maxPos, r.Position)
					n++
					if n == 150+100*round {
						once.Do(func() {
							if err := srv.Kill(ctx); err != nil {
								t.Error(err)
							}
							close(killed)
						})
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		s.Close()
		t.Logf("round %d: killed the server after %d acknowledged appends", round, n)
		if err := srv.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		s = open()
		storetest.VerifyAcked(t, s, acked, maxPos)
		s.Close()
	}
}

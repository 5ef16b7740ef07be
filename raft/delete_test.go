package raft

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/raft/internal/logstore"
)

// TestDeleteRacesWrites deletes a group while commands stream into it, so
// that batches holding its entries are still open or being written: once
// Delete returns, nothing of the group may be left in the log, and a new
// group of the same name starts empty.
func TestDeleteRacesWrites(t *testing.T) {
	tc := newTestCluster(t, 1, 21, Config{})
	name := tc.fk.Names()[0]
	h := tc.host(name)
	for round := range 5 {
		c := tc.startGroup("g", []string{name})[name]
		tc.leader("g", []string{name})
		g := h.Group("g")
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := g.Command(ctx, addCmd(1))
					cancel()
					if errors.Is(err, ErrStopped) {
						return
					}
				}
			}()
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			if v := c.value(); v < 100 {
				return fmt.Errorf("%d commands applied", v)
			}
			return nil
		})
		if err := g.Delete(); err != nil {
			t.Fatalf("round %d: delete: %v", round, err)
		}
		close(stop)
		wg.Wait()
		if gs, err := h.Groups(); err != nil || len(gs) != 0 {
			t.Fatalf("round %d: groups after delete: %v %v", round, gs, err)
		}
	}
	tc.kill(name)
	s, err := logstore.Open(filepath.Join(tc.fk.DataDir(name), "raft"), logstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.Log(groupID("g"))
	if err != nil {
		t.Fatal(err)
	}
	last, _ := l.LastIndex()
	if hs := l.HardState(); last != 0 || hs.GetTerm() != 0 || l.Meta() != nil || l.SnapshotMetadata() != nil {
		t.Fatalf("deleted group left last index %d, hard state %v, meta %q, snapshot %v", last, hs, l.Meta(), l.SnapshotMetadata())
	}
}

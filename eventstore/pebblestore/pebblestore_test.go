package pebblestore_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/pebblestore"
	"github.com/grovedev/grove/eventstore/storetest"
)

func open(t *testing.T, dir string) *pebblestore.Store {
	t.Helper()
	s, err := pebblestore.Open(pebblestore.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store { return open(t, t.TempDir()) })
}

func TestCrashChild(t *testing.T) {
	storetest.CrashChild(t, func(t *testing.T) eventstore.Store { return open(t, os.Getenv("PEBBLESTORE_CRASH_DIR")) })
}

// TestKillDuringAppends kills a real child process with SIGKILL while eight
// writers append, three times over, and checks the store after each.
func TestKillDuringAppends(t *testing.T) {
	dir := t.TempDir()
	storetest.RunCrash(t, storetest.CrashConfig{
		ChildTest: "TestCrashChild",
		Env:       []string{"PEBBLESTORE_CRASH_DIR=" + dir},
		Open:      func(t *testing.T) eventstore.Store { return open(t, dir) },
		Seed:      uint64(time.Now().UnixNano()),
	})
}

// TestReopen checks that events, streams, snapshots, checkpoints and the
// head survive a close, and that positions are never reused, even after the
// last events were hard-deleted.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	a1, err := s.Append(ctx, "a", eventstore.NoStream, eventstore.EventData{ID: "a-1", Type: "T", Data: []byte("1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Link(ctx, "l", eventstore.NoStream, a1.Position); err != nil {
		t.Fatal(err)
	}
	r, err := s.Append(ctx, "b", eventstore.NoStream, eventstore.EventData{Type: "T"}, eventstore.EventData{Type: "T"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "b", eventstore.Any, eventstore.HardDelete); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCheckpoint(ctx, "p", 2); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(ctx, eventstore.Snapshot{Stream: "a", Version: 1, Type: "S", Data: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	// The stream record's last ID survives: a repeat expecting Any is
	// recognised after the restart.
	if rr, err := s.Append(ctx, "a", eventstore.Any, eventstore.EventData{ID: "a-1", Type: "T", Data: []byte("1")}); err != nil || rr.Position != a1.Position {
		t.Fatalf("repeat after reopen %+v %v", rr, err)
	}
	if l, err := s.ReadStream(ctx, "l", 0, 10, eventstore.Forward); err != nil || len(l) != 1 || l[0].ID != "a-1" || l[0].OriginalStreamID != "a" {
		t.Fatalf("link after reopen %+v %v", l, err)
	}
	r2, err := s.Append(ctx, "a", eventstore.Exact(1), eventstore.EventData{Type: "T", Data: []byte("2")})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Position <= r.Position {
		t.Fatalf("position %d reused (was %d before the hard delete)", r2.Position, r.Position)
	}
	got, err := s.ReadStream(ctx, "a", 0, 10, eventstore.Forward)
	if err != nil || len(got) != 2 || string(got[0].Data) != "1" || string(got[1].Data) != "2" {
		t.Fatalf("stream after reopen %+v %v", got, err)
	}
	if p, ok, err := s.LoadCheckpoint(ctx, "p"); p != 2 || !ok || err != nil {
		t.Fatalf("checkpoint %d %v %v", p, ok, err)
	}
	if snap, err := s.LoadSnapshot(ctx, "a"); err != nil || string(snap.Data) != "s" {
		t.Fatalf("snapshot %+v %v", snap, err)
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := pebblestore.Open(pebblestore.Config{}); err == nil {
		t.Fatal("no Dir accepted")
	}
	if _, err := pebblestore.Open(pebblestore.Config{Dir: t.TempDir(), MaxBatchEvents: -1}); err == nil {
		t.Fatal("negative MaxBatchEvents accepted")
	}
}

// BenchmarkAppend50Writers is the embedded_append_eps_50w figure's load:
// 50 writers, each appending batches of 100 events to a stream of its own
// with an exact expectation. b.N counts appends.
func BenchmarkAppend50Writers(b *testing.B) {
	s, err := pebblestore.Open(pebblestore.Config{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	payload := []byte(`{"account":"0123456789","amount":4200,"currency":"EUR","note":"benchmark event"}`)
	var next atomic.Int64
	b.SetParallelism(max(1, 50/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		stream := fmt.Sprintf("w-%d", next.Add(1))
		var v uint64
		evs := make([]eventstore.EventData, 100)
		for pb.Next() {
			for i := range evs {
				evs[i] = eventstore.EventData{ID: eventstore.NewID(), Type: "Deposited", Data: payload}
			}
			r, err := s.Append(context.Background(), stream, eventstore.Exact(v), evs...)
			if err != nil {
				b.Error(err)
				return
			}
			v = r.Streams[0].Version
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

// TestReadStreamAcrossIndexEntries reads a stream whose appends hold 1 to
// 10 events each (one index entry per append) from every version, in both
// directions, with every limit, and after a reopen, against the versions
// expected; a hard delete then removes every event of the ranges.
func TestReadStreamAcrossIndexEntries(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	n := 0
	for _, k := range []int{1, 5, 3, 10, 1, 2} {
		evs := make([]eventstore.EventData, k)
		for i := range evs {
			evs[i] = eventstore.EventData{Type: "T", Data: []byte(fmt.Sprint(n + i + 1))}
		}
		if _, err := s.Append(ctx, "r", eventstore.Exact(uint64(n)), evs...); err != nil {
			t.Fatal(err)
		}
		// Another stream between, so positions and versions differ.
		if _, err := s.Append(ctx, "other", eventstore.Any, eventstore.EventData{Type: "T"}); err != nil {
			t.Fatal(err)
		}
		n += k
	}
	check := func() {
		for from := uint64(0); from <= uint64(n)+1; from++ {
			for limit := 1; limit <= n+1; limit++ {
				for _, dir := range []eventstore.Direction{eventstore.Forward, eventstore.Backward} {
					var want []string
					if dir == eventstore.Forward {
						for v := max(from, 1); v <= uint64(n) && len(want) < limit; v++ {
							want = append(want, fmt.Sprint(v))
						}
					} else {
						for v := min(from, uint64(n)); v >= 1 && len(want) < limit; v-- {
							want = append(want, fmt.Sprint(v))
						}
					}
					got, err := s.ReadStream(ctx, "r", from, limit, dir)
					if err != nil {
						t.Fatal(err)
					}
					var gotD []string
					for _, e := range got {
						if string(e.Data) != fmt.Sprint(e.Version) {
							t.Fatalf("version %d holds %q", e.Version, e.Data)
						}
						gotD = append(gotD, string(e.Data))
					}
					if fmt.Sprint(gotD) != fmt.Sprint(want) {
						t.Fatalf("%v from %d limit %d: %v, want %v", dir, from, limit, gotD, want)
					}
				}
			}
		}
		if got, _ := s.ReadStream(ctx, "r", eventstore.End, 3, eventstore.Backward); len(got) != 3 || got[0].Version != uint64(n) {
			t.Fatalf("backward from the end: %+v", got)
		}
	}
	check()
	s.Close()
	s = open(t, dir)
	defer s.Close()
	check()
	if err := s.Delete(ctx, "r", eventstore.Any, eventstore.HardDelete); err != nil {
		t.Fatal(err)
	}
	all, err := s.ReadAll(ctx, 0, 1000, eventstore.Forward)
	if err != nil || len(all) != 6 {
		t.Fatalf("$all after the hard delete: %d events %v, want the 6 of the other stream", len(all), err)
	}
	for _, e := range all {
		if e.StreamID != "other" {
			t.Fatalf("left behind: %+v", e)
		}
	}
}

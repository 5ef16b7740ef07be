// Package storetest is the conformance suite every eventstore.Store backend
// passes: expected versions, atomic multi-stream appends, reads in both
// directions, deletion, snapshots, checkpoints, the change signal, and
// concurrency properties (no wrong expected version accepted, no event of
// $all skipped by a tailing reader while writers race).
//
// # Usage
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) eventstore.Store { return newStore(t) })
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/internal/testutil"
	"pgregory.net/rapid"
)

// Factory returns a fresh, empty store, closed by the suite when the test
// ends (t.Cleanup may close it again: Close must be idempotent).
type Factory func(t *testing.T) eventstore.Store

// Run runs the whole suite.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		f    func(*testing.T, Factory)
	}{
		{"AppendAndReadStream", testAppendAndReadStream},
		{"ExpectedVersions", testExpectedVersions},
		{"MultiStreamAtomic", testMultiStreamAtomic},
		{"Invalid", testInvalid},
		{"ReadAll", testReadAll},
		{"StreamInfo", testStreamInfo},
		{"SoftDelete", testSoftDelete},
		{"HardDelete", testHardDelete},
		{"Snapshots", testSnapshots},
		{"Checkpoints", testCheckpoints},
		{"Watch", testWatch},
		{"Upcasters", testUpcasters},
		{"LargeAppendToNewStream", testLargeAppend},
		{"ConcurrentExactWriters", testConcurrentExact},
		{"TailingReaderMissesNothing", testTailingReader},
		{"WrongExpectedVersionNeverAccepted", testRapidExpected},
		{"IdempotentAppend", testIdempotentAppend},
		{"Link", testLink},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, newStore) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, f Factory) eventstore.Store {
	s := f(t)
	t.Cleanup(func() { s.Close() })
	return s
}

func ev(typ string, data string) eventstore.EventData {
	return eventstore.EventData{Type: typ, Data: []byte(data), Metadata: []byte(`{"m":1}`)}
}

func evs(n int, prefix string) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = ev("T", fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, exp eventstore.ExpectedVersion, e ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	r, err := s.Append(ctxT(t), stream, exp, e...)
	if err != nil {
		t.Fatalf("append %d to %s (expected %v): %v", len(e), stream, exp, err)
	}
	return r
}

func datas(es []eventstore.RecordedEvent) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e.Data)
	}
	return out
}

func versions(es []eventstore.RecordedEvent) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Version
	}
	return out
}

func testAppendAndReadStream(t *testing.T, f Factory) {
	s := open(t, f)
	ctx := ctxT(t)
	r := mustAppend(t, s, "acc-1", eventstore.NoStream, ev("Opened", "a"), ev("Deposited", "b"))
	if len(r.Streams) != 1 || r.Streams[0] != (eventstore.StreamVersion{Stream: "acc-1", Version: 2}) || r.Position == 0 {
		t.Fatalf("result %+v", r)
	}
	mustAppend(t, s, "acc-1", eventstore.Exact(2), ev("Deposited", "c"))
	got, err := s.ReadStream(ctx, "acc-1", 0, 100, eventstore.Forward)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "c"}; !slices.Equal(datas(got), want) {
		t.Fatalf("forward %v, want %v", datas(got), want)
	}
	for i, e := range got {
		if e.Version != uint64(i+1) || e.StreamID != "acc-1" || e.ID == "" || string(e.Metadata) != `{"m":1}` || e.Created.IsZero() {
			t.Fatalf("event %d: %+v", i, e)
		}
		if i > 0 && e.Position <= got[i-1].Position {
			t.Fatalf("positions not increasing: %d after %d", e.Position, got[i-1].Position)
		}
	}
	if got[0].Type != "Opened" {
		t.Fatalf("type %q", got[0].Type)
	}
	back, err := s.ReadStream(ctx, "acc-1", eventstore.End, 2, eventstore.Backward)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"c", "b"}; !slices.Equal(datas(back), want) {
		t.Fatalf("backward %v, want %v", datas(back), want)
	}
	mid, err := s.ReadStream(ctx, "acc-1", 2, 10, eventstore.Forward)
	if err != nil || !slices.Equal(versions(mid), []uint64{2, 3}) {
		t.Fatalf("from 2: %v %v", versions(mid), err)
	}
	mid, err = s.ReadStream(ctx, "acc-1", 2, 10, eventstore.Backward)
	if err != nil || !slices.Equal(versions(mid), []uint64{2, 1}) {
		t.Fatalf("back from 2: %v %v", versions(mid), err)
	}
	past, err := s.ReadStream(ctx, "acc-1", 9, 10, eventstore.Forward)
	if err != nil || len(past) != 0 {
		t.Fatalf("past the end: %v %v", past, err)
	}
	if _, err := s.ReadStream(ctx, "nope", 0, 10, eventstore.Forward); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("missing stream: %v", err)
	}
	// An ID given by the caller is kept.
	mustAppend(t, s, "acc-2", eventstore.Any, eventstore.EventData{ID: "my-id", Type: "X"})
	got, _ = s.ReadStream(ctx, "acc-2", 0, 1, eventstore.Forward)
	if len(got) != 1 || got[0].ID != "my-id" || len(got[0].Data) != 0 {
		t.Fatalf("caller's id: %+v", got)
	}
}

func testExpectedVersions(t *testing.T, f Factory) {
	s := open(t, f)
	ctx := ctxT(t)
	wrong := func(stream string, exp eventstore.ExpectedVersion, actual uint64) {
		t.Helper()
		_, err := s.Append(ctx, stream, exp, ev("T", "x"))
		var ve *eventstore.VersionError
		if !errors.Is(err, eventstore.ErrWrongExpectedVersion) || !errors.As(err, &ve) {
			t.Fatalf("append to %s expecting %v: %v, want wrong expected version", stream, exp, err)
		}
		if ve.Stream != stream || ve.Actual != actual {
			t.Fatalf("version error %+v, want stream %s actual %d", ve, stream, actual)
		}
	}
	wrong("s", eventstore.StreamExists, 0)
	wrong("s", eventstore.Exact(1), 0)
	mustAppend(t, s, "s", eventstore.NoStream, ev("T", "1"))
	wrong("s", eventstore.NoStream, 1)
	wrong("s", eventstore.Exact(2), 1)
	mustAppend(t, s, "s", eventstore.StreamExists, ev("T", "2"))
	mustAppend(t, s, "s", eventstore.Any, ev("T", "3"))
	mustAppend(t, s, "s", eventstore.Exact(3), ev("T", "4"), ev("T", "5"))
	wrong("s", eventstore.Exact(3), 5)
	mustAppend(t, s, "t", eventstore.Any, ev("T", "1"))
	got, err := s.ReadStream(ctx, "s", 0, 100, eventstore.Forward)
	if err != nil || !slices.Equal(datas(got), []string{"1", "2", "3", "4", "5"}) {
		t.Fatalf("stream %v %v", datas(got), err)
	}
	if _, err := s.Append(ctx, "s", eventstore.ExpectedVersion(-7), ev("T", "x")); !errors.Is(err, eventstore.ErrInvalid) {
		t.Fatalf("bad expectation: %v", err)
	}
}

func testMultiStreamAtomic(t *testing.T, f Factory) {
	s := open(t, f)
	ctx := ctxT(t)
	mustAppend(t, s, "b", eventstore.NoStream, ev("T", "b1"))
	_, err := s.AppendMulti(ctx,
		eventstore.StreamAppend{Stream: "a", Expected: eventstore.NoStream, Events: evs(3, "a")},
		eventstore.StreamAppend{Stream: "b", Expected: eventstore.NoStream, Events: evs(1, "b")})
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("want wrong expected version, got %v", err)
	}
	if _, err := s.ReadStream(ctx, "a", 0, 10, eventstore.Forward); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("stream a was written by a failed append: %v", err)
	}
	all, _ := s.ReadAll(ctx, 0, 100, eventstore.Forward)
	if len(all) != 1 {
		t.Fatalf("$all holds %d events after a failed append", len(all))
	}
	r, err := s.AppendMulti(ctx,
		eventstore.StreamAppend{Stream: "a", Expected: eventstore.NoStream, Events: evs(3, "a")},
		eventstore.StreamAppend{Stream: "b", Expected: eventstore.Exact(1), Events: evs(2, "b")})
	if err != nil {
		t.Fatal(err)
	}
	want := []eventstore.StreamVersion{{Stream: "a", Version: 3}, {Stream: "b", Version: 3}}
	if !slices.Equal(r.Streams, want) {
		t.Fatalf("result %+v, want %+v", r.Streams, want)
	}
	all, _ = s.ReadAll(ctx, 0, 100, eventstore.Forward)
	if len(all) != 6 || all[len(all)-1].Position != r.Position {
		t.Fatalf("$all %d events, last %d, result position %d", len(all), all[len(all)-1].Position, r.Position)
	}
}

func testInvalid(t *testing.T, f Factory) {
	s := open(t, f)
	ctx := ctxT(t)
	for _, stream := range []string{"", "$all", "$x", "a\x00b", strings.Repeat("x", eventstore.MaxStreamIDBytes+1)} {
		if _, err := s.Append(ctx, stream, eventstore.Any, ev("T", "x")); !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("stream %.20q: %v, want ErrInvalid", stream, err)
		}
	}
	if _, err := s.Append(ctx, "s", eventstore.Any); !errors.Is(err, eventstore.ErrInvalid) {
		t.Errorf("no events: %v", err)
	}
	if _, err := s.Append(ctx, "s", eventstore.Any, eventstore.EventData{}); !errors.Is(err, eventstore.ErrInvalid) {
		t.Errorf("no type: %v", err)
	}
	if _, err := s.AppendMulti(ctx, eventstore.StreamAppend{Stream: "s", Expected: eventstore.Any, Events: evs(1, "x")},
		eventstore.StreamAppend{Stream: "s", Expected: eventstore.Any, Events: evs(1, "x")}); !errors.Is(err, eventstore.ErrInvalid) {
		t.Errorf("same stream twice: %v", err)
	}
	if _, err := s.AppendMulti(ctx); !errors.Is(err, eventstore.ErrInvalid) {
		t.Errorf("empty multi append: %v", err)
	}
	if _, err := s.StreamInfo(ctx, "s"); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Errorf("an invalid append wrote something: %v", err)
	}
	// Unusual but valid names and payloads round-trip.
	odd := "ström/ü 🙂 'quoted' \"x\""
	data := []byte{0, 1, 2, 255, 0}
	mustAppend(t, s, odd, eventstore.NoStream, eventstore.EventData{Type: "Ünïcode", Data: data})
	got, err := s.ReadStream(ctx, odd, 0, 1, eventstore.Forward)
	if err != nil || len(got) != 1 || !slices.Equal(got[0].Data, data) || got[0].Type != "Ünïcode" {
		t.Fatalf("odd name: %+v %v", got, err)
	}
}

func testReadAll(t *testing.T, f Factory) {
	s := open(t, f)
	ctx := ctxT(t)
	if h, err := s.Head(ctx); err != nil || h != 0 {
		t.Fatalf("head of an empty store %d %v", h, err)
	}
	if all, err := s.ReadAll(ctx, 0, 10, eventstore.Forward); err != nil || len(all) != 0 {
		t.Fatalf("empty $all: %v %v", all, err)
	}
	for i := range 10 {
		mustAppend(t, s, fmt.Sprintf("s-%d", i%3), eventstore.Any, ev("T", fmt.Sprint(i)))
	}
	all, err := s.ReadAll(ctx, 0, 100, eventstore.Forward)
	if err != nil || len(all) != 10 {
		t.Fatalf("$all %d %v", len(all), err)
	}
	for i, e := range all {
		if string(e.Data) != fmt.Sprint(i) {
			t.Fatalf("$all[%d] = %s", i, e.Data)
		}
	}
	h, _ := s.Head(ctx)
	if h != all[9].Position {
		t.Fatalf("head %d, last position %d", h, all[9].Position)
	}
	page, _ := s.ReadAll(ctx, all[3].Position, 3, eventstore.Forward)
	if !slices.Equal(datas(page), []string{"3", "4", "5"}) {
		t.Fatalf("page %v", datas(page))
	}
	back, _ := s.ReadAll(ctx, eventstore.End, 3, eventstore.Backward)
	if !slices.Equal(datas(back), []string{"9", "8", "7"}) {
		t.Fatalf("backward %v", datas(back))
	}
	back, _ = s.ReadAll(ctx, all[2].Position, 10, eventstore.Backward)
	if !slices.Equal(datas(back), []string{"2", "1", "0"}) {
		t.Fatalf("backward from 3rd %v", datas(back))
	}
	// Paging forward from last+1 visits everything once.
	var seen []string
	for from := uint64(0); ; {
		p, err := s.ReadAll(ctx, from, 4, eventstore.Forward)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) == 0 {
			break
		}
		seen = append(seen, datas(p)...)
		from = p[len(p)-1].Position + 1
	}
	if len(seen) != 10 {
		t.Fatalf("paging saw %v", seen)
	}
}

func testStreamInfo(t *testing.T, f Factory) {
	s := open(t, f)
	ctx := ctxT(t)
	mustAppend(t, s, "i", eventstore.Any, evs(4, "i")...)
	info, err := s.StreamInfo(ctx, "i")
	if err != nil || info.Stream != "i" || info.Version != 4 || info.Deleted || info.Created.IsZero() {
		t.Fatalf("info %+v %v", info, err)
	}
	if time.Since(info.Created) > time.Hour || time.Until(info.Created) > time.Minute {
		t.Fatalf("created %v", info.Created)
	}
}

func testSoftDelete(t *testing.T, f Factory) {
	s := open(t, f)
	ctx := ctxT(t)
	mustAppend(t, s, "d", eventstore.Any, evs(2, "d")...)
	mustAppend(t, s, "keep", eventstore.Any, evs(1, "k")...)
	if err := s.Delete(ctx, "d", eventstore.Exact(1), eventstore.SoftDelete); !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("delete at the wrong version: %v", err)
	}
	if err := s.Delete(ctx, "d", eventstore.Exact(2), eventstore.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadStream(ctx, "d", 0, 10, eventstore.Forward); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("read of a deleted stream: %v", err)
	}
	if _, err := s.Append(ctx, "d", eventstore.Any, ev("T", "x")); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("append to a deleted stream: %v", err)
	}
	if err := s.Delete(ctx, "d", eventstore.Any, eventstore.SoftDelete); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("second soft delete: %v", err)
	}
	info, err := s.StreamInfo(ctx, "d")
	if err != nil || !info.Deleted || info.Version != 2 {
		t.Fatalf("info %+v %v", info, err)
	}
	all, _ := s.ReadAll(ctx, 0, 10, eventstore.Forward)
	if len(all) != 3 {
		t.Fatalf("$all after a soft delete has %d events, want 3", len(all))
	}
	if err := s.Delete(ctx, "nope", eventstore.Any, eventstore.SoftDelete); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("delete of a missing stream: %v", err)
	}
	// A soft-deleted stream can still be hard-deleted.
	if err := s.Delete(ctx, "d", eventstore.Any, eventstore.HardDelete); err != nil {
		t.Fatal(err)
	}
	all, _ = s.ReadAll(ctx, 0, 10, eventstore.Forward)
	if len(all) != 1 {
		t.Fatalf("$all after the hard delete has %d events, want 1", len(all))
	}
}

func testHardDelete(t *testing.T, f Factory) {
	s := open(t, f)
	ctx := ctxT(t)
	mustAppend(t, s, "a", eventstore.Any, ev("T", "a1"))
	mustAppend(t, s, "h", eventstore.Any, evs(3, "h")...)
	mustAppend(t, s, "a", eventstore.Any, ev("T", "a2"))
	if err := s.SaveSnapshot(ctx, eventstore.Snapshot{Stream: "h", Version: 3, Type: "S", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "h", eventstore.StreamExists, eventstore.HardDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadStream(ctx, "h", 0, 10, eventstore.Forward); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("read after hard delete: %v", err)
	}
	if _, err := s.LoadSnapshot(ctx, "h"); !errors.Is(err, eventstore.ErrSnapshotNotFound) {
		t.Fatalf("snapshot after hard delete: %v", err)
	}
	all, _ := s.ReadAll(ctx, 0, 10, eventstore.Forward)
	if !slices.Equal(datas(all), []string{"a1", "a2"}) {
		t.Fatalf("$all after hard delete %v", datas(all))
	}
	back, _ := s.ReadAll(ctx, eventstore.End, 10, eventstore.Backward)
	if !slices.Equal(datas(back), []string{"a2", "a1"}) {
		t.Fatalf("$all backward after hard delete %v", datas(back))
	}
	r := mustAppend(t, s, "h", eventstore.NoStream, ev("T", "new"))
	if r.Streams[0].Version != 1 || r.Position <= all[1].Position {
		t.Fatalf("recreated stream %+v", r)
	}
}

func testSnapshots(t *testing.T, f Factory) {
	s := open(t, f)
	ctx := ctxT(t)
	if _, err := s.LoadSnapshot(ctx, "x"); !errors.Is(err, eventstore.ErrSnapshotNotFound) {
		t.Fatalf("missing snapshot: %v", err)
	}
	for v := uint64(1); v <= 3; v++ {
		if err := s.SaveSnapshot(ctx, eventstore.Snapshot{Stream: "x", Version: v, Type: "State", Data: []byte(fmt.Sprint(v))}); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := s.LoadSnapshot(ctx, "x")
	if err != nil || snap.Version != 3 || snap.Type != "State" || string(snap.Data) != "3" || snap.Stream != "x" || snap.Created.IsZero() {
		t.Fatalf("snapshot %+v %v", snap, err)
	}
	if err := s.DeleteSnapshot(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadSnapshot(ctx, "x"); !errors.Is(err, eventstore.ErrSnapshotNotFound) {
		t.Fatalf("deleted snapshot: %v", err)
	}
	if err := s.DeleteSnapshot(ctx, "x"); err != nil {
		t.Fatalf("deleting a missing snapshot: %v", err)
	}
}

func testCheckpoints(t *testing.T, f Factory) {
	s := open(t, f)
	cp, ok := s.(eventstore.Checkpoints)
	if !ok {
		t.Skip("the store keeps no checkpoints")
	}
	ctx := ctxT(t)
	if p, ok, err := cp.LoadCheckpoint(ctx, "proj"); err != nil || ok || p != 0 {
		t.Fatalf("missing checkpoint %d %v %v", p, ok, err)
	}
	for _, p := range []uint64{5, 9, 7} {
		if err := cp.SaveCheckpoint(ctx, "proj", p); err != nil {
			t.Fatal(err)
		}
	}
	if p, ok, err := cp.LoadCheckpoint(ctx, "proj"); err != nil || !ok || p != 7 {
		t.Fatalf("checkpoint %d %v %v", p, ok, err)
	}
}

func testWatch(t *testing.T, f Factory) {
	s := open(t, f)
	ch, cancel := s.Watch()
	defer cancel()
	// Drain a signal the store may give at start.
	select {
	case <-ch:
	default:
	}
	mustAppend(t, s, "w", eventstore.Any, ev("T", "x"))
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("no change signal after an append")
	}
	cancel()
	cancel()
}

func testUpcasters(t *testing.T, f Factory) {
	s := eventstore.WithUpcasters(open(t, f), eventstore.Upcasters{
		"V1": func(e eventstore.RecordedEvent) (eventstore.RecordedEvent, error) {
			e.Type, e.Data = "V2", append(e.Data, "+v2"...)
			return e, nil
		},
		"V2": func(e eventstore.RecordedEvent) (eventstore.RecordedEvent, error) {
			e.Type, e.Data = "V3", append(e.Data, "+v3"...)
			return e, nil
		},
		"Bad": func(e eventstore.RecordedEvent) (eventstore.RecordedEvent, error) {
			return e, errors.New("cannot")
		},
	})
	ctx := ctxT(t)
	mustAppend(t, s, "u", eventstore.Any, ev("V1", "a"), ev("V2", "b"), ev("Other", "c"))
	got, err := s.ReadStream(ctx, "u", 0, 10, eventstore.Forward)
	if err != nil || !slices.Equal(datas(got), []string{"a+v2+v3", "b+v3", "c"}) || got[0].Type != "V3" {
		t.Fatalf("upcast stream %v %v", datas(got), err)
	}
	all, err := s.ReadAll(ctx, 0, 10, eventstore.Forward)
	if err != nil || !slices.Equal(datas(all), []string{"a+v2+v3", "b+v3", "c"}) {
		t.Fatalf("upcast $all %v %v", datas(all), err)
	}
	mustAppend(t, s, "u", eventstore.Any, ev("Bad", "x"))
	if _, err := s.ReadStream(ctx, "u", 0, 10, eventstore.Forward); err == nil {
		t.Fatal("a failing upcaster did not fail the read")
	}
}

func testLargeAppend(t *testing.T, f Factory) {
	s := open(t, f)
	const n = 5000
	r := mustAppend(t, s, "big", eventstore.NoStream, evs(n, "big")...)
	if r.Streams[0].Version != n {
		t.Fatalf("version %d", r.Streams[0].Version)
	}
	got, err := s.ReadStream(ctxT(t), "big", 0, n+1, eventstore.Forward)
	if err != nil || len(got) != n || string(got[n-1].Data) != fmt.Sprintf("big-%d", n-1) {
		t.Fatalf("read %d %v", len(got), err)
	}
}

// testConcurrentExact races writers that all expect the version they last
// read: exactly one wins each version.
func testConcurrentExact(t *testing.T, f Factory) {
	s := open(t, f)
	ctx := ctxT(t)
	const writers, rounds = 8, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := map[uint64]string{}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				var v uint64
				if info, err := s.StreamInfo(ctx, "race"); err == nil {
					v = info.Version
				}
				data := fmt.Sprintf("w%d-%d", w, i)
				r, err := s.Append(ctx, "race", eventstore.Exact(v), ev("T", data))
				if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if prev, dup := won[r.Streams[0].Version]; dup {
					t.Errorf("version %d won twice: %s and %s", r.Streams[0].Version, prev, data)
				}
				won[r.Streams[0].Version] = data
				mu.Unlock()
				if r.Streams[0].Version != v+1 {
					t.Errorf("expected %d, got version %d", v, r.Streams[0].Version)
				}
			}
		}()
	}
	wg.Wait()
	got, err := s.ReadStream(ctx, "race", 0, writers*rounds+1, eventstore.Forward)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(won) {
		t.Fatalf("stream has %d events, %d appends won", len(got), len(won))
	}
	for _, e := range got {
		if won[e.Version] != string(e.Data) {
			t.Fatalf("version %d holds %s, the winner was %s", e.Version, e.Data, won[e.Version])
		}
	}
}

// testTailingReader has readers follow $all from the last position they
// saw while writers append to many streams at once (and in multi-stream
// appends); every reader must end up with every event exactly once, in
// position order, with each stream's versions in order.
func testTailingReader(t *testing.T, f Factory) {
	s := open(t, f)
	ctx := ctxT(t)
	const writers, perWriter = 8, 40
	var wg sync.WaitGroup
	var maxMu sync.Mutex
	var maxPos uint64 // the highest position an append returned
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				var err error
				var r eventstore.AppendResult
				if i%5 == 4 {
					r, err = s.AppendMulti(ctx,
						eventstore.StreamAppend{Stream: fmt.Sprintf("t-%d", w), Expected: eventstore.Any, Events: evs(1, fmt.Sprintf("w%d-%d", w, i))},
						eventstore.StreamAppend{Stream: fmt.Sprintf("m-%d", w), Expected: eventstore.Any, Events: evs(1, fmt.Sprintf("m%d-%d", w, i))})
				} else {
					r, err = s.Append(ctx, fmt.Sprintf("t-%d", w), eventstore.Any, evs(1+i%3, fmt.Sprintf("w%d-%d", w, i))...)
				}
				if err != nil {
					t.Error(err)
					return
				}
				maxMu.Lock()
				maxPos = max(maxPos, r.Position)
				maxMu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	const readers = 3
	results := make([][]eventstore.RecordedEvent, readers)
	var rwg sync.WaitGroup
	for r := range readers {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			var from uint64
			for {
				finished := false
				select {
				case <-done:
					finished = true
				default:
				}
				page, err := s.ReadAll(ctx, from, 1+r*7, eventstore.Forward)
				if err != nil {
					t.Error(err)
					return
				}
				results[r] = append(results[r], page...)
				if len(page) > 0 {
					from = page[len(page)-1].Position + 1
				} else if finished {
					return
				}
			}
		}()
	}
	wg.Wait()
	// Every append has returned; once the head has reached the last of
	// them, the readers stop at their first empty page.
	testutil.Eventually(t, 30*time.Second, func() error {
		h, err := s.Head(ctx)
		if err != nil || h < maxPos {
			return fmt.Errorf("head %d (%v), last append at %d", h, err, maxPos)
		}
		return nil
	})
	close(done)
	rwg.Wait()
	var all []eventstore.RecordedEvent
	for from := uint64(0); ; {
		page, err := s.ReadAll(ctx, from, 500, eventstore.Forward)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		from = page[len(page)-1].Position + 1
	}
	for r, got := range results {
		if len(got) != len(all) {
			t.Fatalf("reader %d saw %d events, $all has %d", r, len(got), len(all))
		}
		for i := range got {
			if got[i].Position != all[i].Position || got[i].ID != all[i].ID {
				t.Fatalf("reader %d event %d: position %d id %s, $all has %d %s", r, i, got[i].Position, got[i].ID, all[i].Position, all[i].ID)
			}
		}
	}
	last := map[string]uint64{}
	for _, e := range all {
		if e.Version != last[e.StreamID]+1 {
			t.Fatalf("$all has %s@%d after %s@%d", e.StreamID, e.Version, e.StreamID, last[e.StreamID])
		}
		last[e.StreamID] = e.Version
	}
}

// testRapidExpected is the property: under concurrent writers with random
// expectations, an append is accepted only if its expectation held, and the
// stored streams are exactly the accepted appends' events, in version order.
func testRapidExpected(t *testing.T, f Factory) {
	s := open(t, f)
	ctx := ctxT(t)
	round := 0
	rapid.Check(t, func(rt *rapid.T) {
		round++
		streams := []string{fmt.Sprintf("p%d", round), fmt.Sprintf("q%d", round), fmt.Sprintf("r%d", round)}
		nw := rapid.IntRange(2, 6).Draw(rt, "writers")
		type op struct {
			stream string
			exp    eventstore.ExpectedVersion
			n      int
			multi  string // a second stream, expected Any
			retry  bool   // send the same append (same event IDs) twice
		}
		plans := make([][]op, nw)
		for w := range plans {
			k := rapid.IntRange(1, 6).Draw(rt, "ops")
			for range k {
				o := op{
					stream: rapid.SampledFrom(streams).Draw(rt, "stream"),
					n:      rapid.IntRange(1, 3).Draw(rt, "n"),
				}
				switch rapid.IntRange(0, 4).Draw(rt, "kind") {
				case 0:
					o.exp = eventstore.Any
				case 1:
					o.exp = eventstore.NoStream
				case 2:
					o.exp = eventstore.StreamExists
				default:
					o.exp = eventstore.Exact(uint64(rapid.IntRange(0, 8).Draw(rt, "v")))
				}
				if rapid.IntRange(0, 3).Draw(rt, "multi") == 0 {
					for _, m := range streams {
						if m != o.stream {
							o.multi = m
							break
						}
					}
				}
				o.retry = o.multi == "" && rapid.IntRange(0, 2).Draw(rt, "retry") == 0
				plans[w] = append(plans[w], o)
			}
		}
		type accepted struct {
			exp  eventstore.ExpectedVersion
			ver  uint64 // stream version after the append
			ids  []string
			main bool
		}
		var mu sync.Mutex
		acc := map[string][]accepted{}
		rejected := map[string]bool{}
		var wg sync.WaitGroup
		for w, plan := range plans {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i, o := range plan {
					main := evs(o.n, fmt.Sprintf("w%d-%d", w, i))
					req := []eventstore.StreamAppend{{Stream: o.stream, Expected: o.exp, Events: main}}
					var extra []eventstore.EventData
					if o.multi != "" {
						extra = evs(1, fmt.Sprintf("x%d-%d", w, i))
						req = append(req, eventstore.StreamAppend{Stream: o.multi, Expected: eventstore.Any, Events: extra})
					}
					for j := range req {
						for k := range req[j].Events {
							req[j].Events[k].ID = fmt.Sprintf("%s/%d/%d/%d", req[j].Stream, w, i, k)
						}
					}
					r, err := s.AppendMulti(ctx, req...)
					if o.retry {
						// A repeat of an accepted append with an exact
						// expectation answers as the first did and writes
						// nothing; with Any or StreamExists it may write the
						// events again if another writer came between (the
						// documented limit), and is then one more accepted
						// append. A repeat of a rejected one is judged anew.
						r2, err2 := s.AppendMulti(ctx, req...)
						exact := o.exp != eventstore.Any && o.exp != eventstore.StreamExists
						switch {
						case err == nil && err2 != nil:
							t.Errorf("repeat of an accepted append: %v", err2)
						case err == nil && exact && !slices.Equal(r2.Streams, r.Streams):
							t.Errorf("repeat expecting %v answered %+v, the first %+v", o.exp, r2, r)
						case err == nil && !slices.Equal(r2.Streams, r.Streams):
							a := accepted{exp: o.exp, ver: r2.Streams[0].Version, main: true}
							for _, e := range main {
								a.ids = append(a.ids, e.ID)
							}
							mu.Lock()
							acc[o.stream] = append(acc[o.stream], a)
							mu.Unlock()
						case err != nil:
							r, err = r2, err2
						}
					}
					mu.Lock()
					switch {
					case err == nil:
						for j, sv := range r.Streams {
							a := accepted{exp: req[j].Expected, ver: sv.Version, main: j == 0}
							for _, e := range req[j].Events {
								a.ids = append(a.ids, e.ID)
							}
							acc[sv.Stream] = append(acc[sv.Stream], a)
						}
					case errors.Is(err, eventstore.ErrWrongExpectedVersion):
						for _, rq := range req {
							for _, e := range rq.Events {
								rejected[e.ID] = true
							}
						}
					default:
						t.Errorf("append: %v", err)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for _, st := range streams {
			got, err := s.ReadStream(ctx, st, 0, 1000, eventstore.Forward)
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				got, err = nil, nil
			}
			if err != nil {
				rt.Fatal(err)
			}
			at := map[uint64]string{}
			for _, e := range got {
				at[e.Version] = e.ID
				if rejected[e.ID] {
					rt.Fatalf("rejected event %s stored in %s at %d", e.ID, st, e.Version)
				}
			}
			total := 0
			for _, a := range acc[st] {
				first := a.ver - uint64(len(a.ids)) + 1
				before := first - 1
				if !a.exp.Check(before) {
					rt.Fatalf("%s: append expecting %v accepted at version %d", st, a.exp, before)
				}
				for k, id := range a.ids {
					if at[first+uint64(k)] != id {
						rt.Fatalf("%s@%d holds %q, the accepted append wrote %q", st, first+uint64(k), at[first+uint64(k)], id)
					}
				}
				total += len(a.ids)
			}
			if total != len(got) {
				rt.Fatalf("%s holds %d events, accepted appends wrote %d", st, len(got), total)
			}
		}
	})
}

func testClosed(t *testing.T, f Factory) {
	s := f(t)
	mustAppend(t, s, "c", eventstore.Any, ev("T", "x"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	ctx := ctxT(t)
	if _, err := s.Append(ctx, "c", eventstore.Any, ev("T", "x")); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := s.Link(ctx, "d", eventstore.Any, 1); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("link after close: %v", err)
	}
	if _, err := s.ReadAll(ctx, 0, 1, eventstore.Forward); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	ch, cancel := s.Watch()
	defer cancel()
	testutil.Eventually(t, 10*time.Second, func() error {
		select {
		case _, ok := <-ch:
			if !ok {
				return nil
			}
		default:
		}
		return errors.New("watch channel of a closed store still open")
	})
}

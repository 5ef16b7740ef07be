package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/grovedev/grove/eventstore"
)

func idEv(id, data string) eventstore.EventData {
	return eventstore.EventData{ID: id, Type: "T", Data: []byte(data)}
}

func ids(es []eventstore.RecordedEvent) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func streamLen(t *testing.T, s eventstore.Store, stream string) int {
	t.Helper()
	got, err := s.ReadStream(ctxT(t), stream, 0, 1000, eventstore.Forward)
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	return len(got)
}

// testIdempotentAppend: an append repeated with the same event IDs and the
// same expectation writes nothing and answers as the first did; one that
// is partly stored fails with ErrDuplicateEvent and writes nothing.
func testIdempotentAppend(t *testing.T, f Factory) {
	s := open(t, f)
	ctx := ctxT(t)
	first := mustAppend(t, s, "s", eventstore.NoStream, idEv("a", "1"), idEv("b", "2"))
	head, _ := s.Head(ctx)
	again := mustAppend(t, s, "s", eventstore.NoStream, idEv("a", "1"), idEv("b", "2"))
	if again.Streams[0].Version != 2 || again.Position != first.Position {
		t.Fatalf("repeat answered %+v, first %+v", again, first)
	}
	if h, _ := s.Head(ctx); h != head || streamLen(t, s, "s") != 2 {
		t.Fatalf("a repeat wrote: head %d (was %d), %d events", h, head, streamLen(t, s, "s"))
	}
	third := mustAppend(t, s, "s", eventstore.Exact(2), idEv("c", "3"))
	if r := mustAppend(t, s, "s", eventstore.Exact(2), idEv("c", "3")); r.Streams[0].Version != 3 || r.Position != third.Position {
		t.Fatalf("exact repeat %+v, first %+v", r, third)
	}
	// An older append is still recognised at its own versions.
	if r := mustAppend(t, s, "s", eventstore.NoStream, idEv("a", "1"), idEv("b", "2")); r.Streams[0].Version != 2 || r.Position != first.Position {
		t.Fatalf("old repeat %+v", r)
	}
	fourth := mustAppend(t, s, "s", eventstore.Any, idEv("d", "4"))
	for _, exp := range []eventstore.ExpectedVersion{eventstore.Any, eventstore.StreamExists, eventstore.Exact(3)} {
		if r := mustAppend(t, s, "s", exp, idEv("d", "4")); r.Streams[0].Version != 4 || r.Position != fourth.Position {
			t.Fatalf("repeat expecting %v: %+v, first %+v", exp, r, fourth)
		}
	}
	if r := mustAppend(t, s, "s", eventstore.Any, idEv("c", "3"), idEv("d", "4")); r.Streams[0].Version != 4 || r.Position != fourth.Position {
		t.Fatalf("tail repeat %+v", r)
	}
	if n := streamLen(t, s, "s"); n != 4 {
		t.Fatalf("stream has %d events after repeats, want 4", n)
	}
	// Partly stored: refused, nothing written.
	for _, tc := range []struct {
		exp eventstore.ExpectedVersion
		evs []eventstore.EventData
	}{
		{eventstore.NoStream, []eventstore.EventData{idEv("x", ""), idEv("b", "")}},
		{eventstore.Any, []eventstore.EventData{idEv("x", ""), idEv("d", "")}},
		{eventstore.Exact(1), []eventstore.EventData{idEv("b", ""), idEv("y", ""), idEv("d", "")}},
	} {
		if _, err := s.Append(ctx, "s", tc.exp, tc.evs...); !errors.Is(err, eventstore.ErrDuplicateEvent) {
			t.Fatalf("partly stored append expecting %v: %v, want ErrDuplicateEvent", tc.exp, err)
		}
	}
	// Other IDs at the expected versions: a wrong version as usual.
	if _, err := s.Append(ctx, "s", eventstore.Exact(2), idEv("z", "")); !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("other ids at version 3: %v", err)
	}
	// Multi-stream: all streams found is a repeat, some is refused.
	m := []eventstore.StreamAppend{
		{Stream: "u", Expected: eventstore.NoStream, Events: []eventstore.EventData{idEv("u1", "")}},
		{Stream: "w", Expected: eventstore.NoStream, Events: []eventstore.EventData{idEv("w1", ""), idEv("w2", "")}},
	}
	mr, err := s.AppendMulti(ctx, m...)
	if err != nil {
		t.Fatal(err)
	}
	mr2, err := s.AppendMulti(ctx, m...)
	if err != nil || !slices.Equal(mr2.Streams, mr.Streams) || mr2.Position != mr.Position {
		t.Fatalf("multi repeat %+v %v, first %+v", mr2, err, mr)
	}
	if _, err := s.AppendMulti(ctx,
		eventstore.StreamAppend{Stream: "s", Expected: eventstore.Exact(3), Events: []eventstore.EventData{idEv("d", "")}},
		eventstore.StreamAppend{Stream: "v", Expected: eventstore.NoStream, Events: []eventstore.EventData{idEv("v1", "")}},
	); !errors.Is(err, eventstore.ErrDuplicateEvent) {
		t.Fatalf("multi append with one stream stored: %v", err)
	}
	if _, err := s.StreamInfo(ctx, "v"); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("refused multi append wrote stream v: %v", err)
	}
	all, _ := s.ReadAll(ctx, 0, 100, eventstore.Forward)
	if want := []string{"a", "b", "c", "d", "u1", "w1", "w2"}; !slices.Equal(ids(all), want) {
		t.Fatalf("$all %v, want %v", ids(all), want)
	}
}

// testLink: link_to_stream.
func testLink(t *testing.T, f Factory) {
	s := open(t, f)
	ctx := ctxT(t)
	o1 := mustAppend(t, s, "orders-1", eventstore.NoStream, idEv("o1", "d1"), idEv("o2", "d2"))
	o3 := mustAppend(t, s, "orders-2", eventstore.NoStream, idEv("o3", "d3"))
	o1All, _ := s.ReadStream(ctx, "orders-1", 0, 10, eventstore.Forward)
	p1, p2, p3 := o1All[0].Position, o1.Position, o3.Position
	r, err := s.Link(ctx, "by-customer", eventstore.NoStream, p1, p3)
	if err != nil {
		t.Fatal(err)
	}
	if r.Streams[0] != (eventstore.StreamVersion{Stream: "by-customer", Version: 2}) || r.Position != max(p1, p3) {
		t.Fatalf("link result %+v", r)
	}
	got, err := s.ReadStream(ctx, "by-customer", 0, 10, eventstore.Forward)
	if err != nil || len(got) != 2 {
		t.Fatalf("read links %+v %v", got, err)
	}
	e := got[0]
	if e.ID != "o1" || string(e.Data) != "d1" || e.Type != "T" || e.Position != p1 || e.StreamID != "by-customer" || e.Version != 1 ||
		e.OriginalStreamID != "orders-1" || e.OriginalVersion != 1 || !e.IsLink() || e.Created.IsZero() {
		t.Fatalf("link 1 reads %+v", e)
	}
	if e := got[1]; e.ID != "o3" || e.Position != p3 || e.Version != 2 || e.OriginalStreamID != "orders-2" || e.OriginalVersion != 1 {
		t.Fatalf("link 2 reads %+v", e)
	}
	if o1All[0].IsLink() {
		t.Fatalf("an event read where it was appended reads as a link: %+v", o1All[0])
	}
	back, _ := s.ReadStream(ctx, "by-customer", eventstore.End, 10, eventstore.Backward)
	if !slices.Equal(ids(back), []string{"o3", "o1"}) {
		t.Fatalf("backward %v", ids(back))
	}
	if info, err := s.StreamInfo(ctx, "by-customer"); err != nil || info.Version != 2 {
		t.Fatalf("info %+v %v", info, err)
	}
	// $all holds each event once, at its own position, and no link.
	all, _ := s.ReadAll(ctx, 0, 100, eventstore.Forward)
	if !slices.Equal(ids(all), []string{"o1", "o2", "o3"}) {
		t.Fatalf("$all %v", ids(all))
	}
	for _, e := range all {
		if e.IsLink() {
			t.Fatalf("$all holds a link: %+v", e)
		}
	}
	// A repeated link is idempotent; expectations hold as for appends.
	if r2, err := s.Link(ctx, "by-customer", eventstore.NoStream, p1, p3); err != nil || r2.Streams[0].Version != 2 {
		t.Fatalf("repeated link %+v %v", r2, err)
	}
	if _, err := s.Link(ctx, "by-customer", eventstore.Exact(1), p2); !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("link at a wrong version: %v", err)
	}
	if _, err := s.Link(ctx, "by-customer", eventstore.Exact(2), p2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Link(ctx, "by-customer", eventstore.Any, p3+1000); !errors.Is(err, eventstore.ErrEventNotFound) {
		t.Fatalf("link to nothing: %v", err)
	}
	for _, bad := range [][]uint64{nil, {0}, {p1, p1}} {
		if _, err := s.Link(ctx, "by-customer", eventstore.Any, bad...); !errors.Is(err, eventstore.ErrInvalid) {
			t.Fatalf("link %v: %v", bad, err)
		}
	}
	if _, err := s.Link(ctx, eventstore.AllStream, eventstore.Any, p1); !errors.Is(err, eventstore.ErrInvalid) {
		t.Fatalf("link into $all: %v", err)
	}
	// Events and links mix in one stream.
	mustAppend(t, s, "by-customer", eventstore.Exact(3), idEv("note", "n"))
	got, _ = s.ReadStream(ctx, "by-customer", 0, 10, eventstore.Forward)
	if !slices.Equal(ids(got), []string{"o1", "o3", "o2", "note"}) || !slices.Equal(versions(got), []uint64{1, 2, 3, 4}) || got[3].IsLink() {
		t.Fatalf("mixed stream %v %v", ids(got), versions(got))
	}
	// A soft-deleted event's stream keeps its events in $all: the link reads.
	if err := s.Delete(ctx, "orders-1", eventstore.Any, eventstore.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if n := streamLen(t, s, "by-customer"); n != 4 {
		t.Fatalf("links after a soft delete of the original: %d", n)
	}
	if _, err := s.Link(ctx, "again", eventstore.NoStream, p1); err != nil {
		t.Fatalf("link to an event of a soft-deleted stream: %v", err)
	}
	// Hard-deleting the original makes its link a gap.
	if err := s.Delete(ctx, "orders-2", eventstore.Any, eventstore.HardDelete); err != nil {
		t.Fatal(err)
	}
	got, _ = s.ReadStream(ctx, "by-customer", 0, 10, eventstore.Forward)
	if !slices.Equal(versions(got), []uint64{1, 3, 4}) {
		t.Fatalf("after the original's hard delete: versions %v", versions(got))
	}
	if _, err := s.Link(ctx, "again", eventstore.Any, p3); !errors.Is(err, eventstore.ErrEventNotFound) {
		t.Fatalf("link to a hard-deleted event: %v", err)
	}
	// Hard-deleting the stream of links removes the links, not the events.
	if err := s.Delete(ctx, "by-customer", eventstore.Any, eventstore.HardDelete); err != nil {
		t.Fatal(err)
	}
	all, _ = s.ReadAll(ctx, 0, 100, eventstore.Forward)
	if !slices.Equal(ids(all), []string{"o1", "o2"}) {
		t.Fatalf("$all after deleting the links' stream %v", ids(all))
	}
	if got, err := s.ReadStream(ctx, "again", 0, 10, eventstore.Forward); err != nil || !slices.Equal(ids(got), []string{"o1"}) {
		t.Fatalf("other links %v %v", ids(got), err)
	}
}

package cluster

import (
	"io"
	"slices"
	"testing"
	"time"
)

// The table is exercised without any network: observations in, events out.

var t0 = time.Unix(1700000000, 0)

func wm(creation, inc uint64) wireMeta {
	return wireMeta{Creation: creation, Incarnation: inc, Addr: "10.0.0.2:4370"}
}

// authedTable returns a table of self in which peers have proved their
// names already.
func authedTable(self string, peers ...string) *table {
	tb := newTable(self)
	for _, p := range peers {
		tb.authenticated(p, t0)
	}
	return tb
}

func kinds(evs []Event) []EventKind {
	var out []EventKind
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

func expect(t *testing.T, got []Event, want ...EventKind) {
	t.Helper()
	if !slices.Equal(kinds(got), want) {
		t.Fatalf("events %v, want %v", kinds(got), want)
	}
}

func TestTableLifecycle(t *testing.T) {
	tb := authedTable("a", "b", "c", "d")
	expect(t, tb.alive("a", "10.0.0.1:7946", wm(1, 1), t0), EventJoined)
	expect(t, tb.alive("b", "10.0.0.2:7946", wm(5, 5), t0), EventJoined)
	expect(t, tb.alive("b", "10.0.0.2:7946", wm(5, 5), t0)) // nothing new
	expect(t, tb.link("b", true, 0, t0))                    // alive already
	expect(t, tb.link("b", false, 0, t0), EventSuspected)
	expect(t, tb.link("b", true, 0, t0), EventUpdated)
	w := wm(5, 6)
	w.Meta.Region = "eu"
	expect(t, tb.alive("b", "10.0.0.2:7946", w, t0), EventUpdated)
	expect(t, tb.alive("b", "10.0.0.2:7946", wm(5, 5), t0)) // older description ignored
	expect(t, tb.gone("b", t0), EventFailed)
	expect(t, tb.gone("b", t0))
	if r, k := tb.counts(); r != 1 || k != 2 || hasQuorum(r, k) {
		t.Fatalf("counts %d/%d", r, k)
	}
	// Restart: a higher creation joins again.
	expect(t, tb.alive("b", "10.0.0.2:7946", wm(9, 9), t0), EventJoined)
	if m := tb.members["b"].m; m.State != StateAlive || m.Creation != 9 || m.Meta.Region != "" {
		t.Fatalf("after restart %+v", m)
	}
	// Restart without being seen dead.
	expect(t, tb.alive("b", "10.0.0.2:7946", wm(12, 12), t0), EventJoined)
	expect(t, tb.link("a", false, 0, t0)) // the local member is never suspect
}

func TestTableLeaveIntent(t *testing.T) {
	tb := authedTable("a", "b", "c", "d")
	tb.alive("b", "g", wm(5, 5), t0)
	tb.alive("c", "g", wm(7, 7), t0)
	// Intent before the protocol's notice: left, and not suspected when
	// its links drop first.
	expect(t, tb.leaveIntent("b", 5, t0))
	expect(t, tb.link("b", false, 0, t0))
	expect(t, tb.gone("b", t0), EventLeft)
	// Notice before the intent: failed, then left.
	expect(t, tb.gone("c", t0), EventFailed)
	expect(t, tb.leaveIntent("c", 7, t0), EventLeft)
	expect(t, tb.leaveIntent("c", 7, t0))
	// An intent of an earlier life is ignored.
	tb.alive("d", "g", wm(9, 9), t0)
	expect(t, tb.leaveIntent("d", 3, t0))
	expect(t, tb.gone("d", t0), EventFailed)
	// A new life clears the old intent.
	expect(t, tb.alive("b", "g", wm(6, 6), t0), EventJoined)
	expect(t, tb.gone("b", t0), EventFailed)
	if _, k := tb.counts(); k != 2 { // b and d dead; c left does not count
		t.Fatalf("known %d", k)
	}
	// The same life back at a higher incarnation (a new Cluster after
	// Leave) fails as dead, not left.
	expect(t, tb.alive("c", "g", wm(7, 8), t0), EventJoined)
	expect(t, tb.gone("c", t0), EventFailed)
}

func TestTableConnectFailedAndReap(t *testing.T) {
	tb := authedTable("a", "b", "c", "d")
	tb.alive("a", "g", wm(1, 1), t0)
	tb.alive("b", "g", wm(5, 5), t0)
	tb.link("b", true, 0, t0)
	expect(t, tb.connectFailed("b", t0)) // linked anyway: still alive
	tb.link("b", false, 0, t0)
	tb.alive("c", "g", wm(5, 5), t0)
	expect(t, tb.connectFailed("c", t0), EventSuspected)
	tb.gone("b", t0)
	tb.alive("d", "g", wm(5, 5), t0)
	tb.leaveIntent("d", 5, t0)
	tb.gone("d", t0)
	if got := tb.reap(t0.Add(time.Minute), time.Hour, time.Minute); !slices.Equal(got, []string{"d"}) {
		t.Fatalf("reaped %v", got)
	}
	if tb.forget("c") || !tb.forget("b") {
		t.Fatal("forget")
	}
	if got := tb.list(); len(got) != 2 || got[0].Name != "a" || got[1].Name != "c" {
		t.Fatalf("list %v", got)
	}
}

func TestHasQuorum(t *testing.T) {
	for _, c := range []struct {
		r, k int
		want bool
	}{{0, 0, false}, {1, 1, true}, {1, 2, false}, {2, 3, true}, {2, 4, false}, {3, 5, true}, {2, 5, false}} {
		if got := hasQuorum(c.r, c.k); got != c.want {
			t.Errorf("hasQuorum(%d, %d) = %v", c.r, c.k, got)
		}
	}
}

func TestMetaRoundTrip(t *testing.T) {
	w := wireMeta{Creation: 1 << 62, Incarnation: 1<<62 + 3, Addr: "10.1.2.3:4370", Meta: Meta{
		Region: "eu", Zone: "eu-1", Roles: []string{"worker", "api", "api"}, Tags: map[string]string{"b": "2", "a": "1"},
	}}
	b, err := w.encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Creation != w.Creation || got.Incarnation != w.Incarnation || got.Addr != w.Addr || !got.Meta.Equal(w.Meta.clone()) {
		t.Fatalf("got %+v", got)
	}
	b2, _ := got.encode()
	if string(b) != string(b2) {
		t.Fatal("encoding is not deterministic")
	}
	for i := range b {
		if _, err := decodeMeta(b[:i]); err == nil {
			t.Fatalf("truncated to %d bytes decoded", i)
		}
	}
	if _, err := (wireMeta{Meta: Meta{Zone: string(make([]byte, 600))}}).encode(); err == nil {
		t.Fatal("600-byte meta encoded")
	}
}

func FuzzDecodeMeta(f *testing.F) {
	b, _ := wireMeta{Creation: 1, Incarnation: 2, Addr: "x", Meta: Meta{Roles: []string{"r"}, Tags: map[string]string{"k": "v"}}}.encode()
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := decodeMeta(b)
		if err != nil {
			return
		}
		if _, err := w.encode(); err != nil {
			t.Fatalf("decoded meta does not encode: %v", err)
		}
	})
}

func FuzzReadHeader(f *testing.F) {
	f.Add(appendHeader(nil, kindPackets, "10.0.0.1:7946"))
	f.Add(appendHeader(nil, kindStream, ""))
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, from, err := readHeader(bytesReader(b))
		if err != nil {
			return
		}
		if kind != kindPackets && kind != kindStream || len(from) > maxAddrLen {
			t.Fatalf("accepted kind %d from %q", kind, from)
		}
	})
}

func FuzzIntent(f *testing.F) {
	f.Add(encodeIntent("a@b", 42))
	f.Fuzz(func(t *testing.T, b []byte) {
		name, c, ok := decodeIntent(b)
		if ok && string(encodeIntent(name, c)) != string(b) && len(name) > 0 {
			// Non-minimal uvarints decode too; re-encoding must round-trip.
			if n2, c2, ok2 := decodeIntent(encodeIntent(name, c)); !ok2 || n2 != name || c2 != c {
				t.Fatal("intent does not round-trip")
			}
		}
	})
}

type sliceReader struct{ b []byte }

func bytesReader(b []byte) *sliceReader { return &sliceReader{b} }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

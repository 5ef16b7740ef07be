package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/grovedev/grove/crdt"
	"github.com/grovedev/grove/faultkit"
	"github.com/grovedev/grove/faultkit/check"
	"github.com/grovedev/grove/internal/testutil"
)

// persisted reports whether r's store holds its current state.
func persisted(r *Replica) bool {
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.store.mu.written == r.version
}

func startDataCluster(t *testing.T, size int, seed uint64) *faultkit.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := faultkit.NewCluster(ctx, faultkit.ClusterConfig{Size: size, Seed: seed, Register: RegisterTypes, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestStoreDir(t *testing.T) {
	for name, want := range map[string]string{
		"cart":    "cart",
		"a.b-c_d": "a.b-c_d",
		".":       "%2E",
		"..":      "%2E.",
		"a/../b":  "a%2F..%2Fb",
		"x y%":    "x%20y%25",
	} {
		if got := storeDir("/d", name); got != filepath.Join("/d", want) {
			t.Errorf("storeDir(%q) = %q, want %q", name, got, filepath.Join("/d", want))
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	rec := &record{typ: "*crdt.ORSet[string]", writer: "n1#x", digest: map[string]uint64{"n1#x": 7, "n2#y": 1 << 40}, state: []byte("state")}
	b := rec.encode()
	got, err := decodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.typ != rec.typ || got.writer != rec.writer || !maps.Equal(got.digest, rec.digest) || !bytes.Equal(got.state, rec.state) {
		t.Fatalf("decoded %+v, want %+v", got, rec)
	}
	for i := range b {
		bad := slices.Clone(b)
		bad[i] ^= 0x10
		if _, err := decodeRecord(bad); !errors.Is(err, errBadRecord) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	if _, err := decodeRecord(b[:len(b)-1]); !errors.Is(err, errBadRecord) {
		t.Fatalf("truncated: %v", err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add((&record{typ: "t", writer: "w", digest: map[string]uint64{"o": 1}, state: []byte{1, 2}}).encode())
	f.Add([]byte(recordMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeRecord(b)
		if err != nil {
			return
		}
		// Not byte for byte: digest order and varints may differ.
		again, err := decodeRecord(rec.encode())
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if again.typ != rec.typ || again.writer != rec.writer || !maps.Equal(again.digest, rec.digest) || !bytes.Equal(again.state, rec.state) {
			t.Fatalf("re-decoded %+v, want %+v", again, rec)
		}
	})
}

// A replica with a data dir, closed and opened again, has the same value
// and digest, under a new incarnation id.
func TestPersistCloseReopen(t *testing.T) {
	c := startCluster(t, 1, 11)
	n := c.Node(c.Names()[0])
	cfg := Config{DataDir: t.TempDir()}
	m, err := NewMap[string, int](n, "cart/1", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := m.Set(fmt.Sprint("k", i), i); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Remove("k3"); err != nil {
		t.Fatal(err)
	}
	want, wantDigest, oldID := m.All(), m.Digest(), m.ID()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "cart%2F1")); err != nil {
		t.Fatalf("store directory: %v", err)
	}

	m2, err := NewMap[string, int](n, "cart/1", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if got := m2.All(); !maps.Equal(got, want) {
		t.Fatalf("reopened: %d keys %v, want %d keys", len(got), got, len(want))
	}
	if got := m2.Digest(); !maps.Equal(got, wantDigest) || got[oldID] != 51 {
		t.Fatalf("reopened digest %v, want %v", got, wantDigest)
	}
	if m2.ID() == oldID {
		t.Fatalf("reopened replica reuses incarnation id %s", oldID)
	}
	if err := m2.Set("k3", 33); err != nil {
		t.Fatal(err)
	}
	if v, ok := m2.Get("k3"); !ok || v != 33 {
		t.Fatalf("write after reopen: %v %v", v, ok)
	}
}

// A crash loses at most the writes since the last interval's write of the
// store; with SyncEveryWrite it loses none.
func TestPersistCrashWindow(t *testing.T) {
	c := startCluster(t, 1, 12)
	n := c.Node(c.Names()[0])
	dir := t.TempDir()
	for _, tc := range []struct {
		sync bool
		want int64
	}{{false, 0}, {true, 5}} {
		name := fmt.Sprint("sync-", tc.sync)
		// No sync round runs within the test: only the write of Update
		// or Close reaches the store.
		cfg := Config{DataDir: dir, Interval: time.Hour, SyncEveryWrite: tc.sync}
		ctr, err := NewCounter(n, name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := ctr.Add(5); err != nil {
			t.Fatal(err)
		}
		if err := ctr.close(false); err != nil { // a crash: no last write
			t.Fatal(err)
		}
		ctr, err = NewCounter(n, name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := ctr.Value(); got != tc.want {
			t.Errorf("SyncEveryWrite %v: after a crash the counter is %d, want %d", tc.sync, got, tc.want)
		}
		if err := ctr.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A node killed while partitioned, with a write no peer has, restarts from
// its data dir with that write, writes again, and converges with the others.
func TestPersistKilledNodeKeepsWrites(t *testing.T) {
	c := startDataCluster(t, 3, 13)
	waitConnected(t, c)
	names := c.Names()
	n3 := names[2]
	sets := map[string]*Set[string]{}
	open := func(n string) {
		cfg := fastConfig()
		cfg.DataDir = c.DataDir(n)
		s, err := NewSet[string](c.Node(n), "s", cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		sets[n] = s
	}
	for _, n := range names {
		open(n)
	}
	view := func(n string) (any, error) {
		es := sets[n].Elements()
		slices.Sort(es)
		return es, nil
	}
	for _, e := range []string{"a", "b"} {
		if err := sets[n3].Add(e); err != nil {
			t.Fatal(err)
		}
	}
	check.EventuallyConverges(t, 10*time.Second, names, view)
	if err := sets[n3].Remove("a"); err != nil {
		t.Fatal(err)
	}
	check.EventuallyConverges(t, 10*time.Second, names, view)

	c.Network().Partition(faultkit.Isolate(names, n3))
	if err := sets[n3].Add("x"); err != nil { // acknowledged, on n3 only
		t.Fatal(err)
	}
	if err := sets[names[0]].Add("y"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if !persisted(sets[n3].Replica) {
			return errors.New("n3 has not written its store yet")
		}
		return nil
	})
	if err := c.Kill(n3); err != nil {
		t.Fatal(err)
	}
	if err := sets[n3].close(false); err != nil {
		t.Fatal(err)
	}
	if got, _ := view(names[0]); slices.Contains(got.([]string), "x") {
		t.Fatalf("x crossed the partition: %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Restart(ctx, n3); err != nil {
		t.Fatal(err)
	}
	open(n3)
	if got, _ := view(n3); !slices.Equal(got.([]string), []string{"b", "x"}) {
		t.Fatalf("restarted n3 holds %v, want [b x]", got)
	}
	if err := sets[n3].Add("d"); err != nil {
		t.Fatal(err)
	}
	c.Network().Heal()
	waitConnected(t, c)
	check.EventuallyConverges(t, 10*time.Second, names, view)
	if got, _ := view(names[0]); !slices.Equal(got.([]string), []string{"b", "d", "x", "y"}) {
		t.Fatalf("converged to %v, want [b d x y]", got)
	}
}

// A node that crashed after shipping a write it had not persisted comes
// back without it, gets it back from its peers, and its new writes are not
// mistaken for the lost one (no reuse of dots or sequence numbers).
func TestPersistCrashAfterShippingNoDotReuse(t *testing.T) {
	c := startDataCluster(t, 3, 14)
	waitConnected(t, c)
	names := c.Names()
	n3 := names[2]
	sets := map[string]*Set[string]{}
	open := func(n string, cfg Config) {
		cfg.DataDir = c.DataDir(n)
		s, err := NewSet[string](c.Node(n), "s", cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		sets[n] = s
	}
	open(names[0], fastConfig())
	open(names[1], fastConfig())
	// n3 never writes its store on its own: rounds run only when kicked.
	slow := fastConfig()
	slow.Interval = time.Hour
	open(n3, slow)
	view := func(n string) (any, error) {
		es := sets[n].Elements()
		slices.Sort(es)
		return es, nil
	}
	if err := sets[n3].Add("p"); err != nil {
		t.Fatal(err)
	}
	if err := sets[n3].persist(); err != nil {
		t.Fatal(err)
	}
	if err := sets[n3].Add("q"); err != nil { // shipped, never persisted
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		sets[n3].Sync()
		for _, n := range names[:2] {
			if !sets[n].Contains("q") {
				return fmt.Errorf("%s lacks q", n)
			}
		}
		return nil
	})
	if err := c.Kill(n3); err != nil {
		t.Fatal(err)
	}
	if err := sets[n3].close(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Restart(ctx, n3); err != nil {
		t.Fatal(err)
	}
	open(n3, fastConfig())
	if got, _ := view(n3); !slices.Equal(got.([]string), []string{"p"}) {
		t.Fatalf("restarted n3 holds %v, want [p]", got)
	}
	// Written before catching up: under the old id and sequence these
	// would take the dot and the sequence number of the lost q.
	if err := sets[n3].Add("r"); err != nil {
		t.Fatal(err)
	}
	if err := sets[n3].Remove("p"); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, c)
	check.EventuallyConverges(t, 10*time.Second, names, view)
	if got, _ := view(names[0]); !slices.Equal(got.([]string), []string{"q", "r"}) {
		t.Fatalf("converged to %v, want [q r]", got)
	}
	// And the restarted node's writes are in its store.
	r3 := sets[n3]
	if err := r3.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := NewSet[string](c.Node(n3), "s", Config{DataDir: c.DataDir(n3), Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := s.Elements()
	slices.Sort(got)
	if !slices.Equal(got, []string{"q", "r"}) {
		t.Fatalf("reopened n3 holds %v, want [q r]", got)
	}
}

// A damaged or foreign store makes New fail with ErrStore.
func TestPersistCorruptStore(t *testing.T) {
	c := startCluster(t, 1, 15)
	n := c.Node(c.Names()[0])
	dir := t.TempDir()
	cfg := Config{DataDir: dir}
	write := func(name string) {
		t.Helper()
		s, err := NewSet[string](n, name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Add("e"); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	wantErr := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrStore) {
			t.Errorf("%s: New = %v, want ErrStore", what, err)
		} else {
			t.Logf("%s: %v", what, err)
		}
	}

	// A damaged pebble file.
	write("files")
	files, err := filepath.Glob(filepath.Join(dir, "files", "MANIFEST-*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no MANIFEST: %v %v", files, err)
	}
	for _, f := range files {
		if err := os.WriteFile(f, bytes.Repeat([]byte{0xa5}, 4096), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err = NewSet[string](n, "files", cfg)
	wantErr("damaged MANIFEST", err)

	// A record that does not decode, a state that does not decode, and
	// a state of another type.
	write("record")
	for what, value := range map[string][]byte{
		"garbage record": []byte("not a record"),
		"bad state":      (&record{typ: "*crdt.ORSet[string]", writer: "w", state: []byte{0xff, 0xff}}).encode(),
	} {
		db, err := pebble.Open(filepath.Join(dir, "record"), &pebble.Options{Logger: pebbleLogger{cfg.withDefaults().Logger}})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Set(stateKey, value, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		_, err = NewSet[string](n, "record", cfg)
		wantErr(what, err)
	}
	write("typed")
	_, err = NewCounter(n, "typed", cfg)
	wantErr("another type", err)
	if err == nil || !strings.Contains(err.Error(), "PNCounter") {
		t.Errorf("error does not name the type: %v", err)
	}
	r, err := New(n, "typed", crdt.NewORSet[string](), cfg)
	if err != nil {
		t.Fatalf("the right type: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// Concurrent writers with SyncEveryWrite, alongside the sync loop's own
// writes: every acknowledged write is in the store after a crash.
func TestPersistConcurrentWriters(t *testing.T) {
	c := startCluster(t, 1, 16)
	n := c.Node(c.Names()[0])
	cfg := Config{DataDir: t.TempDir(), Interval: time.Millisecond, SyncEveryWrite: true}
	ctr, err := NewCounter(n, "ctr", cfg)
	if err != nil {
		t.Fatal(err)
	}
	const writers, adds = 4, 25
	errs := make(chan error, writers)
	for range writers {
		go func() {
			for range adds {
				if err := ctr.Add(1); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := ctr.close(false); err != nil {
		t.Fatal(err)
	}
	if err := ctr.Add(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after close: %v", err)
	}
	ctr, err = NewCounter(n, "ctr", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Close()
	if got := ctr.Value(); got != writers*adds {
		t.Fatalf("after a crash: %d, want %d", got, writers*adds)
	}
}

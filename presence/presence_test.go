package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/pubsub"
)

const wait = 20 * time.Second

func eventually(t testing.TB, cond func() error) {
	t.Helper()
	testutil.Eventually(t, wait, cond)
}

var errorf = testutil.Errorf

func newLocal(t testing.TB) (*proc.Runtime, *Tracker) {
	t.Helper()
	rt, err := proc.New(proc.Config{Node: "a@test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.StartLocal(rt, pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := StartLocal(rt, ps, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tr.Close()
		ps.Close()
		rt.Close(context.Background())
	})
	return rt, tr
}

func spawnIdle(t testing.TB, rt *proc.Runtime) proc.PID {
	t.Helper()
	pid, err := rt.Spawn(proc.HandlerFunc(func(*proc.Process, any) {}))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// canon renders presences sorted, for comparisons.
func canon(ps []Presence) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprintf("%s/%s/%v=%v", p.Topic, p.Key, p.PID, p.Meta)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// mirror applies diffs to a starting list, as a client would.
type mirror struct {
	mu  sync.Mutex
	cur map[lkey]Presence
	bad error
}

func newMirror(start []Presence) *mirror {
	m := &mirror{cur: map[lkey]Presence{}}
	for _, p := range start {
		m.cur[lkey{p.Topic, p.Key, p.PID}] = p
	}
	return m
}

func (m *mirror) apply(msg *pubsub.Message) {
	d, ok := msg.Payload.(Diff)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if msg.Dropped > 0 && m.bad == nil {
		m.bad = fmt.Errorf("%d diffs dropped", msg.Dropped)
	}
	for _, p := range d.Leaves {
		k := lkey{p.Topic, p.Key, p.PID}
		if _, ok := m.cur[k]; !ok && m.bad == nil {
			m.bad = fmt.Errorf("leave of %v, which was not there", k)
		}
		delete(m.cur, k)
	}
	for _, p := range d.Joins {
		m.cur[lkey{p.Topic, p.Key, p.PID}] = p
	}
}

func (m *mirror) list() []Presence {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Presence, 0, len(m.cur))
	for _, p := range m.cur {
		out = append(out, p)
	}
	return out
}

func (m *mirror) err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bad
}

func TestTrackUpdateUntrack(t *testing.T) {
	rt, tr := newLocal(t)
	a, b := spawnIdle(t, rt), spawnIdle(t, rt)
	var diffs []Diff
	var mu sync.Mutex
	_, start, err := tr.SubscribeFunc("room", func(m *pubsub.Message) {
		mu.Lock()
		diffs = append(diffs, m.Payload.(Diff))
		mu.Unlock()
	})
	if err != nil || len(start) != 0 {
		t.Fatal(start, err)
	}
	if err := tr.Track(a, "room", "ann", "online"); err != nil {
		t.Fatal(err)
	}
	tr.Track(b, "room", "ann", "phone") // a second connection of the same user
	tr.Track(b, "room", "bob", "online")
	if err := tr.Track(a, "room", "ann", "again"); !errors.Is(err, ErrAlreadyTracked) {
		t.Fatal(err)
	}
	if tr.Count("room") != 3 || tr.CountKeys("room") != 2 || len(tr.Get("room", "ann")) != 2 {
		t.Fatalf("count %d keys %d ann %v", tr.Count("room"), tr.CountKeys("room"), tr.Get("room", "ann"))
	}
	if err := tr.Update(a, "room", "ann", "away"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Update(a, "room", "nobody", "x"); !errors.Is(err, ErrNotTracked) {
		t.Fatal(err)
	}
	if err := tr.Untrack(b, "room", "bob"); err != nil {
		t.Fatal(err)
	}
	want := canon([]Presence{{"room", "ann", a, "away"}, {"room", "ann", b, "phone"}})
	if got := canon(tr.List("room")); got != want {
		t.Fatalf("list %s, want %s", got, want)
	}
	// b's exit removes its last presence.
	rt.Exit(b, proc.ErrKill)
	eventually(t, func() error {
		if tr.Count("room") != 1 {
			return errorf("count %d", tr.Count("room"))
		}
		return nil
	})
	eventually(t, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(diffs) != 6 {
			return errorf("%d diffs", len(diffs))
		}
		return nil
	})
	mu.Lock()
	upd := diffs[3]
	mu.Unlock()
	if len(upd.Leaves) != 1 || upd.Leaves[0].Meta != "online" || len(upd.Joins) != 1 || upd.Joins[0].Meta != "away" {
		t.Fatalf("update diff %+v", upd)
	}
	if err := tr.Track(proc.PID{Node: "x@y", ID: 1}, "room", "k", nil); !errors.Is(err, ErrNotLocal) {
		t.Fatal(err)
	}
	if err := tr.Track(a, "", "k", nil); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	tr.Untrack(a, "room", "ann")
	if len(tr.Topics()) != 0 {
		t.Fatalf("topics left %v", tr.Topics())
	}
}

func TestApplyBulk(t *testing.T) {
	rt, tr := newLocal(t)
	var changes []Change
	for i := range 1000 {
		changes = append(changes, Change{Op: Track, PID: spawnIdle(t, rt), Topic: fmt.Sprintf("t%d", i%3), Key: fmt.Sprint(i), Meta: i})
	}
	changes = append(changes, Change{Op: Untrack, PID: changes[0].PID, Topic: "t0", Key: "nope"})
	err := tr.Apply(changes...)
	if !errors.Is(err, ErrNotTracked) {
		t.Fatalf("err %v", err)
	}
	if n := tr.Count("t0") + tr.Count("t1") + tr.Count("t2"); n != 1000 {
		t.Fatalf("tracked %d", n)
	}
}

// Readers never lock: lists run while writers change the topic, and each
// sees a whole version (run with -race).
func TestListDuringWrites(t *testing.T) {
	rt, tr := newLocal(t)
	var pids []proc.PID
	for i := range 2000 {
		pid := spawnIdle(t, rt)
		pids = append(pids, pid)
		tr.Track(pid, "big", fmt.Sprint(i), 0)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p := pids[i%len(pids)]
			tr.Update(p, "big", fmt.Sprint(i%len(pids)), i)
		}
	})
	for range 200 {
		l := tr.List("big")
		if len(l) != 2000 {
			t.Fatalf("list of %d", len(l))
		}
	}
	close(stop)
	wg.Wait()
}

package discovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/internal/testutil"
)

// scripted is a Strategy whose answer the test sets.
type scripted struct {
	mu    sync.Mutex
	peers []Peer
	err   error
	block bool // when set, Discover waits for its context
	calls int
}

func (s *scripted) set(err error, peers ...Peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peers, s.err = peers, err
}

func (s *scripted) Discover(ctx context.Context) ([]Peer, error) {
	s.mu.Lock()
	s.calls++
	block, peers, err := s.block, slices.Clone(s.peers), s.err
	s.mu.Unlock()
	if block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return peers, err
}

func TestPollerPartialAnswerAndRefreshedAddress(t *testing.T) {
	t.Parallel()
	s := &scripted{}
	a1 := Peer{Name: "a@h", Addr: "10.0.0.1:1"}
	s.set(nil, a1, Peer{Addr: "10.0.0.9:1"})
	p, rec := newTestPoller(t, s, PollerConfig{})
	ctx := ctxT(t)
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	// A partial answer with an error still adds its peers.
	boom := errors.New("one zone failed")
	b := Peer{Name: "b@h", Addr: "10.0.0.2:1"}
	s.set(boom, b)
	if err := p.Refresh(ctx); !errors.Is(err, boom) {
		t.Fatalf("Refresh = %v; want the strategy's error", err)
	}
	if got := rec.last().Added; !slices.Equal(got, []Peer{b}) {
		t.Fatalf("added %v; want %v", got, b)
	}
	// The same name at a new address is a refresh, not an addition.
	a2 := Peer{Name: "a@h", Addr: "10.0.0.3:1"}
	s.set(nil, a2, b)
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	u := rec.last()
	if len(u.Added) != 0 || !slices.Equal(u.Refreshed, []Peer{a2}) {
		t.Fatalf("update %+v; want only a refresh of %v", u, a2)
	}
	want := []Peer{{Addr: "10.0.0.9:1"}, a2, b}
	if !slices.Equal(u.Peers, want) || !slices.Equal(p.Peers(), want) {
		t.Fatalf("peers %v / %v; want %v", u.Peers, p.Peers(), want)
	}
	st := p.Stats()
	if st.Polls != 4 || st.Errors != 1 || st.Added != 3 || st.Refreshed != 1 || st.Known != 3 {
		t.Fatalf("stats %+v", st)
	}
	// An unchanged answer reports nothing.
	n := len(rec.all())
	if err := p.Refresh(ctx); err != nil || len(rec.all()) != n {
		t.Fatalf("unchanged answer: %v, %d new updates", err, len(rec.all())-n)
	}
}

func TestPollerIgnoresInvalidPeers(t *testing.T) {
	t.Parallel()
	s := &scripted{}
	good := Peer{Addr: "h:1"}
	s.set(nil, Peer{Addr: "no-port"}, good, Peer{Name: "bad", Addr: "h:2"})
	p, rec := newTestPoller(t, s, PollerConfig{})
	if err := p.Refresh(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := rec.last().Peers; !slices.Equal(got, []Peer{good}) {
		t.Fatalf("peers %v", got)
	}
	if st := p.Stats(); st.InvalidPeers != 4 { // two polls, two invalid peers each
		t.Fatalf("stats %+v", st)
	}
}

func TestPollerForget(t *testing.T) {
	t.Parallel()
	s := &scripted{}
	a := Peer{Name: "a@h", Addr: "h:1"}
	s.set(nil, a)
	p, rec := newTestPoller(t, s, PollerConfig{})
	ctx := ctxT(t)
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !p.Forget(Peer{Name: "a@h"}) || p.Forget(a) {
		t.Fatal("Forget: want true for a known peer, then false")
	}
	if len(p.Peers()) != 0 {
		t.Fatalf("peers after Forget: %v", p.Peers())
	}
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rec.last().Added; !slices.Equal(got, []Peer{a}) {
		t.Fatalf("found again: added %v; want %v", got, a)
	}
}

func TestPollerCloseCancelsDiscover(t *testing.T) {
	t.Parallel()
	s := &scripted{block: true}
	p, err := NewPoller(s, func(Update) {}, PollerConfig{Timeout: time.Hour, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.calls == 0 {
			return fmt.Errorf("Discover not called yet")
		}
		return nil
	})
	p.Close() // returns only once the blocked Discover has seen its context end
	p.Close()
	if err := p.Refresh(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Refresh after Close = %v; want ErrClosed", err)
	}
	if st := p.Stats(); st.Polls != 0 || st.Errors != 0 {
		t.Fatalf("a poll cut short by Close was counted: %+v", st)
	}
}

func TestPollerConcurrentClose(t *testing.T) {
	t.Parallel()
	s := &scripted{}
	s.set(nil, Peer{Addr: "h:1"})
	p, _ := newTestPoller(t, s, PollerConfig{Clock: clocktest.New(time.Unix(0, 0))})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			p.Refresh(context.Background())
			p.Close()
		})
	}
	wg.Wait()
}

func TestPollerRefreshContext(t *testing.T) {
	t.Parallel()
	s := &scripted{block: true}
	p, _ := newTestPoller(t, s, PollerConfig{Timeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Refresh(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Refresh = %v; want its context's error", err)
	}
}

func TestPollerTimeout(t *testing.T) {
	t.Parallel()
	s := &scripted{block: true}
	p, _ := newTestPoller(t, s, PollerConfig{Timeout: 10 * time.Millisecond})
	if err := p.Refresh(ctxT(t)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Refresh = %v; want the poll's deadline", err)
	}
	if p.Stats().Errors < 1 {
		t.Fatalf("timeout not counted: %+v", p.Stats())
	}
}

func TestPollerConfig(t *testing.T) {
	t.Parallel()
	if _, err := NewPoller(nil, func(Update) {}, PollerConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil strategy: %v", err)
	}
	if _, err := NewPoller(&scripted{}, nil, PollerConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil callback: %v", err)
	}
	for _, c := range []PollerConfig{{Interval: -1}, {Timeout: -1}} {
		if _, err := NewPoller(&scripted{}, func(Update) {}, c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	d := DefaultPollerConfig()
	if d.Interval != DefaultPollInterval || d.Timeout != DefaultPollTimeout || d.Clock == nil || d.Logger == nil || d.Validate() != nil {
		t.Errorf("defaults %+v", d)
	}
	if got := (PollerConfig{}).withDefaults(); got.Interval != d.Interval || got.Timeout != d.Timeout {
		t.Errorf("zero config did not take the defaults: %+v", got)
	}
}

func TestUnion(t *testing.T) {
	t.Parallel()
	a, b := &scripted{}, &scripted{}
	boom := errors.New("boom")
	a.set(boom)
	b.set(nil, Peer{Addr: "h:2"}, Peer{Addr: "h:1"})
	st, err := NewStatic(Peer{Addr: "h:1"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Union{a, b, st}.Discover(ctxT(t))
	if !errors.Is(err, boom) || !slices.Equal(addrs(got), []string{"h:1", "h:2"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := NewStatic(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("empty static: %v", err)
	}
	if _, err := NewStatic(Peer{Addr: "x"}); !errors.Is(err, ErrInvalidPeer) {
		t.Fatalf("bad static peer: %v", err)
	}
}

func TestPollerDuplicateNamesInOneAnswer(t *testing.T) {
	t.Parallel()
	s := &scripted{}
	s.set(nil, Peer{Name: "a@h", Addr: "h:2"}, Peer{Name: "a@h", Addr: "h:1"})
	p, rec := newTestPoller(t, s, PollerConfig{})
	if err := p.Refresh(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	want := []Peer{{Name: "a@h", Addr: "h:2"}}
	if u := rec.last(); !slices.Equal(u.Added, want) || len(u.Refreshed) != 0 || !slices.Equal(u.Peers, want) {
		t.Fatalf("update %+v; want one peer, added once", u)
	}
	if n := len(rec.all()); n != 1 {
		t.Fatalf("%d updates; want 1", n)
	}
}

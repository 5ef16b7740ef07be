package faultkit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/transport"
	"github.com/grovedev/grove/transport/memnet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// With ClusterConfig.Membership: memberlist's probe in progress
		// at Shutdown runs to its end (up to ProbeInterval), and
		// memberlist offers no way to wait for it.
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

// pipe returns a connection from endpoint a to endpoint b of nw, both ends
// wrapped by the fault layer.
func pipe(t *testing.T, nw *Network) (ca, cb net.Conn) {
	t.Helper()
	ctx := context.Background()
	ta, tb := nw.Endpoint("a"), nw.Endpoint("b")
	ln, err := tb.Listen(ctx, "b:1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	ca, err = ta.Dial(ctx, "b:1")
	if err != nil {
		t.Fatal(err)
	}
	cb = <-accepted
	if cb == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { ca.Close(); cb.Close() })
	return ca, cb
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", n, err, b)
	}
	return string(b)
}

// nothing asserts that nothing is readable on c for a short while. It is
// the one place the tests wait on time: absence cannot be polled for.
func nothing(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	b := make([]byte, 64)
	n, err := c.Read(b)
	if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %q, %v; want nothing", b[:n], err)
	}
}

func TestOneWayPartitionLetsBytesFlowOneWayOnly(t *testing.T) {
	nw := NewNetwork(Config{Seed: 1})
	defer nw.Close()
	ca, cb := pipe(t, nw)
	nw.Partition(OneWay("a", "b"))
	write(t, ca, "a-to-b")
	write(t, cb, "b-to-a")
	if got := readN(t, ca, 6); got != "b-to-a" {
		t.Fatalf("a read %q", got)
	}
	nothing(t, cb)
	if _, err := nw.Endpoint("a").Dial(context.Background(), "b:1"); !errors.Is(err, memnet.ErrUnreachable) {
		t.Fatalf("dial across a one-way cut: %v, want ErrUnreachable", err)
	}
	nw.Heal()
	if got := readN(t, cb, 6); got != "a-to-b" {
		t.Fatalf("after heal b read %q", got)
	}
}

func TestDropOneCutsTheStream(t *testing.T) {
	nw := NewNetwork(Config{Seed: 1})
	defer nw.Close()
	ca, cb := pipe(t, nw)
	write(t, ca, "before")
	nw.SetFaults("a", "b", Faults{Drop: 1})
	for range 3 {
		ca.Write([]byte("lost")) // the first is accepted and lost, the rest fail
	}
	if got := readN(t, cb, 6); got != "before" {
		t.Fatalf("read %q", got)
	}
	cb.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := cb.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("after the drop read %d, %v; want EOF", n, err)
	}
	if _, err := ca.Write([]byte("x")); err == nil {
		t.Fatal("write after cut succeeded")
	}
	if nw.Stats().Cut.Load() != 1 {
		t.Fatalf("cuts %d", nw.Stats().Cut.Load())
	}
}

func TestDropWholeWritesLosesOnlyThoseWrites(t *testing.T) {
	nw := NewNetwork(Config{Seed: 1})
	defer nw.Close()
	ca, cb := pipe(t, nw)
	nw.SetFaults("a", "b", Faults{Drop: 1, WholeWrites: true})
	for range 5 {
		write(t, ca, "lost")
	}
	nw.ClearFaults()
	write(t, ca, "kept")
	if got := readN(t, cb, 4); got != "kept" {
		t.Fatalf("read %q", got)
	}
	nothing(t, cb)
	if got := nw.Stats().Dropped.Load(); got != 5 {
		t.Fatalf("dropped %d", got)
	}
}

func TestDuplicateAndReorderWholeWrites(t *testing.T) {
	clk := clocktest.New(time.Unix(0, 0))
	nw := NewNetwork(Config{Seed: 1, Clock: clk})
	defer nw.Close()
	ca, cb := pipe(t, nw)
	nw.SetFaults("a", "b", Faults{Duplicate: 1, WholeWrites: true})
	write(t, ca, "d")
	if got := readN(t, cb, 2); got != "dd" {
		t.Fatalf("duplicate: read %q", got)
	}
	// With a delay on a manual clock both writes are queued before either
	// leaves, so the first is swapped with the second.
	nw.SetFaults("a", "b", Faults{Reorder: 1, Delay: time.Second, WholeWrites: true})
	write(t, ca, "1")
	write(t, ca, "2")
	clk.Advance(time.Second)
	if got := readN(t, cb, 2); got != "21" {
		t.Fatalf("reorder: read %q", got)
	}
	if err := nw.SetFaults("a", "b", Faults{Duplicate: 0.5}); !errors.Is(err, ErrInvalidFaults) {
		t.Fatalf("Duplicate without WholeWrites: %v", err)
	}
	if err := nw.SetDefaultFaults(Faults{Drop: 2}); !errors.Is(err, ErrInvalidFaults) {
		t.Fatalf("Drop 2: %v", err)
	}
}

func TestDelayOnManualClock(t *testing.T) {
	clk := clocktest.New(time.Unix(0, 0))
	nw := NewNetwork(Config{Seed: 1, Clock: clk})
	defer nw.Close()
	ca, cb := pipe(t, nw)
	nw.SetFaults("a", "b", Faults{Delay: 100 * time.Millisecond})
	write(t, ca, "late")
	testutil.Eventually(t, 5*time.Second, func() error {
		if clk.Pending() != 1 {
			return testutil.Errorf("pending timers %d", clk.Pending())
		}
		return nil
	})
	clk.Advance(99 * time.Millisecond)
	nothing(t, cb)
	clk.Advance(time.Millisecond)
	if got := readN(t, cb, 4); got != "late" {
		t.Fatalf("read %q", got)
	}
}

func TestBandwidthCap(t *testing.T) {
	clk := clocktest.New(time.Unix(0, 0))
	nw := NewNetwork(Config{Seed: 1, Clock: clk})
	defer nw.Close()
	ca, cb := pipe(t, nw)
	nw.SetFaults("a", "b", Faults{Bandwidth: 1000})
	block := bytes.Repeat([]byte("x"), 500)
	ca.Write(block) // leaves now, occupies the link for 500 ms
	ca.Write(block) // leaves at +500 ms
	if got := readN(t, cb, 500); got != string(block) {
		t.Fatal("first block")
	}
	clk.Advance(499 * time.Millisecond)
	nothing(t, cb)
	clk.Advance(time.Millisecond)
	readN(t, cb, 500)
}

func TestJitterKeepsOrder(t *testing.T) {
	nw := NewNetwork(Config{Seed: 7})
	defer nw.Close()
	ca, cb := pipe(t, nw)
	nw.SetFaults("a", "b", Faults{Delay: time.Millisecond, Jitter: 5 * time.Millisecond})
	var want []byte
	for i := range 100 {
		want = append(want, byte(i))
		ca.Write([]byte{byte(i)})
	}
	if got := readN(t, cb, 100); got != string(want) {
		t.Fatalf("order changed: %v", []byte(got))
	}
}

// received writes 200 one-byte writes under a half drop of whole writes
// and returns what arrived.
func received(t *testing.T, seed uint64) []byte {
	nw := NewNetwork(Config{Seed: seed})
	defer nw.Close()
	ca, cb := pipe(t, nw)
	nw.SetFaults("a", "b", Faults{Drop: 0.5, WholeWrites: true})
	for i := range 200 {
		ca.Write([]byte{byte(i)})
	}
	nw.ClearFaults()
	ca.Write([]byte{255})
	var got []byte
	buf := make([]byte, 256)
	cb.SetReadDeadline(time.Now().Add(5 * time.Second))
	for !bytes.HasSuffix(got, []byte{255}) {
		n, err := cb.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	return got
}

func TestSameSeedSameDrops(t *testing.T) {
	a, b, c := received(t, 42), received(t, 42), received(t, 43)
	if !bytes.Equal(a, b) {
		t.Fatalf("same seed, different losses:\n%v\n%v", a, b)
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds, same losses")
	}
	if len(a) < 50 || len(a) > 150 {
		t.Fatalf("%d of 200 arrived with drop 0.5", len(a)-1)
	}
}

func TestPauseStallsBothWaysAndSurvivesHeal(t *testing.T) {
	nw := NewNetwork(Config{Seed: 1})
	defer nw.Close()
	ca, cb := pipe(t, nw)
	nw.Pause("b")
	write(t, ca, "ping")
	write(t, cb, "pong")
	nothing(t, cb)
	nothing(t, ca)
	nw.Heal() // a partition heal does not resume a paused node
	nothing(t, cb)
	if !nw.Paused("b") {
		t.Fatal("not paused")
	}
	nw.Resume("b")
	if readN(t, cb, 4) != "ping" || readN(t, ca, 4) != "pong" {
		t.Fatal("wrong bytes after resume")
	}
}

func TestShapes(t *testing.T) {
	nodes := []string{"a", "b", "c", "d", "e"}
	hears := func(p Partition, to string) []string {
		var out []string
		for _, from := range nodes {
			if from == to || !p.Cuts(from, to) {
				out = append(out, from)
			}
		}
		return out
	}
	h := Halves(nodes)
	if !slices.Equal(hears(h, "a"), []string{"a", "b"}) || !slices.Equal(hears(h, "e"), []string{"c", "d", "e"}) {
		t.Fatalf("halves: %v", h)
	}
	iso := Isolate(nodes, "c")
	if !slices.Equal(hears(iso, "c"), []string{"c"}) || !slices.Equal(hears(iso, "a"), []string{"a", "b", "d", "e"}) {
		t.Fatalf("isolate: %v", iso)
	}
	ring := MajoritiesRing(nodes)
	seen := map[string]bool{}
	for _, n := range nodes {
		hs := hears(ring, n)
		if len(hs) != 3 {
			t.Fatalf("ring: %s hears %v, want a majority of 3", n, hs)
		}
		key := string(slices.Concat([]byte(hs[0]), []byte(hs[1]), []byte(hs[2])))
		if seen[key] {
			t.Fatalf("ring: two nodes hear the same majority %v", hs)
		}
		seen[key] = true
	}
	br := Bridge(nodes)
	if !slices.Equal(hears(br, "c"), nodes) || !slices.Equal(hears(br, "a"), []string{"a", "b", "c"}) {
		t.Fatalf("bridge: %v", br)
	}
	ow := OneWay("a", "b")
	if !ow.Cuts("a", "b") || ow.Cuts("b", "a") {
		t.Fatalf("one-way: %v", ow)
	}
}

func TestSkewClockJumpFiresTimers(t *testing.T) {
	base := clocktest.New(time.Unix(100, 0))
	c := NewSkewClock(base, time.Hour)
	if got := c.Now(); !got.Equal(time.Unix(100, 0).Add(time.Hour)) {
		t.Fatalf("now %v", got)
	}
	fired := make(chan struct{})
	c.AfterFunc(10*time.Second, func() { close(fired) })
	c.Jump(-time.Minute) // back: the timer is a minute further away
	base.Advance(10 * time.Second)
	select {
	case <-fired:
		t.Fatal("fired too early after a jump back")
	default:
	}
	c.Jump(2 * time.Minute)
	base.Advance(0)
	select {
	case <-fired:
	default:
		t.Fatal("jump forward past the deadline did not fire the timer")
	}
}

// The fault layer wraps any transport; on TCP the peer of a dialed
// connection is the dialed address.
func TestWrapTCP(t *testing.T) {
	ctx := context.Background()
	nw := NewNetwork(Config{Seed: 1})
	defer nw.Close()
	tcp := transport.NewTCP(transport.TCPConfig{})
	defer tcp.Close()
	tr := nw.Wrap("x", tcp)
	ln, err := tr.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	addr := ln.Addr().String()
	ca, err := tr.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb := <-accepted
	if cb == nil {
		t.Fatal("accept failed")
	}
	defer cb.Close()
	nw.SetFaults("x", addr, Faults{Drop: 1, WholeWrites: true})
	write(t, ca, "lost")
	nw.ClearFaults()
	write(t, ca, "kept")
	if got := readN(t, cb, 4); got != "kept" {
		t.Fatalf("read %q", got)
	}
}

package cluster

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/flood"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport"
)

// countingHandler counts the records logged at Info and above.
type countingHandler struct{ n *atomic.Int64 }

func (h countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h countingHandler) Handle(context.Context, slog.Record) error {
	h.n.Add(1)
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

// tcpMember is a member on real loopback TCP.
type tcpMember struct {
	rt *proc.Runtime
	nd *node.Node
	c  *Cluster
}

func startTCPMember(t *testing.T, name string, log *slog.Logger, seeds ...string) *tcpMember {
	t.Helper()
	rt, err := proc.New(proc.Config{Node: name, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	nd, err := node.Start(context.Background(), rt, node.Config{
		Name: name, Listen: "127.0.0.1:0", Cookie: cookie, Transport: transport.NewTCP(transport.TCPConfig{}),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig()
	cfg.Bind, cfg.Seeds, cfg.Logger, cfg.SecretKey = "127.0.0.1:0", seeds, log, KeyFromSecret(cookie)
	c, err := Start(context.Background(), nd, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := &tcpMember{rt, nd, c}
	t.Cleanup(func() {
		c.Close()
		nd.Close()
		rt.Close(context.Background())
	})
	return m
}

// goMemory returns the bytes of heap and stacks in use.
func goMemory() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// rss returns this process's resident set size, 0 if unknown.
func rss(pid int) uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// oldPacketHeader is the header a packet connection opened with before
// gossip was authenticated: accepted, it used to earn a 64 KiB reader and
// a goroutine without deadline.
func oldPacketHeader() []byte {
	from := "127.0.0.9:7946"
	b := append([]byte("grvg"), 1, kindPackets, 0, byte(len(from)))
	return append(b, from...)
}

// TestGossipPortFlood floods a member's gossip port over real TCP from a
// child process: 1,000 idle connections, 1,000 that send a packet header
// and then nothing, and 1,000 that keep sending junk, from 200 loopback
// addresses, each redialed as soon as it is closed. Meanwhile the member's
// goroutines and memory stay bounded, the junk is counted and logged at a
// bounded rate, and a legitimate member joins it.
// GROVE_FLOOD_CONNS sets the connections per kind (default 1000).
func TestGossipPortFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a port with thousands of connections")
	}
	perKind := 1000
	if v, err := strconv.Atoi(os.Getenv("GROVE_FLOOD_CONNS")); err == nil && v > 0 {
		perKind = v
	}
	var lines atomic.Int64
	victim := startTCPMember(t, "victim@127.0.0.1", slog.New(countingHandler{&lines}))
	runtime.GC()
	baseGo, baseMem, baseRSS := runtime.NumGoroutine(), goMemory(), rss(os.Getpid())

	var children []*flood.Child
	defer func() {
		for _, c := range children {
			c.Close()
		}
	}()
	sources := flood.Loopbacks(200)
	for _, cfg := range []flood.Config{
		{Mode: flood.Idle},
		{Mode: flood.Prefix, Prefix: oldPacketHeader()},
		{Mode: flood.Junk, Prefix: oldPacketHeader()},
	} {
		cfg.Addr, cfg.Conns, cfg.Sources = victim.c.GossipAddr(), perKind, sources
		c, err := flood.Spawn(cfg)
		if err != nil {
			t.Fatal(err)
		}
		children = append(children, c)
	}
	var peakGo int
	var peakMem, peakRSS uint64
	sample := func() {
		peakGo = max(peakGo, runtime.NumGoroutine())
		peakMem = max(peakMem, goMemory())
		peakRSS = max(peakRSS, rss(os.Getpid()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range children {
		for c.WaitDialed(ctx, int64(perKind)) != nil {
			sample()
			if ctx.Err() != nil {
				t.Fatal(c.WaitDialed(ctx, int64(perKind)))
			}
		}
	}
	sample()
	linesBefore := lines.Load()

	// A legitimate member joins during the flood.
	joinStart := time.Now()
	legit := startTCPMember(t, "legit@127.0.0.1", slog.New(slog.DiscardHandler), victim.c.GossipAddr())
	testutil.Eventually(t, 20*time.Second, func() error {
		sample()
		for _, m := range []*tcpMember{victim, legit} {
			if len(m.c.Reachable()) != 2 {
				return fmt.Errorf("%s reaches %v", m.c.Name(), m.c.Reachable())
			}
		}
		return nil
	})
	joined := time.Since(joinStart)
	// Keep flooding a little longer, sampling.
	for range 20 {
		sample()
		time.Sleep(100 * time.Millisecond)
	}
	floodLines := lines.Load() - linesBefore
	var dialed int64
	for _, c := range children {
		d, _, _, _, _ := c.Counts()
		dialed += d
	}
	st := victim.c.Stats()
	t.Logf("flood: %d connections dialed by the flooders; the member's goroutines %d → peak %d, Go heap+stacks %.1f → peak %.1f MiB, RSS %.1f → peak %.1f MiB; a legitimate member joined in %v; %d log lines during %v of flood",
		dialed, baseGo, peakGo, mib(baseMem), mib(peakMem), mib(baseRSS), mib(peakRSS), joined.Round(time.Millisecond), floodLines, (time.Since(joinStart)).Round(time.Millisecond))
	t.Logf("refused %d, timed out %d, hung up %d, over host cap %d, evicted %d, pending now %d",
		st.AuthRefused.Load(), st.AuthTimeouts.Load(), st.AuthHangups.Load(), st.ConnsRefused.Load(), st.ConnsEvicted.Load(), victim.c.gt.Pending())

	if extra := peakGo - baseGo; extra > DefaultLANConfig().MaxPendingConns+100 {
		t.Errorf("the member held %d goroutines more under the flood", extra)
	}
	if extra := int64(peakMem) - int64(baseMem); extra > 32<<20 {
		t.Errorf("the member's Go memory grew by %.1f MiB under the flood", mib(uint64(extra)))
	}
	if st.AuthRefused.Load() == 0 || st.ConnsEvicted.Load()+st.AuthTimeouts.Load()+st.AuthHangups.Load() == 0 {
		t.Errorf("junk and idle connections not counted: %+v", st)
	}
	if floodLines > 100 {
		t.Errorf("%d log lines during the flood", floodLines)
	}
	for _, c := range children {
		c.Close()
	}
	children = nil
	testutil.Eventually(t, 10*time.Second, func() error {
		if p := victim.c.gt.Pending(); p != 0 {
			return fmt.Errorf("%d connections still pending after the flood", p)
		}
		if g := runtime.NumGoroutine(); g > baseGo+50 {
			return fmt.Errorf("%d goroutines after the flood, %d before", g, baseGo)
		}
		return nil
	})
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

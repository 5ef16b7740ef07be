package node

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/node/certs"
	"github.com/grovedev/grove/transport"
)

// lineCounter is a slog handler that counts the lines written.
type lineCounter struct{ n atomic.Int64 }

func (c *lineCounter) Enabled(context.Context, slog.Level) bool  { return true }
func (c *lineCounter) Handle(context.Context, slog.Record) error { c.n.Add(1); return nil }
func (c *lineCounter) WithAttrs([]slog.Attr) slog.Handler        { return c }
func (c *lineCounter) WithGroup(string) slog.Handler             { return c }

// liveMem is the memory the Go runtime holds for live objects and stacks.
func liveMem() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse
}

// flood opens n connections to addr from sources 127.0.0.1 to 127.0.0.k
// and keeps them open: a third stay silent, a third send garbage, a third
// announce a handshake message and stall in its middle. It returns the
// connections, for the caller to close.
func flood(t *testing.T, addr string, n, k int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%k))}}
			c, err := d.Dial("tcp", addr)
			if err != nil {
				return // the listen backlog overflowed: the node did not have to pay for it
			}
			switch i % 3 {
			case 1:
				junk := make([]byte, 256)
				for j := range junk {
					junk[j] = byte(rand.N(256))
				}
				c.Write(junk)
			case 2:
				c.Write([]byte{0x01, 0xff, 1, 'G', 'R', 'V', 'H'}) // 511 bytes announced, 5 sent
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return conns
}

// TestPreAuthFloodIsBounded floods a node's listen port on real TCP with
// thousands of idle and junk connections: the goroutines and memory the
// node spends stay within the gate's fixed cost whatever the flood's size,
// refusals are counted by kind and logged at a bounded rate, and a node
// dialling from another address still connects during the flood.
//
// GROVE_FLOOD_CONNS sets the flood's size (default 3000).
func TestPreAuthFloodIsBounded(t *testing.T) {
	size := 3000
	if s, err := strconv.Atoi(os.Getenv("GROVE_FLOOD_CONNS")); err == nil && s > 0 {
		size = s
	}
	ca, err := certs.NewCA("grove test")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"cookie", "tls"} {
		t.Run(mode, func(t *testing.T) {
			var server, client func(*Config)
			if mode == "tls" {
				server, client = tlsFor(t, ca, "b@127.0.0.1"), tlsFor(t, ca, "a@127.0.0.1")
			}
			floodNode(t, size, server, client)
		})
	}
}

func floodNode(t *testing.T, size int, server, client func(*Config)) {
	lines := &lineCounter{}
	b := startNode(t, "b@127.0.0.1", tcp(), "127.0.0.1:0", func(c *Config) {
		if server != nil {
			server(c)
		}
		c.Logger = slog.New(lines)
		c.HandshakeTimeout = 3 * time.Second
	})
	runtime.GC()
	baseG := runtime.NumGoroutine()
	baseMem := liveMem()

	conns := flood(t, b.n.Addr(), size, 40)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if len(conns) < size/2 {
		t.Fatalf("only %d of %d flood connections opened", len(conns), size)
	}
	// The flood's own sockets live in this process too; what the node adds
	// on top is bounded by the gate: MaxPendingHandshakes goroutines.
	g := runtime.NumGoroutine() - baseG
	mem := liveMem()
	growth := int64(mem) - int64(baseMem)
	t.Logf("flood of %d connections: +%d goroutines, live memory %d → %d KiB (%+d KiB), node holds %d handshakes",
		len(conns), g, baseMem>>10, mem>>10, growth>>10, b.n.gate.Pending())
	if g > 256+64 {
		t.Fatalf("%d goroutines added by a flood of %d connections; the gate allows 256 handshakes", g, len(conns))
	}
	if growth > 24<<20 {
		t.Fatalf("live memory grew by %d MiB under the flood", growth>>20)
	}

	// A legitimate node dialling from another address gets in meanwhile.
	a := startNode(t, "a@127.0.0.1", transport.NewTCP(transport.TCPConfig{LocalAddr: "127.0.0.200"}), "", client)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.n.Connect(ctx, "b@127.0.0.1", b.n.Addr()); err != nil {
		testutil.Eventually(t, 10*time.Second, func() error {
			if len(a.n.Nodes()) == 0 {
				return fmt.Errorf("legitimate node not connected during the flood (first attempt: %v)", err)
			}
			return nil
		})
	}
	exchange(t, a, b)

	r := b.n.Stats().Refusals()
	if r["limit_total"] == 0 || r["garbage"]+r["timeout"]+r["evicted"] == 0 {
		t.Fatalf("refusals by kind: %v", r)
	}
	var total uint64
	for _, v := range r {
		total += v
	}
	if total != b.n.Stats().Refused.Load() {
		t.Fatalf("refusals by kind sum to %d, Refused is %d", total, b.n.Stats().Refused.Load())
	}
	if got := lines.n.Load(); got > 200 {
		t.Fatalf("%d log lines for %d refusals", got, total)
	}
	t.Logf("refusals %v; %d log lines", r, lines.n.Load())
}

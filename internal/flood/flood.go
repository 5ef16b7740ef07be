// Package flood opens many TCP connections to a server and holds them, as
// an attacker without credentials would, for tests of what such peers can
// make a server hold: connections that stay idle, that send a prefix and
// then nothing, or that keep sending junk. Connections closed by the
// server are dialed again, so the pressure lasts as long as the flood.
//
// A flood can run in the test's own process (Start) or, so that the
// flooder's goroutines and memory do not blur what the server holds, in a
// child process running the same test binary (Spawn, with RunIfChild
// called first thing in TestMain).
//
// # Usage
//
//	func TestMain(m *testing.M) { flood.RunIfChild(); os.Exit(m.Run()) }
//
//	f, err := flood.Spawn(flood.Config{Addr: addr, Conns: 3000, Mode: flood.Junk, Sources: flood.Loopbacks(200)})
//	defer f.Close()
//	f.WaitOpen(ctx, 1000) // at least 1000 connections attempted
package flood

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mode says what each connection sends.
type Mode string

const (
	// Idle connections send nothing.
	Idle Mode = "idle"
	// Prefix connections send Config.Prefix once and then nothing.
	Prefix Mode = "prefix"
	// Junk connections send Config.Prefix, then random bytes, 1 KiB every
	// Config.Every, until the server closes them.
	Junk Mode = "junk"
)

// Config describes a flood.
type Config struct {
	Addr   string // host:port to flood
	Conns  int    // connections kept open at once (each redialed when closed)
	Mode   Mode
	Prefix []byte // for Prefix and Junk
	// Every is the pause between junk writes. Default 10 ms.
	Every time.Duration
	// Sources are the local addresses to dial from, in turn (see
	// Loopbacks). Default the system's choice.
	Sources []string
	// Redial is the pause before a connection the server closed is dialed
	// again. Default 20 ms.
	Redial time.Duration
}

// Loopbacks returns n loopback addresses, 127.0.1.1 and up, to dial from:
// on Linux every address of 127.0.0.0/8 is the loopback interface, so a
// flood from them looks like one from n hosts, and a legitimate peer
// dialing from 127.0.0.1 is not one of them.
func Loopbacks(n int) []string {
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250))
	}
	return out
}

// Stats counts the flood's connections.
type Stats struct {
	Dialed   atomic.Int64 // connections established
	Failed   atomic.Int64 // dials that failed
	Closed   atomic.Int64 // connections the server closed
	Open     atomic.Int64 // connections open now
	BytesOut atomic.Int64
}

// Flood is a flood in progress in this process.
type Flood struct {
	cfg    Config
	stats  Stats
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start starts a flood in this process.
func Start(cfg Config) *Flood {
	if cfg.Every <= 0 {
		cfg.Every = 10 * time.Millisecond
	}
	if cfg.Redial <= 0 {
		cfg.Redial = 20 * time.Millisecond
	}
	f := &Flood{cfg: cfg}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	for i := range cfg.Conns {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.hold(i)
		}()
	}
	return f
}

// Stats returns the flood's counters.
func (f *Flood) Stats() *Stats { return &f.stats }

// Close stops the flood, closes its connections and waits.
func (f *Flood) Close() {
	f.cancel()
	f.wg.Wait()
}

func (f *Flood) hold(i int) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if len(f.cfg.Sources) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(f.cfg.Sources[i%len(f.cfg.Sources)])}
	}
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	junk := make([]byte, 1024)
	// Spread the first dials over a moment, as clients arrive.
	if !f.sleep(time.Duration(rng.Int64N(int64(time.Second)))) {
		return
	}
	for f.ctx.Err() == nil {
		conn, err := d.DialContext(f.ctx, "tcp", f.cfg.Addr)
		if err != nil {
			f.stats.Failed.Add(1)
			if !f.sleep(f.cfg.Redial) {
				return
			}
			continue
		}
		f.stats.Dialed.Add(1)
		f.stats.Open.Add(1)
		stop := context.AfterFunc(f.ctx, func() { conn.Close() })
		f.use(conn, rng, junk)
		stop()
		conn.Close()
		f.stats.Open.Add(-1)
		if f.ctx.Err() != nil {
			return
		}
		f.stats.Closed.Add(1)
		if !f.sleep(f.cfg.Redial) {
			return
		}
	}
}

// use sends what the mode says and returns when the server closed conn.
func (f *Flood) use(conn net.Conn, rng *rand.Rand, junk []byte) {
	if f.cfg.Mode != Idle && len(f.cfg.Prefix) > 0 {
		n, err := conn.Write(f.cfg.Prefix)
		f.stats.BytesOut.Add(int64(n))
		if err != nil {
			return
		}
	}
	if f.cfg.Mode != Junk {
		io.Copy(io.Discard, conn) // until the server closes it
		return
	}
	var reader sync.WaitGroup
	reader.Go(func() { io.Copy(io.Discard, conn) })
	defer reader.Wait()
	defer conn.Close()
	for f.ctx.Err() == nil {
		for i := range junk {
			junk[i] = byte(rng.Uint32())
		}
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := conn.Write(junk)
		f.stats.BytesOut.Add(int64(n))
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		if !f.sleep(f.cfg.Every) {
			return
		}
	}
}

func (f *Flood) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-f.ctx.Done():
		return false
	}
}

const childEnv = "GROVE_FLOOD_CHILD"

// RunIfChild runs the flood a parent asked for with Spawn, and exits, when
// this process is such a child; otherwise it returns at once. Call it
// first thing in TestMain.
func RunIfChild() {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return
	}
	var cfg Config
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(2)
	}
	f := Start(cfg)
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin) // the parent closes it to stop us
		close(done)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	for {
		s := f.Stats()
		fmt.Printf("%d %d %d %d %d\n", s.Dialed.Load(), s.Failed.Load(), s.Closed.Load(), s.Open.Load(), s.BytesOut.Load())
		select {
		case <-done:
			f.Close()
			os.Exit(0)
		case <-tick.C:
		}
	}
}

// Child is a flood running in a child process.
type Child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}

	mu   sync.Mutex
	last [5]int64
}

// Spawn runs a flood in a child process: the running test binary, whose
// TestMain calls RunIfChild.
func Spawn(cfg Config) (*Child, error) {
	spec, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &Child{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var v [5]int64
			for i, f := range strings.Fields(sc.Text()) {
				if i < len(v) {
					v[i], _ = strconv.ParseInt(f, 10, 64)
				}
			}
			c.mu.Lock()
			c.last = v
			c.mu.Unlock()
		}
		cmd.Wait()
	}()
	return c, nil
}

// Counts returns the child's latest counts: connections dialed, dials
// failed, connections closed by the server, connections open, bytes sent.
func (c *Child) Counts() (dialed, failed, closed, open, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[0], c.last[1], c.last[2], c.last[3], c.last[4]
}

// WaitDialed waits until the child has established at least n connections
// in all, or ctx is done.
func (c *Child) WaitDialed(ctx context.Context, n int64) error {
	for {
		if d, _, _, _, _ := c.Counts(); d >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			d, f, cl, o, _ := c.Counts()
			return fmt.Errorf("flood: %d connections dialed (want %d), %d failed, %d closed, %d open: %w", d, n, f, cl, o, ctx.Err())
		case <-c.done:
			return errors.New("flood: child exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close stops the child and waits for it.
func (c *Child) Close() {
	c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

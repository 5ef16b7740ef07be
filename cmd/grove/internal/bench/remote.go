package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
)

// Node names of the two sides of the remote benchmarks.
const (
	DriverNode = "bench-a@127.0.0.1"
	PeerNode   = "bench-b@127.0.0.1"
)

// expect tells the peer's sink how many messages to count before it
// reports to Done.
type expect struct {
	N    int
	Done proc.PID
}

// newCodec returns the registry both sides use.
func newCodec() (*codec.Registry, error) {
	r, err := codec.NewRegistry(codec.Config{})
	if err != nil {
		return nil, err
	}
	if err := codec.Register[expect](r, "grove.bench.expect"); err != nil {
		return nil, err
	}
	return r, nil
}

// LinkSecurity chooses how the benchmark's nodes authenticate.
type LinkSecurity struct {
	Cookie []byte
	TLSDir string // with ca.pem, <node>.pem and <node>-key.pem; empty for no TLS
	// Unencrypted turns off cookie-mode encryption, to measure its cost.
	Unencrypted bool
}

func (s LinkSecurity) apply(cfg *node.Config) error {
	cfg.Cookie = s.Cookie
	cfg.Unencrypted = s.Unencrypted
	if s.TLSDir == "" {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(s.TLSDir, cfg.Name+".pem"), filepath.Join(s.TLSDir, cfg.Name+"-key.pem"))
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(filepath.Join(s.TLSDir, "ca.pem"))
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return errors.New("bench: no CA certificate in ca.pem")
	}
	cfg.TLS = &node.TLSConfig{Certificate: cert, Roots: roots}
	return nil
}

// startNode starts a runtime and node listening on loopback.
func startNode(ctx context.Context, name string, sec LinkSecurity) (*proc.Runtime, *node.Node, error) {
	rt, err := proc.New(proc.Config{Node: name, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, nil, err
	}
	reg, err := newCodec()
	if err != nil {
		return nil, nil, err
	}
	cfg := node.Config{Name: name, Listen: "127.0.0.1:0", Codec: reg, Logger: slog.New(slog.DiscardHandler)}
	if err := sec.apply(&cfg); err != nil {
		return nil, nil, err
	}
	n, err := node.Start(ctx, rt, cfg)
	if err != nil {
		rt.Close(ctx)
		return nil, nil, err
	}
	return rt, n, nil
}

// sink counts the messages it gets and reports when it has the number it
// was told to expect.
type sink struct {
	proc.Base
	want, got int
	done      proc.PID
}

func (s *sink) HandleCall(_ *proc.Process, _ proc.From, req any) (any, error) {
	e, ok := req.(expect)
	if !ok {
		return nil, proc.ErrUnhandled
	}
	s.want, s.got, s.done = e.N, 0, e.Done
	return nil, nil
}

func (s *sink) HandleInfo(p *proc.Process, _ any) {
	s.got++
	if s.got == s.want {
		_ = p.Send(s.done, s.got)
	}
}

// RunPeer runs the peer side of the remote benchmarks until ctx ends: a
// node with a "sink" and an "echo" process. ready is told the address to
// dial.
func RunPeer(ctx context.Context, sec LinkSecurity, ready func(addr string)) error {
	rt, n, err := startNode(ctx, PeerNode, sec)
	if err != nil {
		return err
	}
	defer closeRuntime(rt)
	defer n.Close()
	if _, err := rt.Spawn(&sink{}, proc.WithName("sink")); err != nil {
		return err
	}
	if _, err := rt.Spawn(echoServer{}, proc.WithName("echo")); err != nil {
		return err
	}
	err = n.Register("whereis", func(_ context.Context, arg any) (any, error) {
		name, _ := arg.(string)
		if pid, ok := rt.WhereIs(name); ok {
			return pid, nil
		}
		return nil, fmt.Errorf("%w: %q", proc.ErrNotRegistered, name)
	})
	if err != nil {
		return err
	}
	ready(n.Addr())
	<-ctx.Done()
	return nil
}

// RemoteConfig sizes the remote benchmarks.
type RemoteConfig struct {
	SmallMessages int // default 2,000,000
	KiBMessages   int // 1 KiB messages; default 500,000
	BigMessages   int // 64 KiB messages; default 4,000
	RoundTrips    int // default 20,000
	// CPUProfile, if set, is the prefix of CPU profiles of both processes
	// of the unencrypted run.
	CPUProfile string
}

func (c RemoteConfig) withDefaults() RemoteConfig {
	if c.SmallMessages <= 0 {
		c.SmallMessages = 2_000_000
	}
	if c.KiBMessages <= 0 {
		c.KiBMessages = 500_000
	}
	if c.BigMessages <= 0 {
		c.BigMessages = 4_000
	}
	if c.RoundTrips <= 0 {
		c.RoundTrips = 20_000
	}
	return c
}

// StreamResult is what one connection to a peer measured.
type StreamResult struct {
	SmallMPS   float64
	KiBMiBps   float64
	BigMiBps   float64
	RTTP50us   float64
	RTTP99us   float64
	SmallBytes int // encoded size of the small message on the wire, header included
}

// Drive connects to the peer at addr and measures the streams and the round
// trip. With smallOnly it measures the small stream alone.
func Drive(ctx context.Context, addr string, sec LinkSecurity, cfg RemoteConfig, smallOnly bool, progress func(string)) (StreamResult, error) {
	cfg = cfg.withDefaults()
	var res StreamResult
	rt, n, err := startNode(ctx, DriverNode, sec)
	if err != nil {
		return res, err
	}
	defer closeRuntime(rt)
	defer n.Close()
	if err := n.Connect(ctx, PeerNode, addr); err != nil {
		return res, err
	}
	sinkName := proc.NodeName{Node: PeerNode, Name: "sink"}
	sinkAt, err := whereIs(ctx, n, sinkName)
	if err != nil {
		return res, err
	}

	stream := func(count int, msg any) (time.Duration, error) {
		done := make(chan struct{})
		waiter, err := rt.Spawn(proc.HandlerFunc(func(*proc.Process, any) { close(done) }))
		if err != nil {
			return 0, err
		}
		defer rt.Exit(waiter, proc.ErrKill)
		if _, err := rt.CallTo(ctx, sinkName, expect{N: count, Done: waiter}); err != nil {
			return 0, err
		}
		fail := make(chan error, 1)
		sender, err := rt.Spawn(proc.HandlerFunc(func(p *proc.Process, _ any) {
			for range count {
				if err := p.Send(sinkAt, msg); err != nil {
					fail <- err
					return
				}
			}
		}))
		if err != nil {
			return 0, err
		}
		defer rt.Exit(sender, proc.ErrKill)
		start := time.Now()
		if err := rt.Send(sender, "go"); err != nil {
			return 0, err
		}
		select {
		case <-done:
			return time.Since(start), nil
		case err := <-fail:
			return 0, err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	progress("remote stream of small messages")
	el, err := stream(cfg.SmallMessages, 42)
	if err != nil {
		return res, err
	}
	res.SmallMPS = float64(cfg.SmallMessages) / el.Seconds()
	if smallOnly {
		return res, nil
	}
	progress("remote stream of 1 KiB messages")
	if el, err = stream(cfg.KiBMessages, make([]byte, 1024)); err != nil {
		return res, err
	}
	res.KiBMiBps = float64(cfg.KiBMessages) * 1024 / (1 << 20) / el.Seconds()
	progress("remote stream of 64 KiB messages")
	if el, err = stream(cfg.BigMessages, make([]byte, 64<<10)); err != nil {
		return res, err
	}
	res.BigMiBps = float64(cfg.BigMessages) * 64 / 1024 / el.Seconds()

	progress("remote round trips")
	echo, err := whereIs(ctx, n, proc.NodeName{Node: PeerNode, Name: "echo"})
	if err != nil {
		return res, err
	}
	lat := make([]time.Duration, cfg.RoundTrips)
	for i := range lat {
		start := time.Now()
		if _, err := rt.Call(ctx, echo, i); err != nil {
			return res, err
		}
		lat[i] = time.Since(start)
	}
	slices.Sort(lat)
	res.RTTP50us = float64(lat[len(lat)/2]) / 1e3
	res.RTTP99us = float64(lat[len(lat)*99/100]) / 1e3
	return res, nil
}

// whereIs asks the peer for the PID of a registered name, so the streams
// send to a PID as real code would after its first lookup.
func whereIs(ctx context.Context, n *node.Node, name proc.NodeName) (proc.PID, error) {
	v, err := n.RPC(ctx, name.Node, "whereis", name.Name)
	if err != nil {
		return proc.PID{}, fmt.Errorf("bench: whereis %v: %w", name, err)
	}
	pid, ok := v.(proc.PID)
	if !ok {
		return proc.PID{}, fmt.Errorf("bench: whereis %v answered %T", name, v)
	}
	return pid, nil
}

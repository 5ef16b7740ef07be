package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/proc"
)

// LocalConfig sizes the local benchmarks. Zero fields take the defaults.
type LocalConfig struct {
	PingPongRounds int // round trips for B1; default 2,000,000
	StreamMessages int // messages per sender for B2; default 10,000,000 (1→1)
	StreamPairs    int // sender/receiver pairs for N→N; default 8
	Processes      int // idle processes for B3; default 1,000,000
	Calls          int // calls for B4; default 200,000
}

func (c LocalConfig) withDefaults() LocalConfig {
	if c.PingPongRounds <= 0 {
		c.PingPongRounds = 2_000_000
	}
	if c.StreamMessages <= 0 {
		c.StreamMessages = 10_000_000
	}
	if c.StreamPairs <= 0 {
		c.StreamPairs = 8
	}
	if c.Processes <= 0 {
		c.Processes = 1_000_000
	}
	if c.Calls <= 0 {
		c.Calls = 200_000
	}
	return c
}

// LocalResult holds the figures of `grove bench local`. JSON names are part
// of the command's output contract.
type LocalResult struct {
	PingPongRTPS     float64 `json:"pingpong_rtps"`      // B1: round trips/s between two processes
	ChanPingPongRTPS float64 `json:"chan_pingpong_rtps"` // baseline: two goroutines over unbuffered channels
	PingPongRatio    float64 `json:"pingpong_vs_chan"`   // PingPongRTPS / ChanPingPongRTPS
	Stream1to1MPS    float64 `json:"stream_1to1_mps"`    // B2: one sender, one receiver, msg/s
	StreamNtoNMPS    float64 `json:"stream_nton_mps"`    // B2: N pairs, msg/s in all
	StreamPairs      int     `json:"stream_pairs"`
	SpawnPerS        float64 `json:"spawn_per_s"`       // B3: idle GenServers spawned per second
	BytesPerProcess  float64 `json:"bytes_per_process"` // B3: memory per idle GenServer after GC
	Processes        int     `json:"processes"`
	CallP50Ns        float64 `json:"call_p50_ns"` // B4: call latency
	CallP99Ns        float64 `json:"call_p99_ns"`
	GOMAXPROCS       int     `json:"gomaxprocs"`
	GoVersion        string  `json:"go_version"`
}

// Local runs the local benchmarks (B1–B4). progress, if not nil, is told
// which step runs.
func Local(ctx context.Context, cfg LocalConfig, progress func(step string)) (LocalResult, error) {
	cfg = cfg.withDefaults()
	if progress == nil {
		progress = func(string) {}
	}
	res := LocalResult{GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), StreamPairs: cfg.StreamPairs, Processes: cfg.Processes}
	var err error
	steps := []struct {
		name string
		run  func() error
	}{
		{"channel ping-pong (baseline)", func() error { res.ChanPingPongRTPS = chanPingPong(cfg.PingPongRounds); return nil }},
		{"process ping-pong (B1)", func() error { res.PingPongRTPS, err = pingPong(ctx, cfg.PingPongRounds); return err }},
		{"stream 1→1 (B2)", func() error { res.Stream1to1MPS, err = stream(ctx, 1, cfg.StreamMessages); return err }},
		{fmt.Sprintf("stream %d→%d (B2)", cfg.StreamPairs, cfg.StreamPairs), func() error {
			res.StreamNtoNMPS, err = stream(ctx, cfg.StreamPairs, cfg.StreamMessages/cfg.StreamPairs)
			return err
		}},
		{"call latency (B4)", func() error { res.CallP50Ns, res.CallP99Ns, err = callLatency(ctx, cfg.Calls); return err }},
		{fmt.Sprintf("spawn %d idle processes (B3)", cfg.Processes), func() error {
			res.SpawnPerS, res.BytesPerProcess, err = spawnIdle(ctx, cfg.Processes)
			return err
		}},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		progress(s.name)
		if err := s.run(); err != nil {
			return res, fmt.Errorf("bench: %s: %w", s.name, err)
		}
	}
	if res.ChanPingPongRTPS > 0 {
		res.PingPongRatio = res.PingPongRTPS / res.ChanPingPongRTPS
	}
	return res, nil
}

func newRuntime() (*proc.Runtime, error) { return proc.New(proc.Config{Node: "bench@localhost"}) }

func closeRuntime(rt *proc.Runtime) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = rt.Close(ctx)
}

// chanPingPong is the baseline for B1: two goroutines bouncing a value over
// unbuffered channels.
func chanPingPong(rounds int) float64 {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	start := time.Now()
	for i := range rounds {
		ping <- i
		<-pong
	}
	el := time.Since(start)
	close(ping)
	return float64(rounds) / el.Seconds()
}

// ball is the message of the ping-pong: one pointer bounced between two
// processes, so that the figure measures messaging, not allocation.
type ball struct{ hits int }

func pingPong(ctx context.Context, rounds int) (float64, error) {
	rt, err := newRuntime()
	if err != nil {
		return 0, err
	}
	defer closeRuntime(rt)
	done := make(chan struct{})
	var a proc.PID
	b, err := rt.Spawn(proc.HandlerFunc(func(p *proc.Process, msg any) { _ = p.Send(a, msg) }))
	if err != nil {
		return 0, err
	}
	a, err = rt.Spawn(proc.HandlerFunc(func(p *proc.Process, msg any) {
		m := msg.(*ball)
		if m.hits == rounds {
			close(done)
			return
		}
		m.hits++
		_ = p.Send(b, m)
	}))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := rt.Send(a, &ball{}); err != nil {
		return 0, err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return float64(rounds) / time.Since(start).Seconds(), nil
}

// stream measures pairs senders each sending n messages to its own
// receiver; it returns messages per second in all.
func stream(ctx context.Context, pairs, n int) (float64, error) {
	rt, err := newRuntime()
	if err != nil {
		return 0, err
	}
	defer closeRuntime(rt)
	var wg sync.WaitGroup
	var failed atomic.Value
	senders := make([]proc.PID, pairs)
	for i := range pairs {
		got := 0
		wg.Add(1)
		sink, err := rt.Spawn(proc.HandlerFunc(func(*proc.Process, any) {
			got++
			if got == n {
				wg.Done()
			}
		}))
		if err != nil {
			return 0, err
		}
		senders[i], err = rt.Spawn(proc.HandlerFunc(func(p *proc.Process, msg any) {
			m := msg // the same boxed value each time: no allocation per message
			for range n {
				if err := p.Send(sink, m); err != nil {
					failed.Store(err)
					return
				}
			}
		}))
		if err != nil {
			return 0, err
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	start := time.Now()
	for _, s := range senders {
		if err := rt.Send(s, struct{}{}); err != nil {
			return 0, err
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	el := time.Since(start)
	if err, ok := failed.Load().(error); ok {
		return 0, err
	}
	return float64(pairs*n) / el.Seconds(), nil
}

// echoServer answers every call with the request.
type echoServer struct{ proc.Base }

func (echoServer) HandleCall(_ *proc.Process, _ proc.From, req any) (any, error) { return req, nil }

func callLatency(ctx context.Context, calls int) (p50, p99 float64, err error) {
	rt, err := newRuntime()
	if err != nil {
		return 0, 0, err
	}
	defer closeRuntime(rt)
	srv, err := rt.Spawn(echoServer{})
	if err != nil {
		return 0, 0, err
	}
	lat := make([]time.Duration, calls)
	req := any(1)
	for i := range calls {
		start := time.Now()
		if _, err := rt.Call(ctx, srv, req); err != nil {
			return 0, 0, err
		}
		lat[i] = time.Since(start)
	}
	slices.Sort(lat)
	return float64(lat[calls/2]), float64(lat[calls*99/100]), nil
}

// idleServer is the idle GenServer of B3: a behaviour with a little state.
type idleServer struct {
	proc.Base
	n int
}

func (s *idleServer) HandleCast(_ *proc.Process, _ any) { s.n++ }

func spawnIdle(ctx context.Context, n int) (perSec, bytesPer float64, err error) {
	rt, err := newRuntime()
	if err != nil {
		return 0, 0, err
	}
	defer closeRuntime(rt)
	before := memInUse()
	start := time.Now()
	for i := range n {
		if i%65536 == 0 && ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		if _, err := rt.Spawn(&idleServer{}); err != nil {
			return 0, 0, err
		}
	}
	el := time.Since(start)
	after := memInUse()
	if got := rt.NumProcesses(); got != n {
		return 0, 0, fmt.Errorf("%d processes alive, want %d", got, n)
	}
	return float64(n) / el.Seconds(), float64(after-before) / float64(n), nil
}

// memInUse returns heap and stack bytes in use after a full collection.
func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

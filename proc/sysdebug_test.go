package proc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// echoer answers calls with their request, records its infos and casts,
// and sends what it is told to.
type echoer struct {
	Base
	got []any
}

type sendTo struct {
	to  PID
	msg any
}

func (e *echoer) HandleCall(_ *Process, _ From, req any) (any, error) { return req, nil }
func (e *echoer) HandleCast(_ *Process, msg any)                      { e.got = append(e.got, msg) }
func (e *echoer) HandleInfo(p *Process, msg any) {
	if s, ok := msg.(sendTo); ok {
		p.Send(s.to, s.msg)
		return
	}
	e.got = append(e.got, msg)
}
func (e *echoer) Inspect() any { return append([]any(nil), e.got...) }

func TestStatistics(t *testing.T) {
	rt := newRuntime(t)
	ctx := context.Background()
	pid := mustSpawn(t, rt, &echoer{})
	sink := mustSpawn(t, rt, newInbox())
	if _, err := rt.Statistics(ctx, pid); !errors.Is(err, ErrNoStatistics) {
		t.Fatalf("statistics before they are on: %v", err)
	}
	if err := rt.SetStatistics(ctx, pid, true); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		rt.Send(pid, i)
	}
	rt.Cast(pid, "cast")
	rt.Send(pid, sendTo{sink, "out"})
	for range 2 {
		rt.Call(ctx, pid, "call")
	}
	st, err := rt.Statistics(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.MessagesIn != 7 || st.CallsIn != 2 || st.MessagesOut != 1 || st.Since.IsZero() {
		t.Fatalf("statistics %+v, want 7 in (2 calls), 1 out", st)
	}
	if err := rt.SetStatistics(ctx, pid, false); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Statistics(ctx, pid); !errors.Is(err, ErrNoStatistics) {
		t.Fatalf("statistics once off: %v", err)
	}
	if rt.table.get(pid).dbg.Load() != nil {
		t.Fatal("debug state kept with statistics and trace off")
	}
}

func TestTraceKeepsTheLastEvents(t *testing.T) {
	rt := newRuntime(t)
	ctx := context.Background()
	pid := mustSpawn(t, rt, &echoer{})
	sink := mustSpawn(t, rt, newInbox())
	if _, err := rt.TraceLog(ctx, pid); !errors.Is(err, ErrNoTrace) {
		t.Fatalf("trace before it is on: %v", err)
	}
	if err := rt.Trace(ctx, pid, MaxTraceEvents+1); err == nil {
		t.Fatal("a trace longer than MaxTraceEvents accepted")
	}
	if err := rt.Trace(ctx, pid, 3); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		rt.Send(pid, i)
	}
	rt.Send(pid, sendTo{sink, "hello"})
	caller := mustSpawn(t, rt, HandlerFunc(func(p *Process, _ any) { p.Call(context.Background(), pid, strings.Repeat("x", 1000)) }))
	rt.Send(caller, "go")
	var evs []TraceEvent
	eventually(t, func() error {
		var err error
		if evs, err = rt.TraceLog(ctx, pid); err != nil || len(evs) != 3 || evs[2].Kind != "call" {
			return fmt.Errorf("trace %v %v", evs, err)
		}
		return nil
	})
	want := []struct{ dir, kind, peer, msg string }{
		{"in", "info", "", fmt.Sprint(sendTo{sink, "hello"})},
		{"out", "info", sink.String(), "hello"},
		{"in", "call", caller.String(), strings.Repeat("x", 256)},
	}
	for i, w := range want {
		e := evs[i]
		if e.Dir != w.dir || e.Kind != w.kind || e.Peer != w.peer || e.Msg != w.msg || e.At.IsZero() {
			t.Fatalf("event %d: %+v, want %+v", i, e, w)
		}
	}
	if err := rt.Trace(ctx, pid, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.TraceLog(ctx, pid); !errors.Is(err, ErrNoTrace) {
		t.Fatalf("trace once off: %v", err)
	}
}

// A suspended process answers system requests only; its messages and
// calls wait, in order, until it is resumed, also when the suspension came
// in the middle of a batch.
func TestSuspendAndResume(t *testing.T) {
	rt := newRuntime(t)
	ctx := context.Background()
	g := &gate{entered: make(chan struct{}, 16), open: make(chan struct{})}
	pid := mustSpawn(t, rt, g)
	// Hold the process in a callback with messages queued behind, then
	// suspend it: the rest of the batch waits.
	rt.Send(pid, "hold")
	<-g.entered
	for i := range 3 {
		rt.Send(pid, i)
	}
	suspended := make(chan error, 1)
	go func() { suspended <- rt.Suspend(ctx, pid) }()
	eventually(t, func() error {
		if sysLen(rt, pid) != 1 {
			return fmt.Errorf("suspend not queued")
		}
		return nil
	})
	close(g.open)
	if err := <-suspended; err != nil {
		t.Fatal(err)
	}
	rt.Send(pid, 3)
	if v, err := rt.Inspect(ctx, pid); err != nil || v != "state" {
		t.Fatalf("inspect of a suspended process: %v %v", v, err)
	}
	if len(g.entered) != 0 {
		t.Fatalf("a suspended process handled %d messages", len(g.entered))
	}
	if err := rt.Resume(ctx, pid); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		within(t, g.entered, "message after resume")
	}
	// Suspended, then killed: its held calls fail at once.
	h := newHolder()
	hp := mustSpawn(t, rt, h)
	h.letGo(t)
	if err := rt.Suspend(ctx, hp); err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := rt.Call(WithoutTimeout(ctx), hp, "held")
		res <- err
	}()
	eventually(t, func() error {
		if in, _ := rt.Info(hp); in.MailboxLen != 1 {
			return fmt.Errorf("call not queued: %d", in.MailboxLen)
		}
		return nil
	})
	rt.Exit(hp, ErrKill)
	if err := within(t, res, "call to a killed suspended process"); !errors.As(err, new(*ExitError)) {
		t.Fatalf("call = %v", err)
	}
}

// The exit signal of its parent still ends a suspended child that traps
// exits, as in OTP's sys loop.
func TestParentExitEndsASuspendedChild(t *testing.T) {
	rt := newRuntime(t)
	c := &trapChild{log: make(chan any, 16)}
	res := make(chan PID, 1)
	parent := mustSpawn(t, rt, HandlerFunc(func(p *Process, msg any) {
		switch msg {
		case "spawn":
			pid, _ := p.Spawn(c, WithLink())
			res <- pid
		case "exit":
			p.Exit(<-res, ErrShutdown)
		}
	}))
	rt.Send(parent, "spawn")
	child := within(t, res, "spawn")
	if err := rt.Suspend(context.Background(), child); err != nil {
		t.Fatal(err)
	}
	wait := watchExit(t, rt, child)
	res <- child
	rt.Send(parent, "exit")
	if r := wait(); r != ErrShutdown {
		t.Fatalf("suspended child exited with %v", r)
	}
}

func TestReplaceState(t *testing.T) {
	rt := newRuntime(t)
	ctx := context.Background()
	pid := mustSpawn(t, rt, &counter{n: 1})
	err := rt.ReplaceState(ctx, pid, func(b Behavior) (Behavior, error) { return &counter{n: 41}, nil })
	if err != nil {
		t.Fatal(err)
	}
	rt.Cast(pid, incr{1})
	if n, _ := Call[int](ctx, rt, pid, get{}); n != 42 {
		t.Fatalf("after replacing the state: %d", n)
	}
	if err := rt.ReplaceState(ctx, pid, func(Behavior) (Behavior, error) { return nil, errBoom }); !errors.Is(err, errBoom) {
		t.Fatalf("failing replace: %v", err)
	}
	if err := rt.ReplaceState(ctx, pid, func(Behavior) (Behavior, error) { panic("bad state fun") }); !errors.As(err, new(*CrashError)) {
		t.Fatalf("panicking replace: %v", err)
	}
	if n, _ := Call[int](ctx, rt, pid, get{}); n != 42 {
		t.Fatalf("after failed replacements: %d", n)
	}
}

// A label and log attributes ride on the process's Info and log lines,
// its crash report among them.
func TestLabelAndLogAttrs(t *testing.T) {
	var logs records
	rt := newRuntimeWith(t, Config{Logger: slog.New(&logs)})
	pid := mustSpawn(t, rt, HandlerFunc(func(p *Process, msg any) {
		switch msg {
		case "label":
			p.SetLabel("worker:7")
			p.SetLogAttrs(slog.String("tenant", "acme"))
			p.Logger().Info("ready")
		case "crash":
			panic("oops")
		}
	}))
	rt.Send(pid, "label")
	eventually(t, func() error {
		if in, _ := rt.Info(pid); in.Label != "worker:7" {
			return fmt.Errorf("label %q", in.Label)
		}
		return nil
	})
	wait := watchExit(t, rt, pid)
	rt.Send(pid, "crash")
	wait()
	for _, msg := range []string{"ready", "process crashed"} {
		lines := logs.find(msg)
		if len(lines) != 1 || !strings.Contains(lines[0], "pid="+pid.String()) ||
			!strings.Contains(lines[0], "label=worker:7") || !strings.Contains(lines[0], "tenant=acme") {
			t.Fatalf("%q logged as %q", msg, lines)
		}
	}
}
